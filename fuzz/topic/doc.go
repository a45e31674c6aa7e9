// Package topicfuzz holds the fuzz targets of package mqtt/topic: validation never panics and accepts
// only what the rules allow, Match agrees with a naive split-and-compare matcher,
// and MatchLevels (the storage layers' form) agrees with Match. Plain `go test`
// runs the committed seed corpus; `make fuzz` runs each target with -fuzz.
package topicfuzz
