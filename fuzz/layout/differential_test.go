package layoutfuzz

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mqttds/mqttds/layout"
)

// fuzzTopics and fuzzFilters are small alphabets: short inputs reach wildcard learning
// (thresholds 0..3), '$' topics, empty levels and, with 8-bit hashes, collisions.
var (
	fuzzTopics = []string{
		"a/b", "a/c", "a/d", "a/e", "a", "a/b/c", "x/y/z", "x/q/z", "x/r/z", "x/s/t",
		"$SYS/a", "$SYS/b", "/a", "a/", "d/d7", "d/d11", "d/d3", "d/d4", "d/d5", "d/d9",
	}
	fuzzFilters = [][]string{
		{"#"}, {"+", "+"}, {"a", "+"}, {"a", "#"}, {"x", "+", "z"}, {"+", "+", "+"},
		{"$SYS", "#"}, {"d", "d7"}, {"d", "+"}, {"+"}, {"", "+"}, {"a", ""},
	}
)

// FuzzWildcardVsReference drives both layouts with one op per input byte pair and checks,
// whenever a reader drains, that the wildcard layout returned exactly what the reference
// layout returned (as a set of (timestamp, topic)), nothing beyond Visible, each topic in
// timestamp order. The first byte picks the options.
func FuzzWildcardVsReference(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 || len(in) > 400 {
			return
		}
		cfg := in[0]
		opts := layout.Options{
			TopicIndexBytes:   []int{2, 4}[cfg&1],
			BitsPerTopicLevel: []int{8, 64}[cfg>>1&1],
			EpochBits:         []int{layout.NoEpochBits, 2, 4, 64}[cfg>>2&3],
			Thresholds:        []int{int(cfg >> 4 & 3)},
		}
		db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var b layout.CookedBatch
		ref, err := layout.Create([]byte("r"), layout.Options{Kind: layout.KindReference}, nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		wild, err := layout.Create([]byte("w"), opts, nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		h := harness{t: t, db: db, ref: ref, wild: wild, readers: map[int]*fuzzReader{}}
		h.commit(&b)
		ts := uint64(0)
		visible := uint64(0)
		for i := 1; i+1 < len(in); i += 2 {
			op, arg := in[i]%4, int(in[i+1])
			switch op {
			case 0: // write one message; the gap spans epochs of 4 µs now and then
				ts += 1 + uint64(arg>>5)
				var b layout.CookedBatch
				e := []layout.Entry{{Topic: fuzzTopics[arg%len(fuzzTopics)], Timestamp: ts, Value: []byte(fmt.Sprint(ts))}}
				if err := ref.Prepare(e, &b); err != nil {
					t.Fatal(err)
				}
				if err := wild.Prepare(e, &b); err != nil {
					t.Fatal(err)
				}
				h.commit(&b)
			case 1: // announce what is committed
				visible = ts + 1
			case 2: // read a batch of arg%5+1 on reader arg%len(filters)
				h.read(arg%len(fuzzFilters), arg%5+1, layout.ReadBounds{Visible: visible}, false)
			case 3: // drain a reader at the current Visible and compare
				h.read(arg%len(fuzzFilters), 1+arg%7, layout.ReadBounds{Visible: visible}, true)
			}
		}
		for fi := range fuzzFilters {
			h.read(fi, 3, layout.ReadBounds{Visible: ts + 1, Closed: true}, true)
		}
	})
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

type fuzzReader struct {
	refPos    layout.Position
	positions map[string]layout.Position
	streams   []layout.Stream
	ref, wild []string
	last      map[string]uint64
}

type harness struct {
	t         *testing.T
	db        *pebble.DB
	ref, wild layout.Layout
	readers   map[int]*fuzzReader
}

func (h *harness) commit(b *layout.CookedBatch) {
	pb := h.db.NewBatch()
	for _, w := range b.Writes {
		if err := pb.Set(w.Key, w.Value, nil); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := pb.Commit(pebble.NoSync); err != nil {
		h.t.Fatal(err)
	}
}

// read reads one batch from every stream of reader fi (drain: until every stream is empty),
// checks the items, and when draining compares both layouts' totals.
func (h *harness) read(fi, n int, bounds layout.ReadBounds, drain bool) {
	filter := fuzzFilters[fi]
	r := h.readers[fi]
	if r == nil {
		r = &fuzzReader{positions: map[string]layout.Position{}, last: map[string]uint64{}}
		r.refPos, _ = h.ref.NewPosition(h.ref.Streams(filter)[0], filter, 0)
		h.readers[fi] = r
	}
	check := func(items []layout.Item, got *[]string, perTopic bool) {
		if len(items) > n {
			h.t.Fatalf("%d items for n=%d", len(items), n)
		}
		for _, it := range items {
			if it.Timestamp >= bounds.Visible {
				h.t.Fatalf("%s@%d returned at Visible %d", it.Topic, it.Timestamp, bounds.Visible)
			}
			if perTopic {
				if last, ok := r.last[it.Topic]; ok && it.Timestamp <= last {
					h.t.Fatalf("%s: %d after %d", it.Topic, it.Timestamp, last)
				}
				r.last[it.Topic] = it.Timestamp
			}
			*got = append(*got, fmt.Sprintf("%d %s", it.Timestamp, it.Topic))
		}
	}
	for {
		items, pos, err := h.ref.Next(h.db, h.ref.Streams(filter)[0], filter, r.refPos, n, bounds, &layout.Stats{})
		if err != nil {
			h.t.Fatal(err)
		}
		check(items, &r.ref, false)
		r.refPos = pos
		if !drain || len(items) == 0 {
			break
		}
	}
	for _, s := range h.wild.Streams(filter) {
		if _, ok := r.positions[string(s)]; !ok {
			r.positions[string(s)], _ = h.wild.NewPosition(s, filter, 0)
			r.streams = append(r.streams, s)
		}
	}
	for _, s := range r.streams {
		for {
			items, pos, err := h.wild.Next(h.db, s, filter, r.positions[string(s)], n, bounds, &layout.Stats{})
			if err != nil {
				h.t.Fatal(err)
			}
			check(items, &r.wild, true)
			r.positions[string(s)] = pos
			if !drain || len(items) == 0 {
				break
			}
		}
	}
	if drain {
		a, b := slices.Sorted(slices.Values(r.ref)), slices.Sorted(slices.Values(r.wild))
		if !slices.Equal(a, b) {
			h.t.Fatalf("filter %v at %+v:\nreference %v\nwildcard  %v", filter, bounds, a, b)
		}
	}
}
