package ds

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRetentionRotatesAndDrops drives retention by hand on a fake clock: a generation is added
// once the current one is RotationInterval old, and dropped once its until is Period old.
func TestRetentionRotatesAndDrops(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	opts := testOptions()
	opts.NumShards = 1
	opts.Now = clock.now
	opts.Retention = RetentionOptions{Period: 10 * time.Second, RotationInterval: time.Second, Disabled: true}
	db := openTest(t, "db", opts)
	ctx := context.Background()
	store := func(topic string) {
		require.NoError(t, db.Store(ctx, []Message{msg("c", topic, "p")}, Sync))
	}
	gens := func() int {
		g, err := db.ListGenerations(0, 0)
		require.NoError(t, err)
		return len(g)
	}
	store("t/0")
	db.enforceRetention() // the first generation was created "now": nothing to do
	require.Equal(t, 1, gens())
	for i := 1; i <= 30; i++ {
		clock.t = clock.t.Add(500 * time.Millisecond)
		store("t/x")
		db.enforceRetention()
	}
	// 15 s of writes, checked every 0.5 s, rotation after 1 s (so every 1.5 s: a generation
	// starts 1 µs after the check that made it) and a 10 s period: the oldest generations are
	// gone, the rest cover at most Period + RotationInterval + the check interval.
	got := readAll(t, db, "#", 0)
	oldest := got[0].Timestamp
	now := timestampOf(clock.t)
	require.GreaterOrEqual(t, oldest, now-uint64((11500*time.Millisecond).Microseconds()))
	require.Less(t, oldest, now-uint64((9*time.Second).Microseconds()), "data younger than Period is kept")
	require.NotEqual(t, "t/0", got[0].Topic)
	n := gens()
	require.GreaterOrEqual(t, n, 7)
	require.LessOrEqual(t, n, 9)
	m := db.Metrics()
	require.Equal(t, uint64(n)+m.Generations.Dropped, m.Generations.Added)
	require.Zero(t, m.Generations.RetentionErrors)
}

// TestRetentionLoop runs the background loop with a real clock and a short period.
func TestRetentionLoop(t *testing.T) {
	opts := testOptions()
	opts.Retention = RetentionOptions{Period: 100 * time.Millisecond, RotationInterval: 20 * time.Millisecond}
	db := openTest(t, "db", opts)
	require.NoError(t, db.Store(context.Background(), []Message{msg("c", "t", "p")}, Sync))
	require.Eventually(t, func() bool {
		return len(readAll(t, db, "#", 0)) == 0
	}, 10*time.Second, 10*time.Millisecond, "the message outlived its retention")
	// Readers stop seeing it at once (the read filter); its generation goes a little later.
	require.Eventually(t, func() bool {
		return db.Metrics().Generations.Dropped > 0
	}, 10*time.Second, 10*time.Millisecond, "the generation outlived its retention")
}
