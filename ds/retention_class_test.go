package ds

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// Ensure that a message gets the period of a class whose filter matches its topic (the MQTT
// matching rules, [MQTT-4.7.1-1] v5, [MQTT-4.7.2-1] v5), and the default period otherwise.
func TestClassPeriodOf(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/#", "$SYS", true},
		{"a/#", "a", true},
		{"a/#", "ab", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"+", "", true},
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"+/+", "/", true},
		{"logs/#", "logs", true},
		{"logs/#", "logsx/a", false},
	} {
		c := compileClasses(RetentionOptions{Period: time.Hour, Classes: []RetentionClass{{Filter: tc.filter, Period: time.Minute}}})
		require.Len(t, c.filters, 1, tc.filter)
		require.Equal(t, tc.want, c.periodOf(tc.topic) == micros(time.Minute), "%q vs %q", tc.filter, tc.topic)
		require.Equal(t, tc.want, naiveMatch(tc.filter, tc.topic), "naive %q vs %q", tc.filter, tc.topic)
	}
}

// naiveMatch is the brute-force matcher the tests compare with.
func naiveMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	return topicMatches(filter, topic)
}

// TestStreamPeriods pins which streams a retention check considers and the period it uses
// for each: the longest period any topic of the stream can have (first match wins; Period for
// topics in no class), and none when that is the longest period anyway.
func TestStreamPeriods(t *testing.T) {
	for _, tc := range []struct {
		name       string
		classes    []RetentionClass
		period     time.Duration
		thresholds []int
		topics     []string
		want       map[string]time.Duration // topic -> its stream's period; absent: not considered
	}{
		{
			name:    "class shorter than Period",
			classes: []RetentionClass{{"logs/#", time.Minute}}, period: time.Hour,
			topics: []string{"logs/a", "logs/b/c", "dev/1"},
			want:   map[string]time.Duration{"logs/a": time.Minute, "logs/b/c": time.Minute},
		},
		{
			name:    "Period shorter than a class",
			classes: []RetentionClass{{"audit/#", 3 * time.Hour}}, period: time.Hour,
			topics: []string{"audit/x", "dev/1", "dev/2", "$SYS/up"},
			want:   map[string]time.Duration{"dev/1": time.Hour, "dev/2": time.Hour},
		},
		{
			name:    "an earlier, longer class claims the topics first",
			classes: []RetentionClass{{"logs/#", time.Hour}, {"logs/debug/#", time.Second}}, period: 2 * time.Hour,
			topics: []string{"logs/debug/x", "logs/a", "other"},
			want:   map[string]time.Duration{"logs/debug/x": time.Hour, "logs/a": time.Hour},
		},
		{
			name:    "an earlier, shorter class",
			classes: []RetentionClass{{"logs/debug/#", time.Second}, {"logs/#", time.Hour}}, period: 2 * time.Hour,
			topics: []string{"logs/debug/x", "logs/a", "other"},
			want:   map[string]time.Duration{"logs/debug/x": time.Second, "logs/a": time.Hour},
		},
		{
			name:    "an earlier, longer class claims some topics of the stream",
			classes: []RetentionClass{{"m/c", 2 * time.Hour}, {"m/#", time.Second}}, period: 3 * time.Hour,
			// The '+' stream (m/c, m/d) lies inside m/# but holds m/c, which m/c claims first.
			thresholds: []int{2}, topics: []string{"m/a", "m/b", "m/c", "m/d"},
			want: map[string]time.Duration{"m/a": time.Second, "m/b": time.Second, "m/c": 2 * time.Hour, "m/d": 2 * time.Hour},
		},
		{
			name:    "a stream that mixes a class and Period",
			classes: []RetentionClass{{"m/c", time.Second}, {"x/#", 2 * time.Hour}}, period: time.Hour,
			// m/a and m/b stay concrete, m/c and m/d share the '+' stream: it holds m/c (1 s)
			// and m/d (Period), so it gets Period.
			thresholds: []int{2}, topics: []string{"m/a", "m/b", "m/c", "m/d", "x/1"},
			want: map[string]time.Duration{"m/a": time.Hour, "m/b": time.Hour, "m/c": time.Hour, "m/d": time.Hour},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b layout.CookedBatch
			l, err := layout.Create([]byte("p"), layout.Options{Thresholds: tc.thresholds}, nil, &b)
			require.NoError(t, err)
			for i, tp := range tc.topics {
				require.NoError(t, l.Prepare([]layout.Entry{{Topic: tp, Timestamp: uint64(i + 1)}}, &b))
			}
			c := compileClasses(RetentionOptions{Period: tc.period, Classes: tc.classes})
			got := map[string]time.Duration{}
			for _, sp := range c.streamPeriods(l) {
				for _, tp := range tc.topics {
					levels, err := filterLevels(tp)
					require.NoError(t, err)
					own := l.StreamsOverlapping(levels) // a topic as a filter: its own stream
					require.Len(t, own, 1)
					if string(own[0]) == string(sp.stream) {
						got[tp] = time.Duration(sp.period) * time.Microsecond
					}
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// classOptions returns options with a fake clock, retention checks by hand, the wildcard layout
// with 1 ms epochs (so that range deletes have whole epochs to take), and classes.
func classOptions(clock *fakeClock, classes ...RetentionClass) *Options {
	o := testOptions()
	o.NumShards = 2
	o.Now = clock.now
	o.Layout = layout.Options{EpochBits: 10, Thresholds: []int{3}}
	o.Retention = RetentionOptions{Period: time.Hour, RotationInterval: time.Hour, Disabled: true, Classes: classes}
	return o
}

// TestRetentionClassesTable: which messages a reader sees as the clock moves, for several
// class lists (first match wins; Period for other topics).
func TestRetentionClassesTable(t *testing.T) {
	type step struct {
		advance time.Duration
		visible []string // topics a full read returns, sorted
	}
	topics := []string{"logs/a", "logs/debug/x", "metrics/cpu", "other", "$SYS/up"}
	for _, tc := range []struct {
		name    string
		classes []RetentionClass
		steps   []step
	}{
		{
			name: "none",
			steps: []step{
				{59 * time.Minute, []string{"$SYS/up", "logs/a", "logs/debug/x", "metrics/cpu", "other"}},
				{2 * time.Minute, nil},
			},
		},
		{
			name:    "logs 1s",
			classes: []RetentionClass{{"logs/#", time.Second}},
			steps: []step{
				{999 * time.Millisecond, []string{"$SYS/up", "logs/a", "logs/debug/x", "metrics/cpu", "other"}},
				{2 * time.Millisecond, []string{"$SYS/up", "metrics/cpu", "other"}},
				{time.Hour, nil},
			},
		},
		{
			name:    "first match wins",
			classes: []RetentionClass{{"logs/debug/#", time.Second}, {"logs/#", time.Minute}, {"+/+", 2 * time.Hour}},
			steps: []step{
				{2 * time.Second, []string{"$SYS/up", "logs/a", "metrics/cpu", "other"}},
				{time.Minute, []string{"$SYS/up", "metrics/cpu", "other"}},
				{time.Hour, []string{"metrics/cpu"}},
				{time.Hour, nil},
			},
		},
		{
			name:    "longer than Period",
			classes: []RetentionClass{{"$SYS/#", 3 * time.Hour}},
			steps: []step{
				{2 * time.Hour, []string{"$SYS/up"}},
				{time.Hour + time.Millisecond, nil},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			db := openTest(t, "db", classOptions(clock, tc.classes...))
			for _, tp := range topics {
				require.NoError(t, db.Store(context.Background(), []Message{msg("c-"+tp, tp, "p")}, Sync))
			}
			for i, st := range tc.steps {
				clock.t = clock.t.Add(st.advance)
				db.enforceRetention()
				require.Equal(t, st.visible, readTopics(t, db), "step %d", i)
			}
			m := db.Metrics()
			require.Len(t, m.Retention.ExpiredByShard, 2)
			var sum uint64
			for _, n := range m.Retention.ExpiredByShard {
				sum += n
			}
			require.Equal(t, m.Retention.Expired, sum)
			require.Equal(t, m.Retention.Expired, db.ExpiredByRetention())
			require.Positive(t, m.Retention.Expired, "the last read skipped what expired")
		})
	}
}

// readTopics returns the topics of every message a full read ("#" and "$SYS/#") returns,
// sorted.
func readTopics(t *testing.T, db *DB) []string {
	var out []string
	for _, f := range []string{"#", "$SYS/#"} {
		for _, m := range readAll(t, db, f, 0) {
			out = append(out, m.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// messageKeys counts the message keys of shard in pebble (all generations of the wildcard
// layout: the keys tagged 'm' after the generation prefix, not the trie's).
func messageKeys(t *testing.T, db *DB, shard int) int {
	prefix := append(shardPrefix(shard), keyShardMsgs)
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	require.NoError(t, err)
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if k := it.Key(); len(k) > len(prefix)+4 && k[len(prefix)+4] == 'm' {
			n++
		}
	}
	return n
}

// TestRetentionClassRangeDelete: a stream wholly inside a 1 s class loses its old epochs from
// pebble at the next check; a stream that mixes classes keeps its keys (readers still skip the
// expired ones); a reader positioned inside the deleted range continues after it.
func TestRetentionClassRangeDelete(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	opts := classOptions(clock, RetentionClass{"logs/#", time.Second})
	opts.NumShards = 1
	db := openTest(t, "db", opts)
	ctx := context.Background()
	store := func(topics ...string) {
		for _, tp := range topics {
			require.NoError(t, db.Store(ctx, []Message{msg("c", tp, "p")}, Sync))
			clock.t = clock.t.Add(3 * time.Millisecond) // about 3 epochs of 1 ms
		}
	}
	// Under logs/ the third device is the last concrete one, later ones share a '+' stream:
	// both kinds of stream lie inside logs/#.
	for i := range 10 {
		store(fmt.Sprintf("logs/d%d", i%5), "keep/x")
	}
	// A reader of logs/# that read two messages, positioned inside what will be deleted.
	streams, err := db.GetStreams("logs/#", 0)
	require.NoError(t, err)
	require.NotEmpty(t, streams)
	var readers []Iterator
	for _, rs := range streams {
		it, err := db.MakeIterator(rs.Stream, "logs/#", 0)
		require.NoError(t, err)
		_, it, err = db.Next(ctx, it, 1)
		require.NoError(t, err)
		readers = append(readers, it)
	}
	before := messageKeys(t, db, 0)
	require.Equal(t, 20, before)

	clock.t = clock.t.Add(time.Second)
	store("logs/d0", "logs/d9") // young: must survive
	db.enforceRetention()
	m := db.Metrics()
	require.Positive(t, m.Retention.RangeDeletes)
	require.Zero(t, m.Generations.RetentionErrors)
	// The 20 old logs are gone from pebble, the keep/x ones and the young logs stay.
	require.Equal(t, 10+2, messageKeys(t, db, 0))
	require.Equal(t, []string{"keep/x", "keep/x", "keep/x", "keep/x", "keep/x", "keep/x", "keep/x", "keep/x", "keep/x", "keep/x", "logs/d0", "logs/d9"},
		readTopics(t, db))

	// Old readers go on over the deleted range: only the young messages remain.
	var got []string
	for _, it := range readers {
		for range 100 {
			msgs, next, err := db.Next(ctx, it, 3)
			require.NoError(t, err)
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				got = append(got, m.Topic)
			}
			it = next
		}
	}
	slices.Sort(got)
	require.Equal(t, []string{"logs/d0", "logs/d9"}, got)

	// A second check with nothing new to delete writes nothing.
	db.enforceRetention()
	require.Equal(t, m.Retention.RangeDeletes, db.Metrics().Retention.RangeDeletes)
}

// TestRetentionClassesRandomized compares what readers see with a naive model: a message is
// visible iff now - ts < the period of the first class matching its topic (else Period).
// Writes, clock moves, retention checks (with range deletes), long-lived readers, generation
// rotation. DS_RETENTION_SEED=<n> replays a seed.
func TestRetentionClassesRandomized(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("DS_RETENTION_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for r := range rounds {
		s := seed + uint64(r)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			t.Logf("replay with DS_RETENTION_SEED=%d", s)
			runRetentionRandom(t, s)
		})
	}
}

type classModelMsg struct {
	topic   string
	ts      uint64
	payload string
}

func runRetentionRandom(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	classes := []RetentionClass{
		{"logs/debug/#", 20 * time.Millisecond},
		{"logs/#", 80 * time.Millisecond},
		{"+/fast", 30 * time.Millisecond},
		{"$SYS/#", 500 * time.Millisecond},
	}
	rng.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
	classes = classes[:1+rng.IntN(len(classes))]
	opts := classOptions(clock, classes...)
	opts.Layout = []layout.Options{
		{EpochBits: 10, Thresholds: []int{2}},
		{EpochBits: layout.NoEpochBits, Thresholds: []int{2}},
		{EpochBits: 64, Thresholds: []int{1}},
		{Kind: layout.KindReference},
	}[rng.IntN(4)]
	opts.Retention.Period = 200 * time.Millisecond
	opts.Retention.RotationInterval = time.Duration(50+rng.IntN(150)) * time.Millisecond
	t.Logf("classes %v, layout %+v, rotation %v", classes, opts.Layout, opts.Retention.RotationInterval)
	db := openTest(t, "db", opts)
	cl := compileClasses(opts.Retention)
	ctx := context.Background()

	topics := []string{"logs/a", "logs/b", "logs/c", "logs/debug/1", "logs/debug/2", "logs", "x/fast", "y/fast",
		"z/slow", "m/1/2", "$SYS/up", "$SYS/load/1", "other"}
	var model []classModelMsg
	seq := 0
	// Long-lived readers of a few filters: what they get must be live when they get it, each
	// message at most once.
	type reader struct {
		filter string
		its    map[string]Iterator // by marshalled stream
		got    map[string]bool
	}
	var readers []*reader
	for _, f := range []string{"logs/#", "#", "+/fast", "$SYS/#"} {
		readers = append(readers, &reader{filter: f, its: map[string]Iterator{}, got: map[string]bool{}})
	}
	readStep := func(r *reader) {
		streams, err := db.GetStreams(r.filter, 0)
		require.NoError(t, err)
		for _, rs := range streams {
			b, _ := rs.Stream.MarshalBinary()
			it, ok := r.its[string(b)]
			if !ok {
				it, err = db.MakeIterator(rs.Stream, r.filter, 0)
				require.NoError(t, err)
			}
			for range 1 + rng.IntN(3) {
				msgs, next, err := db.Next(ctx, it, 1+rng.IntN(4))
				if errors.Is(err, ErrEndOfStream) || errors.Is(err, ErrGenerationNotFound) {
					break
				}
				require.NoError(t, err)
				now := timestampOf(clock.t)
				for _, m := range msgs {
					require.False(t, cl.expired(m.Topic, m.Timestamp, now), "%s@%d returned at %d", m.Topic, m.Timestamp, now)
					require.False(t, r.got[string(m.Payload)], "%s returned twice", m.Payload)
					r.got[string(m.Payload)] = true
				}
				it = next
			}
			r.its[string(b)] = it
		}
	}

	for step := range 300 {
		switch op := rng.IntN(10); {
		case op < 5:
			tp := topics[rng.IntN(len(topics))]
			seq++
			p := strconv.Itoa(seq)
			require.NoError(t, db.Store(ctx, []Message{msg("c"+strconv.Itoa(rng.IntN(3)), tp, p)}, Sync))
			all := readAllTopics(t, db)
			model = append(model, classModelMsg{topic: tp, ts: all[p], payload: p})
		case op < 7:
			clock.t = clock.t.Add(time.Duration(rng.IntN(15000)) * time.Microsecond)
		case op < 8:
			db.enforceRetention()
		default:
			readStep(readers[rng.IntN(len(readers))])
		}
		if step%25 == 0 || step == 299 {
			now := timestampOf(clock.t)
			var want []string
			for _, m := range model {
				if !cl.expired(m.topic, m.ts, now) {
					want = append(want, m.payload)
				}
			}
			got := readAllTopics(t, db)
			var have []string
			for p := range got {
				have = append(have, p)
			}
			require.ElementsMatch(t, want, have, "step %d at %d", step, now)
		}
	}
	m := db.Metrics()
	t.Logf("expired %d, range deletes %d, generations %d live %d dropped", m.Retention.Expired, m.Retention.RangeDeletes,
		m.Generations.Live, m.Generations.Dropped)
	require.Zero(t, m.Generations.RetentionErrors)
}

// readAllTopics reads every message ("#" and "$SYS/#") and returns timestamp by payload.
func readAllTopics(t *testing.T, db *DB) map[string]uint64 {
	out := map[string]uint64{}
	for _, f := range []string{"#", "$SYS/#"} {
		for _, m := range readAll(t, db, f, 0) {
			out[string(m.Payload)] = m.Timestamp
		}
	}
	return out
}

// TestWatchMessagesSkipsKVCommits: a messages-only watcher sleeps through KV-only commits,
// a plain watcher does not.
func TestWatchMessagesSkipsKVCommits(t *testing.T) {
	db := openTest(t, "db", testOptions())
	ctx := context.Background()
	tbl, err := db.Table("state")
	require.NoError(t, err)
	shard := db.ShardOf("c")
	all, err := db.Watch(shard)
	require.NoError(t, err)
	defer all.Close()
	msgs, err := db.WatchMessages(shard)
	require.NoError(t, err)
	defer msgs.Close()
	signalled := func(w *Watcher) bool {
		select {
		case <-w.C:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}
	require.NoError(t, tbl.Put(ctx, shard, []byte("k"), []byte("v")))
	require.True(t, signalled(all))
	require.False(t, signalled(msgs), "a KV-only commit woke a messages-only watcher")

	require.NoError(t, db.Store(ctx, []Message{msg("c", "t", "p")}, Sync))
	require.True(t, signalled(all))
	require.True(t, signalled(msgs))

	b := db.NewBatch(shard)
	b.Put(tbl, []byte("k"), []byte("v2"))
	b.AddMessage(&Message{ClientID: "c", Topic: "t", Payload: []byte("q")})
	require.NoError(t, db.Apply(ctx, b, Sync))
	require.True(t, signalled(msgs), "a batch with a message and KV writes")

	msgs.Close()
	_, open := <-msgs.C
	require.False(t, open)
}

// TestRetentionClassLoop runs the background check with a real clock: it ticks at a quarter of
// the shortest class period (not of the 1 h rotation), so a 50 ms class leaves storage soon,
// while writers keep writing and the rest stays.
func TestRetentionClassLoop(t *testing.T) {
	opts := testOptions()
	opts.Layout = layout.Options{EpochBits: 10}
	opts.Retention = RetentionOptions{Period: time.Hour, Classes: []RetentionClass{{"logs/#", 50 * time.Millisecond}}}
	db := openTest(t, "db", opts)
	ctx := context.Background()
	for i := range 20 {
		require.NoError(t, db.Store(ctx, []Message{msg("c", fmt.Sprintf("logs/%d", i%3), "l"), msg("c", "keep", "k")}, Sync))
	}
	// A check may range-delete a logs stream while the loop above still writes to it (a slow
	// machine takes longer than the class period for 20 synced stores), so wait for both: the
	// deletes, and no logs message left, however late it was written.
	var left []string
	require.Eventually(t, func() bool {
		require.NoError(t, db.Store(ctx, []Message{msg("w", "keep/live", "x")}, NoWait))
		left = left[:0]
		for _, tp := range readTopics(t, db) {
			if strings.HasPrefix(tp, "logs/") {
				left = append(left, tp)
			}
		}
		return db.Metrics().Retention.RangeDeletes >= 3 && len(left) == 0
	}, 10*time.Second, 5*time.Millisecond, "the logs streams were not range-deleted, or outlived their class: %v", left)
	require.Contains(t, readTopics(t, db), "keep", "a topic in no class stays")
	require.Zero(t, db.Metrics().Generations.RetentionErrors)
}

// TestRetentionPeriodShorterThanClass: with a class longer than Period, generations live as
// long as the class, but streams of topics in no class lose their keys once Period has passed.
func TestRetentionPeriodShorterThanClass(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	opts := classOptions(clock, RetentionClass{"audit/#", 3 * time.Hour})
	opts.NumShards = 1
	db := openTest(t, "db", opts)
	ctx := context.Background()
	for _, tp := range []string{"audit/a", "dev/1", "dev/2", "audit/a", "dev/1"} {
		require.NoError(t, db.Store(ctx, []Message{msg("c", tp, "p")}, Sync))
		clock.t = clock.t.Add(3 * time.Millisecond)
	}
	clock.t = clock.t.Add(time.Hour)
	db.enforceRetention()
	require.Equal(t, 2, messageKeys(t, db, 0), "the dev streams went, audit stays")
	require.Equal(t, []string{"audit/a", "audit/a"}, readTopics(t, db))
	require.Equal(t, uint64(2), db.Metrics().Retention.RangeDeletes)
	clock.t = clock.t.Add(2 * time.Hour)
	db.enforceRetention()
	require.Empty(t, readTopics(t, db))
}
