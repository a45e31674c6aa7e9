package layout

import (
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

	"github.com/mqttds/mqttds/mqtt/topic"
)

// The differential test runs the wildcard layout and the reference layout side by side over one
// pebble DB, interleaving writes (some committed before ds would make them visible, some
// visible only a step after their commit), reads with random batch sizes, repositioning with
// Item.After, reopening the layout from pebble and replaying batches on a replica. Every read
// must stay below Visible and match its filter; a reader drained at Visible V must have seen
// exactly the messages the reference layout returns below V — late writes included, without
// waiting for their epoch to close — each once, each topic in timestamp order.
//
// Seeds: LAYOUT_SEED=<n> replays one seed; LAYOUT_ROUNDS=<n> runs n random seeds per option
// set (default 2 in -short mode, 4 otherwise).

// differentialOptions are the option sets the differential test covers.
var differentialOptions = []Options{
	{TopicIndexBytes: 2, BitsPerTopicLevel: 8, EpochBits: NoEpochBits, Thresholds: []int{4, 3}},
	{TopicIndexBytes: 4, BitsPerTopicLevel: 64, EpochBits: 4, Thresholds: []int{4, 3}},
	{TopicIndexBytes: 2, BitsPerTopicLevel: 8, EpochBits: 4, Thresholds: []int{3, 2}},
	{TopicIndexBytes: 4, BitsPerTopicLevel: 8, EpochBits: 20, Thresholds: []int{4, 0, 3}},
	{TopicIndexBytes: 4, BitsPerTopicLevel: 64, EpochBits: 20, Thresholds: []int{100, 20}},
	{TopicIndexBytes: 3, BitsPerTopicLevel: 13, EpochBits: 64, Thresholds: []int{2}},
}

func TestDifferential(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	if v := os.Getenv("LAYOUT_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		rounds = n
	}
	seeds := make([]uint64, rounds)
	for i := range seeds {
		seeds[i] = uint64(time.Now().UnixNano()) + uint64(i)*7919
	}
	if v := os.Getenv("LAYOUT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
		seeds = []uint64{s}
	}
	for oi, opts := range differentialOptions {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("opts%d/seed%d", oi, seed), func(t *testing.T) {
				t.Logf("replay with LAYOUT_SEED=%d go test -run 'TestDifferential/opts%d/'", seed, oi)
				c := runDifferential(t, opts, seed)
				if opts.BitsPerTopicLevel == 8 {
					require.NotZero(t, c, "8-bit hashes never collided: the test lost its edge")
				}
			})
		}
	}
}

// diffReader is one subscriber: a filter and a start time, read through both layouts.
type diffReader struct {
	filter    []string
	since     uint64
	refPos    Position
	streams   []string            // wildcard streams in discovery order
	positions map[string]Position // by stream
	gotRef    []Item
	gotWild   []Item
}

type diffEnv struct {
	t        *testing.T
	rng      *rand.Rand
	db       *pebble.DB
	opts     Options
	ref      Layout
	wild     Layout
	replica  Layout // fed by Apply only
	visible  uint64
	closed   bool
	readers  []*diffReader
	stats    Stats
	topics   []string
	filters  []string
	nextTs   uint64
	epochLen uint64
}

// runDifferential runs one seed and returns the collisions the wildcard layout counted.
func runDifferential(t *testing.T, opts Options, seed uint64) uint64 {
	e := &diffEnv{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), db: openMemDB(t), opts: opts}
	e.epochLen = 1 << uint(min(max(opts.EpochBits, 0), 40))
	var b CookedBatch
	var err error
	e.ref, err = Create([]byte("r/"), Options{Kind: KindReference}, nil, &b)
	require.NoError(t, err)
	e.wild, err = Create([]byte("w/"), opts, nil, &b)
	require.NoError(t, err)
	e.replica, err = Create([]byte("w/"), opts, nil, &CookedBatch{})
	require.NoError(t, err)
	commit(t, e.db, &b)
	e.makeTopics()
	e.nextTs = e.rng.Uint64N(1 << 30)
	e.visible = e.nextTs

	for range 3 {
		e.addReader()
	}
	for i := range 2 {
		e.addReaderOf(e.filters[len(e.filters)-10+i]) // one-device filters
	}
	// col/d7 and col/d11 share the top 8 bits of their xxh3: once the fillers have taught
	// the trie a wildcard at col/+, a reader of col/d7 meets col/d11 as a collision whenever
	// hashes are 8 bits wide.
	var fill CookedBatch
	var fillers []Entry
	for i := range 25 {
		e.nextTs++
		fillers = append(fillers, Entry{Topic: fmt.Sprintf("col/f%d", i), Timestamp: e.nextTs, Value: []byte(strconv.FormatUint(e.nextTs, 36))})
	}
	require.NoError(t, e.ref.Prepare(fillers, &fill))
	require.NoError(t, e.wild.Prepare(fillers, &fill))
	require.NoError(t, e.replica.Apply(&fill))
	commit(t, e.db, &fill)
	e.nextTs++
	e.visible = e.nextTs
	e.addReaderOf("col/d7")
	var pending []CookedBatch // committed, not yet visible
	steps := 150 + e.rng.IntN(100)
	for step := range steps {
		switch r := e.rng.IntN(20); {
		case r < 8:
			b := e.write()
			commit(t, e.db, &b)
			if e.rng.IntN(4) == 0 {
				// Committed but not yet announced: readers must not see it.
				pending = append(pending, b)
				continue
			}
			e.visible = e.nextTs
			pending = nil
		case r < 15:
			e.readStep(e.readers[e.rng.IntN(len(e.readers))])
		case r < 16:
			e.addReader()
		case r < 17:
			e.reopen()
		case r < 18:
			e.visible = e.nextTs
			pending = nil
			e.drainAndCheck(e.readers[e.rng.IntN(len(e.readers))])
		default:
			e.visible = e.nextTs
			pending = nil
			e.readStep(e.readers[e.rng.IntN(len(e.readers))])
		}
		_ = step
	}
	// Close the generation: every reader reads to the end.
	e.visible = e.nextTs
	e.closed = true
	for _, r := range e.readers {
		e.drainAndCheck(r)
	}
	for _, f := range e.filters {
		require.Equal(t, e.wild.Streams(splitLevels(f)), e.replica.Streams(splitLevels(f)), "replica trie differs for %s", f)
	}
	return e.stats.Collisions
}

// makeTopics draws the topic population: a fleet that learns wildcards, a few fixed topics,
// '$' topics and topics with empty levels.
func (e *diffEnv) makeTopics() {
	sites, devs := 2+e.rng.IntN(6), 50+e.rng.IntN(300)
	for range 40 + e.rng.IntN(60) {
		e.topics = append(e.topics, fmt.Sprintf("site/%d/dev/%d/temp", e.rng.IntN(sites), e.rng.IntN(devs)))
	}
	for i := range 5 {
		e.topics = append(e.topics, fmt.Sprintf("site/%d/dev/%d/hum", i, e.rng.IntN(devs)))
	}
	e.topics = append(e.topics, "a/b", "a/b/c", "a", "$SYS/uptime", "$SYS/load/1", "x//y", "/lead", "tail/")
	for range 4 {
		e.topics = append(e.topics, "col/d7", "col/d11")
	}
	for i := range 30 {
		e.topics = append(e.topics, fmt.Sprintf("m/%d", i*e.rng.IntN(1000)))
	}
	e.filters = []string{"#", "+/+/+/+/+", "site/+/dev/+/temp", "$SYS/#", "+", "a/#", "m/+", "+//+", "/#", "col/d7", "col/+"}
	for range 4 {
		// One device: with narrow hashes, other devices of its stream collide with it.
		e.filters = append(e.filters, "site/+/"+strings.Join(splitLevels(e.topics[e.rng.IntN(40)])[2:], "/"))
	}
	for range 6 {
		levels := splitLevels(e.topics[e.rng.IntN(len(e.topics))])
		for i := range levels {
			if e.rng.IntN(3) == 0 {
				levels[i] = "+"
			}
		}
		if e.rng.IntN(4) == 0 {
			levels = append(levels[:e.rng.IntN(len(levels))], "#")
		}
		e.filters = append(e.filters, strings.Join(levels, "/"))
	}
}

func (e *diffEnv) addReader() { e.addReaderOf(e.filters[e.rng.IntN(len(e.filters))]) }

func (e *diffEnv) addReaderOf(f string) {
	since := e.visible - min(e.visible, e.rng.Uint64N(3*e.epochLen+50))
	if e.rng.IntN(5) == 0 {
		since = 0
	}
	r := &diffReader{filter: splitLevels(f), since: since, positions: map[string]Position{}}
	var err error
	r.refPos, err = e.ref.NewPosition(e.ref.Streams(r.filter)[0], r.filter, since)
	require.NoError(e.t, err)
	e.readers = append(e.readers, r)
}

// write prepares one batch of entries in both layouts (and replays it on the replica).
func (e *diffEnv) write() CookedBatch {
	var entries []Entry
	for range 1 + e.rng.IntN(12) {
		switch r := e.rng.IntN(10); {
		case r < 6:
			e.nextTs += 1 + e.rng.Uint64N(3)
		case r < 9:
			e.nextTs += 1 + e.rng.Uint64N(e.epochLen)
		default:
			e.nextTs += 1 + e.rng.Uint64N(4*e.epochLen)
		}
		entries = append(entries, Entry{
			Topic:     e.topics[e.rng.IntN(len(e.topics))],
			Timestamp: e.nextTs,
			Value:     []byte(strconv.FormatUint(e.nextTs, 36)),
		})
	}
	e.nextTs++
	var b CookedBatch
	require.NoError(e.t, e.ref.Prepare(entries, &b))
	require.NoError(e.t, e.wild.Prepare(entries, &b))
	require.NoError(e.t, e.replica.Apply(&b))
	require.NoError(e.t, e.wild.Apply(&b)) // its own batch: a no-op
	return b
}

func (e *diffEnv) bounds() ReadBounds { return ReadBounds{Visible: e.visible, Closed: e.closed} }

// readStep reads one batch from every stream of r in both layouts, and sometimes moves the
// wildcard positions back to the After of an item it returned (a partial acknowledgement).
func (e *diffEnv) readStep(r *diffReader) {
	n := 1 + e.rng.IntN(7)
	items, pos, err := e.ref.Next(e.db, e.ref.Streams(r.filter)[0], r.filter, r.refPos, n, e.bounds(), &Stats{})
	require.NoError(e.t, err)
	e.checkItems(r, items, n)
	r.refPos = pos
	r.gotRef = append(r.gotRef, items...)

	e.refreshStreams(r)
	l := e.wild
	if e.rng.IntN(3) == 0 {
		l = e.replica // same keys in the same DB; its state comes from Apply only
	}
	for _, s := range r.streams {
		items, pos, err := l.Next(e.db, Stream(s), r.filter, r.positions[s], n, e.bounds(), &e.stats)
		require.NoError(e.t, err)
		other := l
		if e.rng.IntN(8) == 0 {
			// A layout restored from pebble has none of the in-memory accelerators (recent
			// index, idle streams) warm: the result must not depend on them.
			var err error
			other, err = Open(e.db, []byte("w/"), e.opts)
			require.NoError(e.t, err)
		}
		again, pos2, err := other.Next(e.db, Stream(s), r.filter, r.positions[s], n, e.bounds(), &Stats{})
		require.NoError(e.t, err)
		require.Equal(e.t, items, again, "Next is not deterministic")
		require.Equal(e.t, pos, pos2, "Next is not deterministic")
		e.checkItems(r, items, n)
		if len(items) > 1 && e.rng.IntN(3) == 0 {
			k := e.rng.IntN(len(items))
			items, pos = items[:k+1], items[k].After
		}
		r.positions[s] = pos
		r.gotWild = append(r.gotWild, items...)
	}
}

// refreshStreams adds the streams that appeared since r last looked, as ds does.
func (e *diffEnv) refreshStreams(r *diffReader) {
	for _, s := range e.wild.Streams(r.filter) {
		if _, ok := r.positions[string(s)]; ok {
			continue
		}
		pos, err := e.wild.NewPosition(s, r.filter, r.since)
		require.NoError(e.t, err)
		r.streams = append(r.streams, string(s))
		r.positions[string(s)] = pos
	}
}

func (e *diffEnv) checkItems(r *diffReader, items []Item, n int) {
	require.LessOrEqual(e.t, len(items), n)
	for _, it := range items {
		require.Less(e.t, it.Timestamp, e.visible, "item %s@%d is not visible yet", it.Topic, it.Timestamp)
		require.GreaterOrEqual(e.t, it.Timestamp, r.since)
		require.True(e.t, topic.MatchLevels(r.filter, []byte(it.Topic)), "%s does not match %s", it.Topic, strings.Join(r.filter, "/"))
		require.Equal(e.t, strconv.FormatUint(it.Timestamp, 36), string(it.Value))
	}
}

// drainAndCheck reads r to the end of what is visible in both layouts and compares.
func (e *diffEnv) drainAndCheck(r *diffReader) {
	ref := e.ref.Streams(r.filter)[0]
	items, pos := readAll(e.t, e.ref, e.db, ref, r.filter, r.refPos, 1+e.rng.IntN(50), e.bounds(), &Stats{})
	r.refPos = pos
	r.gotRef = append(r.gotRef, items...)
	e.refreshStreams(r)
	for _, s := range r.streams {
		items, pos := readAll(e.t, e.wild, e.db, Stream(s), r.filter, r.positions[s], 1+e.rng.IntN(50), e.bounds(), &e.stats)
		r.positions[s] = pos
		r.gotWild = append(r.gotWild, items...)
	}
	for _, it := range r.gotRef {
		require.Less(e.t, it.Timestamp, e.visible)
	}
	require.Equal(e.t, summarize(r.gotRef), summarize(r.gotWild), "filter %s since %d visible %d",
		strings.Join(r.filter, "/"), r.since, e.visible)
	requirePerTopicOrder(e.t, r.gotRef)
	requirePerTopicOrder(e.t, r.gotWild)
}

// summarize returns the (topic, ts) multiset of items as a sorted list.
func summarize(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("%020d %s", it.Timestamp, it.Topic)
	}
	slices.Sort(out)
	return out
}

func requirePerTopicOrder(t testing.TB, items []Item) {
	last := map[string]uint64{}
	for _, it := range items {
		if prev, ok := last[it.Topic]; ok {
			require.Greater(t, it.Timestamp, prev, "topic %s out of order", it.Topic)
		}
		last[it.Topic] = it.Timestamp
	}
}

// reopen replaces the wildcard layout by one restored from pebble: positions and streams are
// bytes and stay valid.
func (e *diffEnv) reopen() {
	before := make([][]Stream, len(e.filters))
	for i, f := range e.filters {
		before[i] = e.wild.Streams(splitLevels(f))
	}
	l, err := Open(e.db, []byte("w/"), e.opts)
	require.NoError(e.t, err)
	require.NoError(e.t, e.wild.Close())
	e.wild = l
	for i, f := range e.filters {
		require.Equal(e.t, before[i], e.wild.Streams(splitLevels(f)), "streams of %s changed on reopen", f)
	}
}
