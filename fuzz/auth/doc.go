// Package authfuzz holds the fuzz targets of package server/auth: the ACL parser never panics and every
// rule it accepts prints back to a line that parses to the same rule, and the subscription checks are
// sound against topic.Match (a subscription an allow rule lets through only receives topics the rule
// matches; a subscription sharing a topic with a deny rule is refused). Plain `go test` runs the
// committed seed corpus; `make fuzz` runs each target with -fuzz.
package authfuzz
