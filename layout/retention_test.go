package layout

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/lts"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// TestStreamsWithinTable pins the class matcher on a small trie (thresholds 2: the third
// sibling of a level goes through '+').
func TestStreamsWithinTable(t *testing.T) {
	var b CookedBatch
	l, err := Create([]byte("w/"), Options{Thresholds: []int{2}}, nil, &b)
	require.NoError(t, err)
	w := l.(*wildcard)
	topics := []string{
		"logs/a/x", "logs/b/x", "logs/c/x", "logs/d/x", // logs/+/x after two concrete ones
		"metrics/1", "metrics/2", "metrics/3", // metrics/+
		"logs", "$SYS/up", "a/b",
	}
	for i, tp := range topics {
		require.NoError(t, l.Prepare([]Entry{{Topic: tp, Timestamp: uint64(i + 1)}}, &b))
	}
	// within lists, for each filter, the topics of the streams StreamsWithin returns.
	for _, tc := range []struct {
		filter string
		within []string
	}{
		{"#", []string{"logs/a/x", "logs/b/x", "logs/c/x", "logs/d/x", "metrics/1", "metrics/2", "metrics/3", "logs", "a/b"}},
		{"logs/#", []string{"logs/a/x", "logs/b/x", "logs/c/x", "logs/d/x", "logs"}},
		{"logs/+/x", []string{"logs/a/x", "logs/b/x", "logs/c/x", "logs/d/x"}},
		// logs/c/x rides the '+' stream with logs/d/x: not every topic of it matches.
		{"logs/c/x", nil},
		{"logs/a/x", []string{"logs/a/x"}},
		{"logs/+/y", nil},
		{"metrics/+", []string{"metrics/1", "metrics/2", "metrics/3"}},
		{"metrics/3", nil},
		{"+/+", []string{"metrics/1", "metrics/2", "metrics/3", "a/b"}},
		{"$SYS/#", []string{"$SYS/up"}},
		{"+/up", nil},
		{"nothing/#", nil},
	} {
		t.Run(tc.filter+"/overlapping", func(t *testing.T) {
			// Every stream with a matching topic; others may follow (a '+' stream may hold a
			// matching topic later: metrics/+ for "+/up").
			var want, got []uint64
			for _, tp := range topics {
				idx, _, _ := w.trie.Lookup(splitLevels(tp))
				if topic.MatchLevels(splitLevels(tc.filter), []byte(tp)) && !slices.Contains(want, uint64(idx)) {
					want = append(want, uint64(idx))
				}
			}
			for _, s := range l.StreamsOverlapping(splitLevels(tc.filter)) {
				st, err := w.decodeStream(s)
				require.NoError(t, err)
				for _, c := range st.varying {
					require.True(t, c.Any, "a whole stream")
				}
				got = append(got, st.index)
			}
			require.Subset(t, got, want)
		})
		t.Run(tc.filter, func(t *testing.T) {
			var got []string
			for _, s := range l.StreamsWithin(splitLevels(tc.filter)) {
				st, err := w.decodeStream(s)
				require.NoError(t, err)
				for _, tp := range topics {
					if idx, _, ok := w.trie.Lookup(splitLevels(tp)); ok && uint64(idx) == st.index {
						got = append(got, tp)
					}
				}
			}
			require.ElementsMatch(t, tc.within, got)
		})
	}
	ref, err := Create([]byte("r/"), Options{Kind: KindReference}, nil, &b)
	require.NoError(t, err)
	require.Empty(t, ref.StreamsWithin([]string{"#"}), "the reference stream holds any topic")
	require.Equal(t, ref.Streams([]string{"a"}), ref.StreamsOverlapping([]string{"a"}))
}

// TestSpanBefore runs the wildcard layout with a twin (same writes, another prefix, never
// deleted) and the reference layout over random topics for every differential option set. For each class filter it
// checks StreamsWithin against brute force (every topic of a returned stream matches), range
// deletes SpanBefore of those streams, and checks from pebble's contents that
//   - only messages of the class older than `before` are gone;
//   - every message older than the documented cut is gone (the span is as large as promised);
//   - readers positioned anywhere before the deletion (inside the deleted range included)
//     read on without error and see exactly the twin's messages minus the deleted ones;
//   - the wildcard layout holds exactly the reference layout's messages minus the deleted ones.
//
// LAYOUT_SEED=<n> replays one seed.
func TestSpanBefore(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("LAYOUT_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	for oi, opts := range differentialOptions {
		t.Run(fmt.Sprintf("opts%d", oi), func(t *testing.T) {
			t.Logf("replay with LAYOUT_SEED=%d", seed)
			runSpanBefore(t, opts, seed+uint64(oi))
		})
	}
}

func runSpanBefore(t *testing.T, opts Options, seed uint64) {
	e := &diffEnv{t: t, rng: rand.New(rand.NewPCG(seed, seed>>7|1)), db: openMemDB(t), opts: opts}
	e.epochLen = 1 << uint(min(max(opts.EpochBits, 0), 40))
	e.makeTopics()
	var b CookedBatch
	wild, err := Create([]byte("w/"), opts, nil, &b)
	require.NoError(t, err)
	twin, err := Create([]byte("v/"), opts, nil, &b)
	require.NoError(t, err)
	ref, err := Create([]byte("r/"), Options{Kind: KindReference}, nil, &b)
	require.NoError(t, err)
	commit(t, e.db, &b)
	w := wild.(*wildcard)

	ts := e.rng.Uint64N(1 << 30)
	first := ts
	for range 60 {
		var entries []Entry
		for range 1 + e.rng.IntN(12) {
			ts += 1 + e.rng.Uint64N(max(e.epochLen/2, 3))
			entries = append(entries, Entry{Topic: e.topics[e.rng.IntN(len(e.topics))], Timestamp: ts,
				Value: []byte(strconv.FormatUint(ts, 10))})
		}
		require.NoError(t, wild.Prepare(entries, &b))
		require.NoError(t, twin.Prepare(entries, &b))
		require.NoError(t, ref.Prepare(entries, &b))
		commit(t, e.db, &b)
	}
	bounds := ReadBounds{Visible: ts + 1, Closed: true}
	all := append([]string{"#"}, e.filters...)

	deletedAny := false
	goneAll := map[string]bool{} // values (timestamps) of every message deleted so far
	for _, f := range all {
		filter := splitLevels(f)
		within := wild.StreamsWithin(filter)
		require.Equal(t, within, twin.StreamsWithin(filter), "same structure, same answer")
		// Brute force: every learned topic of a returned stream matches the filter.
		indexes := map[uint64]int{}
		for _, s := range within {
			st, err := w.decodeStream(s)
			require.NoError(t, err)
			indexes[st.index] = len(st.varying)
		}
		overlapping := map[string]bool{}
		for _, s := range wild.StreamsOverlapping(filter) {
			overlapping[string(s)] = true
		}
		for _, s := range within {
			require.True(t, overlapping[string(s)], "a stream inside %q does not overlap it", f)
		}
		for _, tp := range e.topics {
			idx, varying, ok := w.trie.Lookup(splitLevels(tp))
			if !ok {
				continue
			}
			if _, in := indexes[uint64(idx)]; in {
				require.True(t, topic.MatchLevels(filter, []byte(tp)), "stream of %q claimed inside %q", tp, f)
			}
			if topic.MatchLevels(filter, []byte(tp)) {
				whole := make([]lts.Constraint, len(varying))
				for i := range whole {
					whole[i].Any = true
				}
				require.True(t, overlapping[string(encodeStream(lts.Match{Index: idx, Varying: whole}))],
					"the stream of %q is not among those overlapping %q", tp, f)
			}
		}

		// Readers of every stream inside, positioned a random way into it.
		type reader struct {
			s   Stream
			pos Position
		}
		var readers []reader
		for _, s := range within {
			pos, err := wild.NewPosition(s, []string{"#"}, first-min(first, e.rng.Uint64N(10)))
			require.NoError(t, err)
			if k := e.rng.IntN(20); k > 0 {
				_, pos, err = wild.Next(e.db, s, filter, pos, k, bounds, &Stats{})
				require.NoError(t, err)
			}
			readers = append(readers, reader{s, pos})
		}

		// Delete the spans before a random time of the written range.
		before := first + e.rng.Uint64N(ts-first+2)
		var cb CookedBatch
		for _, s := range within {
			if sp, ok := wild.SpanBefore(s, before); ok {
				require.Equal(t, -1, bytes.Compare(sp.Start, sp.End))
				cb.Writes = append(cb.Writes, Write{Kind: WriteDeleteRange, Key: sp.Start, Value: sp.End})
			}
		}
		commit(t, e.db, &cb)

		// What is gone: the twin's keys missing under the wildcard's prefix.
		gone := map[string]bool{}
		scanMessages(t, e.db, []byte("v/m"), func(suffix []byte, name string, ts uint64) {
			if !hasKey(t, e.db, append([]byte("w/m"), suffix...)) {
				gone[string(suffix)] = true
				deletedAny = true
				require.Less(t, ts, before, "%q@%d deleted before %d", name, ts, before)
				require.True(t, topic.MatchLevels(filter, name), "%q deleted by class %q", name, f)
			}
		})
		// What must be gone: everything of the streams below the promised cut.
		scanMessages(t, e.db, []byte("v/m"), func(suffix []byte, topic string, ts uint64) {
			idx, _, _ := w.trie.Lookup(splitLevels(topic))
			n, in := indexes[uint64(idx)]
			if !in {
				return
			}
			cut := before
			if n > 0 {
				cut = 0
				if w.epochBits < 64 {
					cut = w.epochStart(w.epoch(before))
				}
			}
			if ts < cut {
				require.True(t, gone[string(suffix)], "%q@%d kept, cut %d", topic, ts, cut)
			}
		})
		// Readers go on from where they were, over the deleted range.
		for _, r := range readers {
			got, _ := readAll(t, wild, e.db, r.s, filter, r.pos, 1+e.rng.IntN(5), bounds, &Stats{})
			want, _ := readAll(t, twin, e.db, r.s, filter, r.pos, 7, bounds, &Stats{})
			var kept []string
			for _, it := range want {
				if !gone[string(it.Key[len("v/m"):])] {
					kept = append(kept, it.Topic+"@"+strconv.FormatUint(it.Timestamp, 10))
				}
			}
			var seen []string
			for _, it := range got {
				seen = append(seen, it.Topic+"@"+strconv.FormatUint(it.Timestamp, 10))
			}
			require.ElementsMatch(t, kept, seen)
		}
		// Differential: the reference layout, never deleted, minus what went is what the
		// wildcard layout holds.
		scanMessages(t, e.db, []byte("v/m"), func(suffix []byte, _ string, ts uint64) {
			if gone[string(suffix)] {
				goneAll[strconv.FormatUint(ts, 10)] = true
			}
		})
		var want, have []string
		for _, rf := range [][]string{{"#"}, {"$SYS", "#"}} {
			pos, err := ref.NewPosition(ref.Streams(rf)[0], rf, 0)
			require.NoError(t, err)
			items, _ := readAll(t, ref, e.db, ref.Streams(rf)[0], rf, pos, 50, bounds, &Stats{})
			for _, it := range items {
				if !goneAll[string(it.Value)] {
					want = append(want, string(it.Value))
				}
			}
		}
		scanMessages(t, e.db, []byte("w/m"), func(_ []byte, _ string, ts uint64) {
			have = append(have, strconv.FormatUint(ts, 10))
		})
		require.ElementsMatch(t, want, have, "reference minus deletions")
		// Later filters see this one's deletions as the twin's keys already gone.
		var sync CookedBatch
		for k := range gone {
			sync.Writes = append(sync.Writes, Write{Kind: WriteDelete, Key: append([]byte("v/m"), k...)})
		}
		commit(t, e.db, &sync)
	}
	require.True(t, deletedAny, "no class deleted anything: the test lost its edge")
}

// scanMessages calls fn for every message under prefix (the key suffix after it, the topic and
// the timestamp the test stored as the value).
func scanMessages(t *testing.T, db *pebble.DB, prefix []byte, fn func(suffix []byte, topic string, ts uint64)) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	require.NoError(t, err)
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		topic, value, err := decodeEnvelope(it.Value())
		require.NoError(t, err)
		ts, err := strconv.ParseUint(string(value), 10, 64)
		require.NoError(t, err)
		fn(append([]byte(nil), it.Key()[len(prefix):]...), string(topic), ts)
	}
	require.NoError(t, it.Error())
}

func hasKey(t *testing.T, db *pebble.DB, key []byte) bool {
	_, closer, err := db.Get(key)
	if err == pebble.ErrNotFound {
		return false
	}
	require.NoError(t, err)
	closer.Close()
	return true
}

// TestReferenceSpanBefore: the reference span is exactly the messages older than before.
func TestReferenceSpanBefore(t *testing.T) {
	db := openMemDB(t)
	var b CookedBatch
	ref, err := Create([]byte("r/"), Options{Kind: KindReference}, nil, &b)
	require.NoError(t, err)
	for ts := uint64(1); ts <= 10; ts++ {
		require.NoError(t, ref.Prepare([]Entry{{Topic: "t", Timestamp: ts}}, &b))
	}
	commit(t, db, &b)
	s := ref.Streams([]string{"#"})[0]
	_, ok := ref.SpanBefore(s, 0)
	require.False(t, ok)
	_, ok = ref.SpanBefore(Stream("x"), 5)
	require.False(t, ok)
	sp, ok := ref.SpanBefore(s, 5)
	require.True(t, ok)
	require.NoError(t, db.DeleteRange(sp.Start, sp.End, pebble.NoSync))
	pos, err := ref.NewPosition(s, []string{"#"}, 0)
	require.NoError(t, err)
	items, _ := readAll(t, ref, db, s, []string{"#"}, pos, 3, ReadBounds{Visible: 11, Closed: true}, &Stats{})
	require.Len(t, items, 6)
	require.Equal(t, uint64(5), items[0].Timestamp)
}
