// Package replicationfuzz holds the fuzz targets of the replication packages: the transport's
// frame decoder, the snapshot stream and the balancing of replica sets (PlanTargets). Plain
// `go test` runs the committed seed corpus; `make fuzz` runs each target with -fuzz.
package replicationfuzz
