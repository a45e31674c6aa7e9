//go:build !unix

package subscriptions

// cpuNanos is not measured on this platform; the cpu-ns/op metric then reads 0.
func cpuNanos() int64 { return 0 }
