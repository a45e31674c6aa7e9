package fdtable

import (
	"errors"

	"golang.org/x/sys/unix"
)

func reserve(n int) (int, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < uint64(n) {
		n = int(lim.Cur)
	}
	if n <= 0 {
		return 0, nil
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	// A copy at the lowest free descriptor from n-1 on: if n-1 is free, the table grows to
	// hold it; if it is taken, the table is that large already. Unlike dup2, it closes
	// nothing.
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, n-1)
	if errors.Is(err, unix.EMFILE) {
		return n, nil // every descriptor from n-1 up is in use: the table holds them
	}
	if err != nil {
		return 0, err
	}
	unix.Close(high)
	return n, nil
}
