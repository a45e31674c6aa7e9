// Package layoutfuzz holds the fuzz targets of package layout and layout/keymap: the
// next-key-inside-the-box step against brute force, the wildcard layout against the reference
// layout on fuzzed write/read sequences, the retention class matcher (StreamsWithin,
// StreamsOverlapping, SpanBefore) against brute force, options decoding and cooked-batch
// decoding. Plain `go test` runs the committed seed corpus; `make fuzz` runs each target with
// -fuzz.
package layoutfuzz
