// Package topicfuzz holds the fuzz targets of package mqtt/topic: validation never panics and accepts
// only what the rules allow, and Match agrees with a naive split-and-compare matcher. Plain `go test`
// runs the committed seed corpus; `make fuzz` runs each target with -fuzz.
package topicfuzz
