package durable

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// rssBytes returns the process's resident set size (Linux), or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Ensure that an offline session costs no memory per message: a backlog of messages
// (100k, 1M under MQTTDS_SOAK) published while it is away grows the process's RSS by less than
// 20 MB (with the storage engine's memtables configured small; they are bounded by their own
// options, 64 MB each by default in ds), and the backlog is then delivered in full and in order.
func TestLongOfflineSoak(t *testing.T) {
	n := 100_000
	if os.Getenv("MQTTDS_SOAK") != "" {
		n = 1_000_000
	}
	dir := t.TempDir()
	// Small memtables: the storage engine's write buffers are bounded by configuration, and
	// what this test looks for is memory that grows with the backlog.
	db, err := ds.Open(dir, &ds.Options{NumShards: 4, Retention: ds.RetentionOptions{Disabled: true},
		Pebble: &pebble.Options{MemTableSize: 4 << 20}})
	require.NoError(t, err)
	defer db.Close()
	st, err := Open(db, &Options{BatchSize: 100})
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	s, err := st.Create(ctx, "offline", NeverExpire)
	require.NoError(t, err)
	_, err = s.Subscribe(Subscription{Filter: "tele/#", QoS: 1})
	require.NoError(t, err)

	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes()
	batch := make([]ds.Message, 0, 1000)
	for i := range n {
		payload := fmt.Appendf(make([]byte, 0, 100), "%-100d", i)
		batch = append(batch, ds.Message{ClientID: "dev", Topic: "tele/" + strconv.Itoa(i%10), QoS: 1, Payload: payload})
		if len(batch) == cap(batch) {
			require.True(t, st.Routes().Match(batch[0].Topic))
			require.NoError(t, db.Store(ctx, batch, ds.Sync))
			batch = batch[:0]
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	after := rssBytes()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d messages stored while offline: RSS %d MB → %d MB, Go heap in use %d MB", n, before>>20, after>>20,
		ms.HeapInuse>>20)
	if before > 0 && !raceOn {
		require.Less(t, after-before, int64(20<<20), "RSS grew by %d MB", (after-before)>>20)
	}

	// The backlog is all there, each topic in order.
	last := map[string]int{}
	count := map[string]int{}
	total := 0
	for total < n {
		got, err := s.Fetch(ctx, 1000)
		require.NoError(t, err)
		require.NotEmpty(t, got, "backlog ended after %d of %d", total, n)
		for _, d := range got {
			seq, err := strconv.Atoi(strings.TrimSpace(string(d.Message.Payload)))
			require.NoError(t, err)
			if prev, ok := last[d.Message.Topic]; ok {
				require.Greater(t, seq, prev, "topic %s out of order", d.Message.Topic)
			}
			last[d.Message.Topic] = seq
			count[d.Message.Topic]++
			s.Complete(d.PID)
		}
		total += len(got)
	}
	require.Equal(t, n, total)
	for i := range 10 {
		require.Equal(t, n/10, count[fmt.Sprintf("tele/%d", i)])
	}
}
