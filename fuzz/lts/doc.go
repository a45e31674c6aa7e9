// Package ltsfuzz holds the fuzz targets of package lts: learning and matching against the
// naive MQTT matcher of ltstest, and decoding persisted ops. Plain `go test` runs the committed
// seed corpus; `make fuzz` runs each target with -fuzz.
package ltsfuzz
