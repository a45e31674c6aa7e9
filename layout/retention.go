package layout

import (
	"encoding/binary"

	"github.com/mqttds/mqttds/lts"
)

// Retention support: what a layout can say about deleting one stream's old messages inside a
// live generation, for ds's per-topic retention classes.
//
// ds keeps a message no longer than the period of the first retention class whose filter
// matches its topic. Readers are filtered exactly at read time; storage is reclaimed by
// dropping whole generations and, within a live generation, by one range delete per stream
// whose topics all fall in one class. That needs two answers from the layout:
//
//   - StreamsWithin(filter): which streams can only ever hold topics that match filter, and
//     StreamsOverlapping(filter): which streams may hold one (so that ds knows which classes
//     can claim a topic of a stream, first match winning). Both are decided from the stream's
//     static structure, never from the topics seen so far, so the answers stay true as more
//     topics are learned.
//   - SpanBefore(stream, before): a key range that holds only the stream's messages older
//     than before, as many of them as the key order keeps together.
//
// In wildcard_optimized a stream is its topic index, the leading key chunk, and the epoch
// follows it: every epoch that ends before `before` is one contiguous key range of the stream,
// whatever the varying levels' hashes. The epoch that contains `before` interleaves older and
// younger messages by hash, so it stays (ds filters it at read time) — except for a stream
// without varying levels, or with epoch bits 0, where key order is time order and the span is
// exact. With epoch bits 64 there is no epoch chunk: a stream with varying levels orders its
// keys by hash first, so no span holds only old messages and SpanBefore reports none.
//
// The reference layout keeps every topic in one stream in time order: its span before a time
// is exact, but StreamsWithin never names its stream, since nothing in its structure limits
// the topics it holds. Its old messages go with their generation, and read-time filtering
// alone keeps readers exact.

// Span is a range of message keys [Start, End) of one layout, for a pebble range delete.
// Start and End are owned by the caller.
type Span struct {
	Start, End []byte
}

// StreamsWithin implements Layout: the lts matches of filter that constrain no varying level.
//
// Why that is exact enough: a match follows, level by level, one path of the trie. A
// concrete filter level on a concrete edge, or '+' on any edge, or '#' over a whole subtree,
// holds for every topic that takes the path; only a concrete filter level on a learned '+'
// edge adds a constraint, and then some topics of the stream may not match. A topic never
// leaves its path (concrete edges are never added next to a '+' edge), so a stream returned
// here stays inside filter for the life of the generation.
func (w *wildcard) StreamsWithin(filter []string) []Stream {
	var out []Stream
	for _, m := range w.trie.Match(filter) {
		all := true
		for _, c := range m.Varying {
			all = all && c.Any
		}
		if all {
			out = append(out, encodeStream(m))
		}
	}
	return out
}

// StreamsOverlapping implements Layout: the whole streams (no level constrained) of the lts
// matches of filter. Match finds every stream that may hold a matching topic; dropping the
// constraints names the stream itself, as StreamsWithin does.
func (w *wildcard) StreamsOverlapping(filter []string) []Stream {
	matches := w.trie.Match(filter)
	out := make([]Stream, len(matches))
	for i, m := range matches {
		whole := lts.Match{Index: m.Index, Varying: make([]lts.Constraint, len(m.Varying))}
		for j := range whole.Varying {
			whole.Varying[j].Any = true
		}
		out[i] = encodeStream(whole)
	}
	return out
}

// SpanBefore implements Layout (see the comment at the top of this file for when a span
// exists).
func (w *wildcard) SpanBefore(s Stream, before uint64) (Span, bool) {
	st, err := w.decodeStream(s)
	if err != nil || before == 0 {
		return Span{}, false
	}
	for _, c := range st.varying {
		if !c.Any {
			// A constrained stream shares its keys with the other values of that level.
			return Span{}, false
		}
	}
	n := len(st.varying)
	cut := before
	if n > 0 {
		if w.epochBits == 64 {
			return Span{}, false
		}
		// Whole epochs below before's epoch; with epoch bits 0 that is before itself.
		cut = w.epochStart(w.epoch(before))
		if cut == 0 {
			return Span{}, false
		}
	}
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], st.index)
	start := append(append([]byte(nil), w.dataPrefix...), idx[8-w.opts.TopicIndexBytes:]...)
	// The smallest key at cut: every key of the stream below it has a smaller timestamp (a
	// smaller epoch, or with no varying level a smaller time).
	vec := make([]uint64, dimHash+n)
	vec[dimIndex], vec[dimTime] = st.index, cut
	m := w.maps[n]
	end := m.AppendKey(append(make([]byte, 0, len(w.dataPrefix)+m.Len()), w.dataPrefix...), vec)
	return Span{Start: start, End: end}, true
}

// StreamsWithin implements Layout: the reference layout's one stream holds every topic, so
// no filter covers it.
func (l *reference) StreamsWithin([]string) []Stream { return nil }

// StreamsOverlapping implements Layout: the one stream may hold any topic.
func (l *reference) StreamsOverlapping([]string) []Stream { return []Stream{{referenceStream}} }

// SpanBefore implements Layout: keys are in time order, so the span is exact.
func (l *reference) SpanBefore(s Stream, before uint64) (Span, bool) {
	if l.checkStream(s) != nil || before == 0 {
		return Span{}, false
	}
	return Span{Start: l.key(0), End: l.key(before)}, true
}
