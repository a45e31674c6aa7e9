// Package dsfuzz holds the fuzz targets of package ds: stored iterators and streams from untrusted
// bytes, topic filters, and messages with arbitrary fields round-tripping through a store.
// Plain `go test` runs the committed seed corpus; `make fuzz` explores.
package dsfuzz
