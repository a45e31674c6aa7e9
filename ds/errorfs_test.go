package ds

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestWALSyncFailure makes the disk fail, then recover, under a live DB:
//
//  1. WAL syncs fail: the Store of that flush gets the error (nothing unacknowledged is
//     reported stored, nothing hangs);
//  2. every write fails: the next Store tries to reopen pebble, fails, and returns the error;
//     reads report the storage unavailable;
//  3. the disk works again: the next Store reopens pebble and succeeds, and every
//     acknowledged message is there.
func TestWALSyncFailure(t *testing.T) {
	const (
		healthy = iota
		syncsFail
		allWritesFail
	)
	var mode atomic.Int32
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch mode.Load() {
		case syncsFail:
			if (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) && strings.HasSuffix(op.Path, ".log") {
				return errorfs.ErrInjected
			}
		case allWritesFail:
			if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
				return errorfs.ErrInjected
			}
		}
		return nil
	})
	opts := testOptions()
	opts.FS = errorfs.Wrap(vfs.NewMem(), inj)
	db := openTest(t, "db", opts)
	ctx := context.Background()
	store := func(topic string) error {
		return db.Store(ctx, []Message{msg("c", topic, "p")}, Sync)
	}
	require.NoError(t, store("t/1"))
	tbl, err := db.Table("kv")
	require.NoError(t, err)

	mode.Store(syncsFail)
	require.ErrorIs(t, store("t/failed-sync"), errorfs.ErrInjected)
	require.Positive(t, db.Metrics().Buffer.FailedBatches)

	mode.Store(allWritesFail)
	require.ErrorIs(t, store("t/failed-reopen"), errorfs.ErrInjected)
	_, err = tbl.Get(0, []byte("k"))
	require.ErrorIs(t, err, errStorageDown)

	mode.Store(healthy)
	require.NoError(t, store("t/2"))
	require.NoError(t, store("t/3"))
	require.Equal(t, uint64(1), db.Metrics().Disk.Recoveries)
	var topics []string
	for _, m := range readAll(t, db, "#", 0) {
		topics = append(topics, m.Topic)
	}
	require.Subset(t, topics, []string{"t/1", "t/2", "t/3"})
	require.Equal(t, "t/3", topics[len(topics)-1])

	// And the store reopens cleanly.
	require.NoError(t, db.Close())
	db = openTest(t, "db", opts)
	require.Subset(t, topicsOf(readAll(t, db, "#", 0)), []string{"t/1", "t/2", "t/3"})
}

func topicsOf(msgs []StoredMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Topic)
	}
	return out
}

// TestWALFailureUnderLoad fails WAL syncs for a moment while writers store concurrently: every
// Store either succeeds (and its message is then readable) or returns the error, and writes
// succeed again afterwards.
func TestWALFailureUnderLoad(t *testing.T) {
	var failing atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) {
			return errorfs.ErrInjected
		}
		return nil
	})
	opts := testOptions()
	opts.FS = errorfs.Wrap(vfs.NewMem(), inj)
	db := openTest(t, "db", opts)
	ctx := context.Background()
	var acked sync.Map
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				topic := fmt.Sprintf("w/%d/%d", w, i)
				if err := db.Store(ctx, []Message{msg(fmt.Sprint(w), topic, "p")}, Sync); err == nil {
					acked.Store(topic, true)
				} else {
					require.ErrorIs(t, err, errorfs.ErrInjected)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	failing.Store(true)
	require.Eventually(t, func() bool { return db.Metrics().Buffer.FailedBatches > 0 }, 10*time.Second, time.Millisecond)
	failing.Store(false)
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	require.NoError(t, db.Store(ctx, []Message{msg("c", "after", "p")}, Sync))
	have := map[string]bool{}
	for _, m := range readAll(t, db, "#", 0) {
		have[m.Topic] = true
	}
	acked.Range(func(k, _ any) bool {
		require.True(t, have[k.(string)], "acknowledged %s lost", k)
		return true
	})
	require.Positive(t, db.Metrics().Disk.Recoveries)
}
