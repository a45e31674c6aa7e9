// Package peeringfuzz holds the fuzz targets of server/peering: the decoders of what one
// broker of a cluster sends another (route updates and message batches). Plain `go test` runs
// the committed seed corpus; `make fuzz` runs each target with -fuzz.
package peeringfuzz
