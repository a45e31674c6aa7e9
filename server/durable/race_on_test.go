//go:build race

package durable

// raceOn: the race detector multiplies memory use, so RSS bounds are not checked.
const raceOn = true
