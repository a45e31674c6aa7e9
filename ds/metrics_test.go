package ds

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMetricsString(t *testing.T) {
	m := &Metrics{}
	m.Buffer.Batches, m.Buffer.Messages, m.Buffer.KVWrites, m.Buffer.Bytes = 4, 100, 3, 6400
	m.Buffer.FailedBatches, m.Buffer.FailedItems = 1, 5
	m.Buffer.FlushTime, m.Buffer.MaxFlush = 8*time.Millisecond, 3*time.Millisecond
	m.Buffer.StoreLatency = Latency{Count: 100, P50: time.Millisecond, P99: 2 * time.Millisecond, Max: 5 * time.Millisecond}
	m.Read.NextCalls, m.Read.Messages, m.Read.NextTime = 10, 90, 4*time.Millisecond
	m.Read.Seeks, m.Read.Nexts, m.Read.Collisions = 12, 95, 1
	m.Generations.Live, m.Generations.Added, m.Generations.Dropped = 32, 40, 8
	m.Shards.NextTimestamp, m.Shards.Pending, m.Shards.InFlight = 1234, 7, 2
	m.Disk.Usage = 1 << 20
	require.Equal(t, `buffer: 4 batches, 100 messages, 3 kv writes, 6400 bytes; failed 1 batches (5 items)
flush: avg 2ms, max 3ms
store latency: 100 calls, p50 1ms, p99 2ms, max 5ms
read: 10 next calls, 90 messages, 4ms; 12 seeks, 95 nexts, 1 collisions
generations: 32 live, 40 added, 8 dropped, 0 retention errors
shards: next timestamp 1234, 7 pending writes, 2 flushes in flight
disk: 1048576 bytes, 0 recoveries
`, m.String())
}

func TestMetricsCountAndSub(t *testing.T) {
	db := openTest(t, "db", testOptions())
	ctx := context.Background()
	before := db.Metrics()
	require.NoError(t, db.Store(ctx, []Message{msg("c", "a/1", "x"), msg("c", "a/2", "y")}, Sync))
	readAll(t, db, "a/#", 0)
	d := db.Metrics().Sub(before)
	require.Equal(t, uint64(2), d.Buffer.Messages)
	require.Equal(t, uint64(1), d.Buffer.Batches)
	require.Equal(t, uint64(len("a/1x")*2), d.Buffer.Bytes)
	require.Equal(t, uint64(2), d.Read.Messages)
	require.Positive(t, d.Read.NextCalls)
	require.Positive(t, d.Read.Seeks+d.Read.Nexts)
	require.Equal(t, 4, d.Generations.Live)
	require.Positive(t, d.Disk.Usage)
	require.Equal(t, Timestamp(TimeOf(12345)), uint64(12345))
}

func TestLatencyBuckets(t *testing.T) {
	var h histogram
	recorded := []time.Duration{0, 3 * time.Microsecond, 3 * time.Microsecond, 900 * time.Microsecond,
		time.Millisecond, 40 * time.Millisecond}
	var sum time.Duration
	for _, d := range recorded {
		h.record(d)
		sum += d
	}
	l := h.summary()
	require.Equal(t, uint64(len(recorded)), l.Count)
	require.Equal(t, sum, l.Sum)
	var counted uint64
	for i, b := range l.Buckets {
		require.Positive(t, b.Count)
		if i > 0 {
			require.Greater(t, b.Below, l.Buckets[i-1].Below)
		}
		counted += b.Count
	}
	require.Equal(t, l.Count, counted)
	// Every duration is below the bound of its bucket and at or above the previous bound.
	for _, d := range recorded {
		i := slices.IndexFunc(l.Buckets, func(b LatencyBucket) bool { return d < b.Below })
		require.GreaterOrEqual(t, i, 0, "%v in no bucket", d)
		require.LessOrEqual(t, l.Buckets[i].Below, d+d/4+2*time.Microsecond, "bucket of %v too wide", d)
	}
	require.Equal(t, uint64(2), l.Buckets[1].Count, "the two 3µs durations share a bucket")
}

func TestMetricsLatencies(t *testing.T) {
	db := openTest(t, "db", testOptions())
	require.NoError(t, db.Store(context.Background(), []Message{msg("c", "a/1", "x")}, Sync))
	readAll(t, db, "a/#", 0)
	m := db.Metrics()
	require.Equal(t, m.Buffer.Batches, m.Buffer.FlushLatency.Count)
	require.Equal(t, m.Buffer.FlushTime, m.Buffer.FlushLatency.Sum)
	require.Equal(t, m.Read.NextCalls, m.Read.NextLatency.Count)
	require.Equal(t, m.Read.NextTime, m.Read.NextLatency.Sum)
	require.NotEmpty(t, m.Read.NextLatency.Buckets)
}
