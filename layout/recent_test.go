package layout

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecent(t *testing.T) {
	epoch := func(ts uint64) uint64 { return ts >> 4 } // 16 µs epochs
	start := func(e uint64) uint64 { return e << 4 }
	key := func(ts uint64) []byte { return []byte{byte(ts)} }
	tss := func(es []recentEntry) (out []uint64) {
		for _, e := range es {
			out = append(out, e.ts)
		}
		return out
	}

	// A new generation: unknown streams are empty and covered.
	r := newRecent(true, epoch, start)
	es, ok := r.lookup(7, 0, 100)
	require.True(t, ok)
	require.Empty(t, es)
	require.True(t, r.idleSince(7, 0))
	for _, ts := range []uint64{3, 5, 5, 9, 4} { // 5 again and 4: a batch seen twice
		r.add(7, ts, key(ts), true)
	}
	es, ok = r.lookup(7, 4, 8)
	require.True(t, ok)
	require.Equal(t, []uint64{5}, tss(es))
	require.False(t, r.idleSince(7, 9))
	require.True(t, r.idleSince(7, 10))

	// Epochs before the last two are forgotten; reads of them are not covered.
	r.add(7, 40, key(40), true) // epoch 2: keeps epochs 1 and 2
	_, ok = r.lookup(7, 9, 50)
	require.False(t, ok)
	es, ok = r.lookup(7, 16, 50)
	require.True(t, ok)
	require.Equal(t, []uint64{40}, tss(es))

	// Streams without varying levels only track their latest timestamp.
	r.add(8, 12, key(12), false)
	es, ok = r.lookup(8, 0, 100)
	require.True(t, ok)
	require.Empty(t, es)
	require.True(t, r.idleSince(8, 13))

	// A restored generation knows a stream only from its first message after Open on.
	r = newRecent(false, epoch, start)
	_, ok = r.lookup(7, 0, 100)
	require.False(t, ok)
	require.False(t, r.idleSince(7, 1000))
	r.add(7, 20, key(20), true)
	_, ok = r.lookup(7, 19, 100)
	require.False(t, ok)
	es, ok = r.lookup(7, 20, 100)
	require.True(t, ok)
	require.Equal(t, []uint64{20}, tss(es))
	require.True(t, r.idleSince(7, 21))

	// The per-stream cap drops the oldest half.
	r = newRecent(true, func(uint64) uint64 { return 0 }, start)
	for ts := range uint64(maxRecentPerStream + 1) {
		r.add(1, ts, nil, true)
	}
	_, ok = r.lookup(1, 0, 1<<20)
	require.False(t, ok)
	es, ok = r.lookup(1, maxRecentPerStream/2+1, 1<<20)
	require.True(t, ok)
	require.Len(t, es, maxRecentPerStream/2)
}
