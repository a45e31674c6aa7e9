// Package fdtable sizes the process's file descriptor table ahead of time.
//
// On Linux the kernel grows a process's descriptor table by doubling it when a new descriptor
// does not fit, and in a multi-threaded process (every Go program) each growth waits for an
// RCU grace period: 8 to 20 ms measured on a 2-CPU VM, during which the thread that opened the
// descriptor (an accept, a dial) stands still. A server that accepts connections at a high rate
// pays that at every doubling (at 256, 512, 1024, ... descriptors), which shows as bursts of
// slow connects. Reserve grows the table once, before the load arrives; the table never shrinks.
//
// It is not a limit: RLIMIT_NOFILE still bounds the descriptors, and a process that goes past
// the reserved size grows its table as before. Reserve is safe for concurrent use and never
// closes or replaces a descriptor. On other systems it does nothing.
package fdtable

// Reserve makes the descriptor table hold at least n descriptors (at most the RLIMIT_NOFILE
// soft limit), and returns the size it made room for: 0 where it does nothing.
func Reserve(n int) (int, error) { return reserve(n) }
