package ds

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestWALSyncFailure makes the disk fail WAL syncs. Pebble's WAL cannot continue after a failed
// write or sync (its log writer keeps the error), so the guarantee is: every Store whose flush
// could not be made durable returns the error (none is acknowledged, none hangs), and once the
// disk works again a reopened store holds every acknowledged message and takes writes. Until
// the reopen, later Stores keep failing with the error.
func TestWALSyncFailure(t *testing.T) {
	var failing atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && op.Kind == errorfs.OpFileSync || failing.Load() && op.Kind == errorfs.OpFileSyncData {
			if strings.HasSuffix(op.Path, ".log") {
				return errorfs.ErrInjected
			}
		}
		return nil
	})
	opts := testOptions()
	opts.FS = errorfs.Wrap(vfs.NewMem(), inj)
	db, err := Open("db", opts)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, db.Store(ctx, []Message{msg("c", "t/before", "1")}, Sync))

	failing.Store(true)
	err = db.Store(ctx, []Message{msg("c", "t/during", "2")}, Sync)
	require.ErrorIs(t, err, errorfs.ErrInjected)
	require.Positive(t, db.Metrics().Buffer.FailedBatches)
	failing.Store(false)
	err = db.Store(ctx, []Message{msg("c", "t/later", "3")}, Sync)
	require.ErrorIs(t, err, errorfs.ErrInjected, "pebble's WAL stays failed until the store is reopened")
	db.Close() // pebble may report the WAL error again

	db = openTest(t, "db", opts)
	got := readAll(t, db, "#", 0)
	require.NotEmpty(t, got)
	require.Equal(t, "t/before", got[0].Topic)
	require.NoError(t, db.Store(ctx, []Message{msg("c", "t/after", "3")}, Sync))
	got = readAll(t, db, "#", 0)
	require.Equal(t, "t/after", got[len(got)-1].Topic)
}
