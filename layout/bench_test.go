package layout

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The fleet fixture: 100,000 topics site/{0..99}/dev/{0..999}/temp, benchFleetMessages
// messages in random topic order, one every 100 µs (the fleet writes 10,000 messages/s, ~50
// epochs of 2^20 µs in all), written through both layouts into one pebble DB and flushed to
// sstables. With the default thresholds the trie keeps 20 sites and 20 devices per site
// concrete; everything else (~78k topics) shares the stream site/+/dev/+/temp.
const (
	benchFleetMessages = 500_000
	benchTick          = 100 // µs between messages
)

type fleet struct {
	db        *pebble.DB
	ref, wild Layout
	until     uint64
	device    string // a topic of the shared stream
	perDevice int    // messages of that topic
}

var (
	fleetOnce sync.Once
	theFleet  *fleet
)

func benchFleet(b *testing.B) *fleet {
	fleetOnce.Do(func() {
		db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quietLogger{}})
		if err != nil {
			b.Fatal(err)
		}
		f := &fleet{db: db}
		var cb CookedBatch
		if f.ref, err = Create([]byte("r"), Options{Kind: KindReference}, nil, &cb); err != nil {
			b.Fatal(err)
		}
		if f.wild, err = Create([]byte("w"), Options{}, nil, &cb); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		ts := uint64(1_700_000_000_000_000)
		entries := make([]Entry, 0, 1000)
		value := make([]byte, 64)
		for i := 0; i < benchFleetMessages; i++ {
			s, d := rng.IntN(100), rng.IntN(1000)
			topic := fmt.Sprintf("site/%d/dev/%d/temp", s, d)
			if i == benchFleetMessages/100 {
				// The fleet has taught the trie its wildcards: pick a device that falls
				// into the shared two-wildcard stream.
				f.device = sharedStreamTopic(b, f.wild.(*wildcard))
			}
			if i%(benchFleetMessages/50) == benchFleetMessages/100 {
				topic = f.device // the replayed device publishes now and then
			}
			if topic == f.device {
				f.perDevice++
			}
			ts += benchTick
			entries = append(entries, Entry{Topic: topic, Timestamp: ts, Value: value})
			if len(entries) == cap(entries) {
				benchCommit(b, f, entries, &cb)
				entries = entries[:0]
			}
		}
		benchCommit(b, f, entries, &cb)
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		f.until = ts + 1
		// The device must be one topic among many of a two-wildcard stream.
		streams := f.wild.Streams(splitLevels(f.device))
		st, err := f.wild.(*wildcard).decodeStream(streams[0])
		if len(streams) != 1 || err != nil || len(st.varying) != 2 {
			b.Fatalf("device %s is not in the shared site/+/dev/+/temp stream", f.device)
		}
		theFleet = f
	})
	return theFleet
}

// sharedStreamTopic returns a fleet topic that the trie maps to site/+/dev/+/temp.
func sharedStreamTopic(b *testing.B, w *wildcard) string {
	for s := 99; s >= 0; s-- {
		for d := 999; d >= 0; d-- {
			topic := fmt.Sprintf("site/%d/dev/%d/temp", s, d)
			if _, varying, ok := w.trie.Lookup(splitLevels(topic)); ok && len(varying) == 2 {
				return topic
			}
		}
	}
	b.Fatal("no fleet topic in a two-wildcard stream")
	return ""
}

func benchCommit(b *testing.B, f *fleet, entries []Entry, cb *CookedBatch) {
	if err := f.ref.Prepare(entries, cb); err != nil {
		b.Fatal(err)
	}
	if err := f.wild.Prepare(entries, cb); err != nil {
		b.Fatal(err)
	}
	pb := f.db.NewBatch()
	for _, w := range cb.Writes {
		if err := pb.Set(w.Key, w.Value, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := pb.Commit(pebble.NoSync); err != nil {
		b.Fatal(err)
	}
	cb.Writes = cb.Writes[:0]
}

// replay reads every stream of filter to the end (closed generation) in batches of n and
// returns the messages read.
func replay(b *testing.B, l Layout, db pebble.Reader, filter []string, n int, until uint64, stats *Stats) int {
	got := 0
	for _, s := range l.Streams(filter) {
		pos, err := l.NewPosition(s, filter, 0)
		if err != nil {
			b.Fatal(err)
		}
		for {
			items, next, err := l.Next(db, s, filter, pos, n, ReadBounds{Visible: until, Closed: true}, stats)
			if err != nil {
				b.Fatal(err)
			}
			if len(items) == 0 {
				break
			}
			got += len(items)
			pos = next
		}
	}
	return got
}

// BenchmarkDeviceReplay replays one device topic of the 100k-topic fleet through both layouts
// in the same run. keys/msg = (seeks + nexts) / messages returned; the ratio is the reference
// figure over the wildcard one.
func BenchmarkDeviceReplay(b *testing.B) {
	f := benchFleet(b)
	filter := splitLevels(f.device)
	keysPerMsg := map[string]float64{}
	for _, tc := range []struct {
		name string
		l    Layout
	}{{"wildcard", f.wild}, {"reference", f.ref}} {
		b.Run(tc.name, func(b *testing.B) {
			var stats Stats
			msgs := 0
			for b.Loop() {
				msgs += replay(b, tc.l, f.db, filter, 100, f.until, &stats)
			}
			if msgs != f.perDevice*b.N {
				b.Fatalf("read %d messages, want %d", msgs, f.perDevice*b.N)
			}
			k := float64(stats.Seeks+stats.Nexts) / float64(msgs)
			keysPerMsg[tc.name] = k
			b.ReportMetric(k, "keys/msg")
			b.ReportMetric(float64(stats.Seeks)/float64(b.N), "seeks/op")
			b.ReportMetric(float64(stats.Nexts)/float64(b.N), "nexts/op")
			b.ReportMetric(float64(stats.Collisions)/float64(b.N), "collisions/op")
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	if w, r := keysPerMsg["wildcard"], keysPerMsg["reference"]; w > 0 && r > 0 {
		b.Logf("keys read per message: wildcard %.1f, reference %.0f: %.0f× fewer", w, r, r/w)
	}
}

// BenchmarkStreamReplay replays the whole shared stream (site/+/dev/+/temp) of the closed
// generation in batches of 1000 on one goroutine.
func BenchmarkStreamReplay(b *testing.B) {
	f := benchFleet(b)
	filter := splitLevels("site/+/dev/+/temp")
	for _, tc := range []struct {
		name string
		l    Layout
	}{{"wildcard", f.wild}, {"reference", f.ref}} {
		b.Run(tc.name, func(b *testing.B) {
			var stats Stats
			msgs := 0
			for b.Loop() {
				msgs += replay(b, tc.l, f.db, filter, 1000, f.until, &stats)
			}
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(stats.Seeks)/float64(b.N), "seeks/op")
			b.ReportMetric(float64(stats.Nexts)/float64(b.N), "nexts/op")
			b.ReportMetric(float64(stats.Collisions)/float64(b.N), "collisions/op")
		})
	}
}

// BenchmarkTail follows the fleet live: each op commits a batch of 100 messages (10,000
// messages/s of fleet time) and then a reader of site/+/dev/+/temp reads everything that became
// visible. It measures what reading the open epoch in time order costs (one seek per hash
// group of the open epoch per read) against the epoch length, with the reference layout as
// the baseline. keys/msg = (seeks + nexts) / messages delivered.
func BenchmarkTail(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"wildcard/epoch20", Options{}},
		{"wildcard/epoch16", Options{EpochBits: 16}},
		{"wildcard/epoch12", Options{EpochBits: 12}},
		{"reference", Options{Kind: KindReference}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quietLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var cb CookedBatch
			l, err := Create([]byte("g"), tc.opts, nil, &cb)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(2, 2))
			ts := uint64(1_700_000_000_000_000)
			write := func(n int) {
				entries := make([]Entry, n)
				for i := range entries {
					ts += benchTick
					entries[i] = Entry{Topic: fmt.Sprintf("site/%d/dev/%d/temp", rng.IntN(100), rng.IntN(1000)), Timestamp: ts, Value: make([]byte, 64)}
				}
				if err := l.Prepare(entries, &cb); err != nil {
					b.Fatal(err)
				}
				pb := db.NewBatch()
				for _, w := range cb.Writes {
					_ = pb.Set(w.Key, w.Value, nil)
				}
				if err := pb.Commit(pebble.NoSync); err != nil {
					b.Fatal(err)
				}
				cb.Writes = cb.Writes[:0]
			}
			for range 200 {
				write(100) // the fleet's history: the trie has learned its wildcards
			}
			filter := splitLevels("site/+/dev/+/temp")
			positions := map[string]Position{}
			var order []string
			var stats Stats
			msgs := 0
			b.ResetTimer()
			for b.Loop() {
				write(100)
				bounds := ReadBounds{Visible: ts + 1}
				for _, s := range l.Streams(filter) {
					if _, ok := positions[string(s)]; !ok {
						positions[string(s)], _ = l.NewPosition(s, filter, ts-100*benchTick+1)
						order = append(order, string(s))
					}
				}
				for _, s := range order {
					for {
						items, pos, err := l.Next(db, Stream(s), filter, positions[s], 1000, bounds, &stats)
						if err != nil {
							b.Fatal(err)
						}
						positions[s] = pos
						msgs += len(items)
						if len(items) == 0 {
							break
						}
					}
				}
			}
			if msgs != 100*b.N {
				b.Fatalf("delivered %d messages, want %d", msgs, 100*b.N)
			}
			b.ReportMetric(float64(stats.Seeks+stats.Nexts)/float64(msgs), "keys/msg")
			b.ReportMetric(float64(stats.Seeks)/float64(b.N), "seeks/op")
			b.ReportMetric(float64(stats.Nexts)/float64(b.N), "nexts/op")
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
