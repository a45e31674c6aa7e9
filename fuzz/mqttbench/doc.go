// Package mqttbenchfuzz holds the fuzz targets of package benchmarks/mqttbench: the sequence
// tracker agrees with a plain set on every arrival order (in order, reordered, duplicate, and the
// loss counts), and the payload header decoder never panics and re-encodes what it accepts to the
// same bytes. Plain `go test` runs the committed seed corpus; `make fuzz` runs each target with
// -fuzz.
package mqttbenchfuzz
