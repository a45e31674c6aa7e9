package fdtable

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ensure that Reserve leaves every descriptor as it was: the files open before it stay open
// and usable, and the next descriptor opened is the lowest free one, as always.
func TestReserve_ClosesNothing(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fd")
	require.NoError(t, err)
	defer f.Close()
	n, err := Reserve(4096)
	require.NoError(t, err)
	if runtime.GOOS == "linux" {
		require.Positive(t, n)
		require.LessOrEqual(t, n, 4096)
	}
	_, err = f.WriteString("still open")
	require.NoError(t, err)

	g, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer g.Close()
	require.Less(t, g.Fd(), uintptr(n+1), "the reserved slot was given back")

	again, err := Reserve(4096)
	require.NoError(t, err)
	require.Equal(t, n, again)
}
