// Package lint has no code of its own: its test reads every Go file of the module and fails,
// with the file:line of each hit, where the sources break one of the project's written rules
// (style.md §15: turn style rules into checks). It runs in `make test` with everything else,
// so a rule is kept by every change rather than by review.
//
// Each rule is one entry of the rules table in lint_test.go, with the reason it exists. A rule
// that has exceptions names each one in an allowlist next to it, with its own reason; an
// exception is a file and function, never a whole package, unless the package as a whole is
// what the exception is about.
//
// What it is not: a replacement for go vet (which `make test` runs first) or for gofmt's own
// diagnostics. It parses files with go/parser and matches syntax, without type checking: a
// call is recognised by the import path its package name refers to in that file, which is
// enough for the patterns it bans.
package lint
