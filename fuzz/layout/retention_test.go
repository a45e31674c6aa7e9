package layoutfuzz

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

// classLevels is the alphabet of the class-matcher target: short inputs reach '+' learning
// (thresholds 0..3), '$' topics and empty levels.
var classLevels = []string{"a", "b", "c", "", "$s", "d"}

// FuzzStreamsWithin checks the retention class matcher of the wildcard layout against brute
// force. The input picks the options (first byte), a class filter (bytes up to the first 0xff:
// each a level from classLevels, '+' or '#'), a cut time (next byte) and topics (the rest, one
// topic per byte pair: up to four levels). Every topic is written once; then:
//
//   - every stream StreamsWithin returns is a whole stream (as "#" lists it: no level
//     constrained), and every message read back from it matches the filter
//     (topictest.NaiveMatch): the layout never claims a stream is inside a class when some
//     topic of it is not;
//   - every stream holding a topic that matches the filter is among StreamsOverlapping, and
//     every stream inside is too;
//   - after range-deleting SpanBefore(cut) of the streams inside, every message that is gone
//     matches the filter and is older than the cut.
func FuzzStreamsWithin(f *testing.F) {
	f.Add([]byte{0x00, 0, 0xfe, 0xff, 9, 0, 1, 4, 1, 8, 1, 12, 1, 16, 1})
	f.Add([]byte{0x15, 0, 7, 0xff, 20, 0, 0, 4, 0, 8, 0, 12, 0, 0, 2, 1, 3})
	f.Add([]byte{0x2a, 7, 0, 0xff, 3, 0x11, 0x11, 0x21, 0x31, 0x41, 0x51, 4, 4})
	f.Add([]byte{0x07, 6, 0xfe, 0xff, 40, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 1, 0, 2, 0})
	f.Add([]byte{0x3c, 4, 0xfe, 0xff, 100, 0x40, 0, 0x40, 1, 0x40, 2, 0x40, 3, 0x40, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 || len(in) > 300 {
			return
		}
		cfg := in[0]
		opts := layout.Options{
			TopicIndexBytes:   []int{2, 4}[cfg&1],
			BitsPerTopicLevel: []int{8, 64}[cfg>>1&1],
			EpochBits:         []int{layout.NoEpochBits, 1, 3, 64}[cfg>>2&3],
			Thresholds:        []int{int(cfg >> 4 & 3)},
		}
		filter, rest := classFilter(in[1:])
		if filter == nil || len(rest) < 1 {
			return
		}
		cut := uint64(rest[0]) + 1
		topics := fuzzClassTopics(rest[1:])

		db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var b layout.CookedBatch
		wild, err := layout.Create([]byte("w"), opts, nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		h := harness{t: t, db: db}
		h.commit(&b)
		for i, tp := range topics {
			// Timestamps 2 apart: several epochs of 2 or 8 µs, around the cut.
			ts := uint64(2*i + 1)
			if err := wild.Prepare([]layout.Entry{{Topic: tp, Timestamp: ts, Value: []byte(strconv.FormatUint(ts, 10))}}, &b); err != nil {
				t.Fatal(err)
			}
			h.commit(&b)
		}
		bounds := layout.ReadBounds{Visible: uint64(2*len(topics) + 2), Closed: true}
		fs := strings.Join(filter, "/")
		// Whole streams: what "#" and "$s/#" return constrain no level, so reading one yields
		// every topic of the stream.
		whole := map[string]bool{}
		for _, f := range [][]string{{"#"}, {"$s", "#"}} {
			for _, s := range wild.Streams(f) {
				whole[string(s)] = true
			}
		}
		overlapping := map[string]bool{}
		for _, s := range wild.StreamsOverlapping(filter) {
			overlapping[string(s)] = true
		}
		for s := range whole {
			if overlapping[s] {
				continue
			}
			for _, it := range readStream(t, db, wild, layout.Stream(s), bounds) {
				if topictest.NaiveMatch(fs, it.Topic) {
					t.Fatalf("stream %x holds %q but is not among those overlapping %q", s, it.Topic, fs)
				}
			}
		}
		within := wild.StreamsWithin(filter)
		for _, s := range within {
			if !overlapping[string(s)] {
				t.Fatalf("StreamsWithin(%q) returned %x, which StreamsOverlapping did not", fs, []byte(s))
			}
			if !whole[string(s)] {
				t.Fatalf("StreamsWithin(%q) returned %x, which is not a whole stream", fs, []byte(s))
			}
			for _, it := range readStream(t, db, wild, s, bounds) {
				if !topictest.NaiveMatch(fs, it.Topic) {
					t.Fatalf("stream %x claimed inside %q holds %q", []byte(s), fs, it.Topic)
				}
			}
		}

		before := readEverything(t, db, wild, bounds)
		if len(before) != len(topics) {
			t.Fatalf("read %d of the %d messages written", len(before), len(topics))
		}
		del := db.NewBatch()
		for _, s := range within {
			if sp, ok := wild.SpanBefore(s, cut); ok {
				if err := del.DeleteRange(sp.Start, sp.End, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := del.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		after := readEverything(t, db, wild, bounds)
		for k, tp := range before {
			if _, kept := after[k]; kept {
				continue
			}
			ts, _ := strconv.ParseUint(k, 10, 64)
			if ts >= cut || !topictest.NaiveMatch(fs, tp) {
				t.Fatalf("%q@%d deleted by class %q before %d", tp, ts, fs, cut)
			}
		}
		if len(after) > len(before) {
			t.Fatalf("%d messages after the delete, %d before", len(after), len(before))
		}
	})
}

// classFilter decodes a filter from bytes up to the first 0xff: 0xfe is '#' (ending the
// filter), 0xfd '+', else a level of classLevels. It returns nil for an empty filter.
func classFilter(in []byte) ([]string, []byte) {
	var filter []string
	for i, c := range in {
		switch {
		case c == 0xff:
			if len(filter) == 0 {
				return nil, nil
			}
			return filter, in[i+1:]
		case len(filter) > 0 && filter[len(filter)-1] == "#":
			// '#' ends the filter: skip to the separator.
		case c == 0xfe:
			filter = append(filter, "#")
		case c == 0xfd:
			filter = append(filter, "+")
		default:
			filter = append(filter, classLevels[int(c)%len(classLevels)])
		}
	}
	return nil, nil
}

// fuzzClassTopics decodes topics: per byte pair, the first byte's low 2 bits + 1 levels, each
// level picked by 2 bits of the second byte and the first byte's high bits.
func fuzzClassTopics(in []byte) []string {
	var topics []string
	for i := 0; i+1 < len(in); i += 2 {
		n := int(in[i]&3) + 1
		seed := int(in[i+1]) | int(in[i]>>2)<<8
		levels := make([]string, n)
		for j := range levels {
			levels[j] = classLevels[seed%len(classLevels)]
			seed /= len(classLevels)
		}
		if strings.HasPrefix(levels[0], "$") && n == 1 {
			levels = append(levels, "x") // "$s" alone is a fine topic, but keep '$' topics two-level
		}
		for j := 1; j < len(levels); j++ {
			if strings.HasPrefix(levels[j], "$") {
				levels[j] = "s" // '$' only leads a topic in this alphabet
			}
		}
		topics = append(topics, strings.Join(levels, "/"))
	}
	return topics
}

// readStream drains one stream, read with "#" and with "$s/#" so that no topic is hidden
// by the read filter.
func readStream(t *testing.T, db *pebble.DB, l layout.Layout, s layout.Stream, bounds layout.ReadBounds) []layout.Item {
	var out []layout.Item
	for _, f := range [][]string{{"#"}, {"$s", "#"}} {
		pos, err := l.NewPosition(s, f, 0)
		if err != nil {
			t.Fatal(err)
		}
		for range 10_000 {
			items, next, err := l.Next(db, s, f, pos, 4, bounds, &layout.Stats{})
			if err != nil {
				t.Fatal(err)
			}
			if len(items) == 0 {
				break
			}
			out = append(out, items...)
			pos = next
		}
	}
	return out
}

// readEverything returns the topic of every message of the layout, by its value (the
// timestamp).
func readEverything(t *testing.T, db *pebble.DB, l layout.Layout, bounds layout.ReadBounds) map[string]string {
	out := map[string]string{}
	seen := map[string]bool{}
	for _, f := range [][]string{{"#"}, {"$s", "#"}} {
		for _, s := range l.Streams(f) {
			if seen[string(s)] {
				continue
			}
			seen[string(s)] = true
			for _, it := range readStream(t, db, l, s, bounds) {
				if prev, ok := out[string(it.Value)]; ok && prev != it.Topic {
					t.Fatalf("value %s under %q and %q", it.Value, prev, it.Topic)
				}
				out[string(it.Value)] = it.Topic
			}
		}
	}
	return out
}
