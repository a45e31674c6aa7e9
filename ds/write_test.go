package ds

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// TestLoneMessageDoesNotWaitForTimer checks the group-commit rule: with nothing committing, a
// flush starts at once, whatever FlushInterval is.
func TestLoneMessageDoesNotWaitForTimer(t *testing.T) {
	opts := testOptions()
	opts.Buffer.FlushInterval = time.Hour
	db := openTest(t, "db", opts)
	done := make(chan error, 1)
	go func() { done <- db.Store(context.Background(), []Message{msg("c", "t", "p")}, Sync) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a lone Store waited for the flush interval")
	}
}

// gatedApplier, once hold is set, holds the Wait of every batch applied until the gate opens;
// it can also fail Apply.
type gatedApplier struct {
	inner   Applier
	gate    chan struct{}
	hold    atomic.Bool
	fail    atomic.Bool
	applied atomic.Int64
	sizes   chan int
}

var errDiskGone = errors.New("disk gone")

func (a *gatedApplier) Apply(shard int, b *layout.CookedBatch) (Commit, error) {
	if a.fail.Load() {
		return nil, errDiskGone
	}
	c, err := a.inner.Apply(shard, b)
	if err != nil {
		return nil, err
	}
	if !a.hold.Load() {
		return c, nil
	}
	a.applied.Add(1)
	if a.sizes != nil {
		a.sizes <- len(b.Writes)
	}
	return gatedCommit{c, a.gate}, nil
}

type gatedCommit struct {
	Commit
	gate chan struct{}
}

func (c gatedCommit) Wait() error {
	<-c.gate
	return c.Commit.Wait()
}

// TestBatchFillsWhileCommitting holds the first flush's commit: writes that arrive meanwhile
// are not visible, then go out together as the next batch.
func TestBatchFillsWhileCommitting(t *testing.T) {
	opts := testOptions()
	opts.NumShards = 1
	opts.Buffer.FlushInterval = time.Hour
	opts.Buffer.MaxInFlight = 1
	ga := &gatedApplier{gate: make(chan struct{}), sizes: make(chan int, 100)}
	opts.NewApplier = func(db *pebble.DB) Applier { ga.inner = NewLocalApplier(db); return ga }
	db := openTest(t, "db", opts)
	ga.hold.Store(true)
	ctx := context.Background()
	var wg sync.WaitGroup
	store := func(i int) {
		defer wg.Done()
		require.NoError(t, db.Store(ctx, []Message{msg("c", "t", fmt.Sprint(i))}, Sync))
	}
	wg.Add(1)
	go store(0)
	first := <-ga.sizes // the first flush is applied and waits at the gate
	require.Equal(t, 2, first, "one message + the shard clock")
	for i := 1; i <= 5; i++ {
		wg.Add(1)
		go store(i)
	}
	require.Eventually(t, func() bool { return db.Metrics().Shards.Pending == 5 }, 10*time.Second, time.Millisecond)
	require.Empty(t, readAll(t, db, "#", 0), "nothing is visible before its commit returns")
	close(ga.gate)
	wg.Wait()
	require.Equal(t, 5+1, <-ga.sizes, "the five waiting writes went out as one batch")
	require.Len(t, readAll(t, db, "#", 0), 6)
	m := db.Metrics()
	require.Equal(t, uint64(2), m.Buffer.Batches)
	require.Equal(t, uint64(6), m.Buffer.Messages)
}

// TestFlushIntervalBoundsLinger holds every commit: the first eagerFlushes flushes start at
// once, the next write lingers FlushInterval and then starts its own flush (MaxInFlight 3).
func TestFlushIntervalBoundsLinger(t *testing.T) {
	opts := testOptions()
	opts.NumShards = 1
	opts.Buffer.FlushInterval = 20 * time.Millisecond
	opts.Buffer.MaxInFlight = eagerFlushes + 1
	ga := &gatedApplier{gate: make(chan struct{})}
	opts.NewApplier = func(db *pebble.DB) Applier { ga.inner = NewLocalApplier(db); return ga }
	db := openTest(t, "db", opts)
	ga.hold.Store(true)
	ctx := context.Background()
	errs := make(chan error, eagerFlushes+1)
	for i := 0; i < eagerFlushes; i++ {
		go func() { errs <- db.Store(ctx, []Message{msg("c", "t", fmt.Sprint(i))}, Sync) }()
		require.Eventually(t, func() bool { return ga.applied.Load() == int64(i+1) }, 10*time.Second, time.Millisecond,
			"flush %d starts at once", i)
	}
	start := time.Now()
	go func() { errs <- db.Store(ctx, []Message{msg("c", "t", "last")}, Sync) }()
	require.Eventually(t, func() bool { return ga.applied.Load() == eagerFlushes+1 }, 10*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), opts.Buffer.FlushInterval)
	require.Empty(t, readAll(t, db, "#", 0), "nothing is visible before its commit returns")
	close(ga.gate)
	for i := 0; i <= eagerFlushes; i++ {
		require.NoError(t, <-errs)
	}
	got := readAll(t, db, "#", 0)
	require.Len(t, got, eagerFlushes+1)
	require.Less(t, got[0].Timestamp, got[1].Timestamp)
}

// TestFailedFlush fails the applier: every caller of the flush gets the error, nothing is
// visible, and writes work again once the applier recovers.
func TestFailedFlush(t *testing.T) {
	opts := testOptions()
	opts.NumShards = 1
	ga := &gatedApplier{}
	opts.NewApplier = func(db *pebble.DB) Applier { ga.inner = NewLocalApplier(db); return ga }
	db := openTest(t, "db", opts)
	ctx := context.Background()
	ga.fail.Store(true)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Store(ctx, []Message{msg("c", fmt.Sprintf("t/%d", i), "x")}, Sync)
			require.ErrorIs(t, err, errDiskGone)
		}()
	}
	wg.Wait()
	require.Empty(t, readAll(t, db, "#", 0))
	require.Equal(t, uint64(8), db.Metrics().Buffer.FailedItems)
	ga.fail.Store(false)
	require.NoError(t, db.Store(ctx, []Message{msg("c", "t/ok", "y")}, Sync))
	got := readAll(t, db, "#", 0)
	require.Len(t, got, 1)
	require.Equal(t, "t/ok", got[0].Topic)
}

func TestConcurrentWritersAndWatcher(t *testing.T) {
	opts := testOptions()
	db := openTest(t, "db", opts)
	ctx := context.Background()
	shard := db.ShardOf("w0")
	w, err := db.Watch(shard)
	require.NoError(t, err)
	defer w.Close()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				m := msg(fmt.Sprintf("w%d", i), fmt.Sprintf("w/%d/%d", i, j), "p")
				require.NoError(t, db.Store(ctx, []Message{m}, Sync))
			}
		}()
	}
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	wg.Wait()
	got := readAll(t, db, "w/#", 0)
	require.Len(t, got, writers*each)
	// Per publisher, order of Store calls = timestamp order = read order.
	last := map[string]int{}
	for _, m := range got {
		var i, j int
		fmt.Sscanf(m.Topic, "w/%d/%d", &i, &j)
		if prev, ok := last[m.ClientID]; ok {
			require.Greater(t, j, prev, "publisher %s", m.ClientID)
		}
		last[m.ClientID] = j
	}
	m := db.Metrics()
	require.Equal(t, uint64(writers*each), m.Buffer.Messages)
	require.Equal(t, uint64(writers*each), m.Buffer.StoreLatency.Count)
	require.Contains(t, m.String(), "store latency")
}

func TestNoWaitAndClose(t *testing.T) {
	opts := testOptions()
	db := openTest(t, "db", opts)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		require.NoError(t, db.Store(ctx, []Message{msg(fmt.Sprint(i), "t", "p")}, NoWait))
	}
	require.NoError(t, db.Close(), "Close flushes what is pending")
	require.ErrorIs(t, db.Close(), ErrClosed)
	require.ErrorIs(t, db.Store(ctx, []Message{msg("c", "t", "p")}, Sync), ErrClosed)
	db = openTest(t, "db", opts)
	require.Len(t, readAll(t, db, "#", 0), 100)
}

func TestStoreContextCanceled(t *testing.T) {
	db := openTest(t, "db", testOptions())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, db.Store(ctx, []Message{msg("c", "t", "p")}, Sync), context.Canceled)
	require.NoError(t, db.Store(context.Background(), nil, Sync))
}

func TestCompressionOption(t *testing.T) {
	opts := testOptions()
	opts.Compression = S2Compression
	db := openTest(t, "db", opts)
	payload := make([]byte, 4096)
	require.NoError(t, db.Store(context.Background(), []Message{{ClientID: "c", Topic: "t", Payload: payload}}, Sync))
	got := readAll(t, db, "#", 0)
	require.Len(t, got, 1)
	require.Equal(t, payload, got[0].Payload)
}

// Ensure that batches submitted one after the other commit in that order whatever order their
// callers wait in: a reader sees one publisher's messages in submission order, with both
// layouts.
func TestSubmitKeepsSubmissionOrder(t *testing.T) {
	for _, kind := range []string{layout.KindReference, layout.KindWildcardOptimized} {
		t.Run(kind, func(t *testing.T) {
			opts := testOptions()
			opts.Layout = layout.Options{Kind: kind}
			db := openTest(t, "db", opts)
			const n = 500
			pending := make([]*Pending, n)
			for i := range n {
				b := db.NewBatch(db.ShardOf("pub"))
				m := msg("pub", "dev/1/t", fmt.Sprint(i))
				b.AddMessage(&m)
				p, err := db.Submit(b)
				require.NoError(t, err)
				pending[i] = p
			}
			ctx := context.Background()
			for i := n - 1; i >= 0; i-- { // waiting in reverse must not matter
				require.NoError(t, pending[i].Wait(ctx))
				require.NoError(t, pending[i].Wait(ctx), "Wait keeps its result")
			}
			got := readAll(t, db, "dev/+/t", 0)
			require.Len(t, got, n)
			for i := range got {
				require.Equal(t, fmt.Sprint(i), string(got[i].Payload), "message %d", i)
			}
		})
	}
}

// Ensure that Submit reports a bad batch at once, that an empty batch is already durable, and
// that a Wait cut short by its context can be repeated to learn the outcome.
func TestSubmitErrorsAndCanceledWait(t *testing.T) {
	db := openTest(t, "db", testOptions())
	bad := db.NewBatch(0)
	m := Message{ClientID: "pub", Topic: "a/+"}
	bad.AddMessage(&m)
	_, err := db.Submit(bad)
	require.Error(t, err)

	empty, err := db.Submit(db.NewBatch(1))
	require.NoError(t, err)
	require.NoError(t, empty.Wait(context.Background()))

	b := db.NewBatch(db.ShardOf("pub"))
	ok := msg("pub", "a/b", "x")
	b.AddMessage(&ok)
	p, err := db.Submit(b)
	require.NoError(t, err)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(canceled); err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
	require.NoError(t, p.Wait(context.Background()))
	require.Len(t, readAll(t, db, "a/b", 0), 1)
}
