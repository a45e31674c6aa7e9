//go:build unix

package subscriptions

import "syscall"

// cpuNanos returns the CPU time (user + system) the process has used. Benchmarks report it per
// operation next to wall time because the machine they run on is shared: wall time then measures the
// neighbours as much as the code.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
