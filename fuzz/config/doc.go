// Package configfuzz holds the fuzz target of package server/config: parsing any bytes never panics,
// and every configuration the parser accepts prints (WriteAnnotated) to a file that parses back to the
// same configuration. Plain `go test` runs the committed seed corpus; `make fuzz` runs it with -fuzz.
package configfuzz
