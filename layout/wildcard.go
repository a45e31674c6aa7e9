package layout

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mqttds/mqttds/internal/invariants"
	"github.com/mqttds/mqttds/layout/keymap"
	"github.com/mqttds/mqttds/lts"
	"github.com/zeebo/xxh3"
)

// wildcard is the wildcard_optimized (bitfield-LTS) layout. Under its prefix it keeps two
// sub-keyspaces:
//
//	trie node:  prefix | 't' | lts.Op key suffix            -> lts.Op value
//	message:    prefix | 'm' | message key (below)          -> envelope (envelope.go)
//
// Message key, format version 1, for a stream with N varying levels (chunks most significant
// first, big-endian bit strings, zero-padded to a whole byte):
//
//	+-------------+-------------------+-----------+-----+-----------+-----------------+-----+
//	| topic index | ts >> E (epoch)   | hash(v1)  | ... | hash(vN)  | ts & (2^E - 1)  | pad |
//	| 8·TIB bits  | 64-E bits         | B bits    |     | B bits    | E bits          | 0-7 |
//	+-------------+-------------------+-----------+-----+-----------+-----------------+-----+
//
// TIB = TopicIndexBytes, B = BitsPerTopicLevel, E = EpochBits; hash(v) = the B high bits of
// xxh3(v). The topic index is the lts static index, byte-aligned at the front, so a stream is
// a contiguous key range. Within a stream keys are ordered by epoch, then by the hashes of
// the varying levels, then by time: a filter that fixes varying levels reads only its hash
// group of each epoch, at one seek per epoch.
//
// The epoch rule that keeps readers of the current generation from missing late writes is in
// read.go.
type wildcard struct {
	opts       Options
	epochBits  uint
	levelBits  int
	dataPrefix []byte // prefix | 'm'
	triePrefix []byte // prefix | 't'
	trie       *lts.Trie
	// maps[N] is the keymap of streams with N varying levels.
	maps [MaxVarying + 1]*keymap.Keymap

	// recent indexes the latest messages of wildcard streams in time order (recent.go).
	recent *recent

	// unpersisted holds trie ops learned by a Prepare that failed: they are already in the
	// trie, so the next Prepare writes them first. Use: the writer goroutine only.
	unpersisted []lts.Op

	// scratch holds Prepare's reusable slices, so that a batch of known topics costs no
	// allocation beyond its keys and one value buffer. Use: the writer goroutine only.
	// Invariant: empty between Prepare calls (only the capacity carries over).
	scratch struct {
		levels  []string
		varying []string
		ops     []lts.Op
		adds    []recentAdd
	}
}

// Sub-keyspace tags under the layout prefix.
const (
	tagTrie    = 't'
	tagMessage = 'm'
)

// Dimensions of a message key vector.
const (
	dimIndex = 0
	dimTime  = 1
	dimHash  = 2 // first varying level; level i is dimHash+i
)

// newWildcard returns an empty layout; fresh says that the generation is new (no messages).
func newWildcard(prefix []byte, opts Options, fresh bool) (*wildcard, error) {
	w := &wildcard{
		opts:       opts,
		epochBits:  uint(opts.epochBits()),
		levelBits:  opts.BitsPerTopicLevel,
		dataPrefix: append(append([]byte(nil), prefix...), tagMessage),
		triePrefix: append(append([]byte(nil), prefix...), tagTrie),
	}
	maxIndex := lts.Index(1)<<(8*uint(opts.TopicIndexBytes)) - 1 // all-ones stays free: see succ
	if opts.TopicIndexBytes == 8 {
		maxIndex = ^lts.Index(0)
	}
	w.trie = lts.New(&lts.Options{
		Thresholds: append([]int(nil), opts.Thresholds...),
		MaxVarying: MaxVarying,
		MaxIndex:   maxIndex,
	})
	w.recent = newRecent(fresh, w.epoch, w.epochStart)
	for n := range w.maps {
		m, err := newKeymap(opts.TopicIndexBytes*8, opts.epochBits(), opts.BitsPerTopicLevel, n)
		if err != nil {
			return nil, err
		}
		w.maps[n] = m
	}
	return w, nil
}

// newKeymap builds the keymap of a stream with n varying levels.
func newKeymap(indexBits, epochBits, levelBits, n int) (*keymap.Keymap, error) {
	dims := []int{indexBits, 64}
	srcs := []keymap.Source{{Dim: dimIndex, Size: indexBits}}
	if epochBits < 64 {
		srcs = append(srcs, keymap.Source{Dim: dimTime, Offset: epochBits, Size: 64 - epochBits})
	}
	for i := range n {
		dims = append(dims, levelBits)
		srcs = append(srcs, keymap.Source{Dim: dimHash + i, Size: levelBits})
	}
	if epochBits > 0 {
		srcs = append(srcs, keymap.Source{Dim: dimTime, Size: epochBits})
	}
	return keymap.New(dims, srcs)
}

// createWildcard makes a new generation's layout, inheriting prev's learned wildcard structure
// (with its static indexes) when prev is a wildcard layout whose ids fit this one.
func createWildcard(prefix []byte, opts Options, prev Layout, b *CookedBatch) (Layout, error) {
	w, err := newWildcard(prefix, opts, true)
	if err != nil {
		return nil, err
	}
	p, ok := prev.(*wildcard)
	if !ok {
		return w, nil
	}
	ops := p.trie.WildcardOps()
	for _, op := range ops {
		if err := w.trie.Apply(op); err != nil {
			// The previous generation's ids do not fit (a narrower topic index): inheriting
			// is an optimisation, so start from an empty trie instead.
			return newWildcard(prefix, opts, true)
		}
	}
	w.persist(ops, b)
	return w, nil
}

// openWildcard restores a generation's trie from its persisted ops. Key order replays every
// edge after the edge that created its parent (see lts.Op).
func openWildcard(r pebble.Reader, prefix []byte, opts Options) (Layout, error) {
	w, err := newWildcard(prefix, opts, false)
	if err != nil {
		return nil, err
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: w.triePrefix, UpperBound: prefixEnd(w.triePrefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		if err := w.applyRaw(it.Key(), v); err != nil {
			return nil, err
		}
	}
	return w, it.Error()
}

// applyRaw applies one persisted trie op.
func (w *wildcard) applyRaw(key, value []byte) error {
	op, err := lts.DecodeOp(key[len(w.triePrefix):], value)
	if err == nil {
		err = w.trie.Apply(op)
	}
	if err != nil {
		return fmt.Errorf("%w: trie key %x: %w", ErrCorrupt, key, err)
	}
	return nil
}

// persist adds the writes of trie ops to b.
func (w *wildcard) persist(ops []lts.Op, b *CookedBatch) {
	for _, op := range ops {
		k := op.AppendKey(append(make([]byte, 0, len(w.triePrefix)+9+len(op.Label)), w.triePrefix...))
		b.Set(k, op.AppendValue(make([]byte, 0, 9)))
	}
}

// hashLevel is the key chunk of one varying level: the levelBits high bits of its xxh3.
func (w *wildcard) hashLevel(level string) uint64 {
	return xxh3.HashString(level) >> (64 - uint(w.levelBits))
}

// Prepare implements Layout. Trie ops learned for an entry are written before the entry, in
// the same batch.
//
// It runs for every message written, so it allocates little: levels, varying levels and
// learned ops go to scratch slices the layout keeps (a known topic is learned without
// allocating, see lts.Trie.LearnAppend), the envelopes of the batch share one buffer, and
// recent takes the batch's messages under one lock. Only each message key is its own
// allocation, because recent retains the keys of wildcard streams: sharing one buffer would
// keep a whole batch's keys alive for one of them.
func (w *wildcard) Prepare(entries []Entry, b *CookedBatch) error {
	from := len(b.Writes)
	if len(w.unpersisted) > 0 {
		w.persist(w.unpersisted, b)
	}
	sc := &w.scratch
	values := make([]byte, 0, envelopesSize(entries))
	adds := sc.adds[:0]
	var vec [dimHash + MaxVarying]uint64
	for i := range entries {
		e := &entries[i]
		sc.levels = splitTopic(sc.levels[:0], e.Topic)
		idx, varying, learned, err := w.trie.LearnAppend(sc.levels, sc.varying[:0], sc.ops[:0])
		sc.varying, sc.ops = varying[:0], learned[:0]
		w.persist(learned, b)
		if err != nil {
			// Keep what this batch learned: the caller drops b, but the trie already
			// knows those states, so the next batch must persist them.
			w.unpersisted = append(w.unpersisted, opsIn(b, w.triePrefix)...)
			w.endPrepare(adds)
			return fmt.Errorf("layout: topic %q: %w", e.Topic, err)
		}
		vec[dimIndex], vec[dimTime] = uint64(idx), e.Timestamp
		for j, v := range varying {
			vec[dimHash+j] = w.hashLevel(v)
		}
		m := w.maps[len(varying)]
		key := m.AppendKey(append(make([]byte, 0, len(w.dataPrefix)+m.Len()), w.dataPrefix...), vec[:dimHash+len(varying)])
		start := len(values)
		values = appendEnvelope(values, e.Topic, e.Value)
		b.Set(key, values[start:len(values):len(values)])
		adds = append(adds, recentAdd{idx: uint64(idx), ts: e.Timestamp, key: key[len(w.dataPrefix):], index: len(varying) > 0})
	}
	w.endPrepare(adds)
	w.unpersisted = nil
	if invariants.Enabled {
		invariants.CheckErr(w.checkPrepared(entries, b.Writes[from:]))
	}
	return nil
}

// endPrepare indexes the messages of a Prepare in recent and empties the scratch slices,
// keeping their capacity: cleared, they do not keep the batch's keys and topics alive (Prepare
// retains no Entry field).
func (w *wildcard) endPrepare(adds []recentAdd) {
	w.recent.addAll(adds)
	sc := &w.scratch
	clear(adds[:cap(adds)])
	clear(sc.levels[:cap(sc.levels)])
	clear(sc.varying[:cap(sc.varying)])
	sc.adds, sc.levels, sc.varying = adds[:0], sc.levels[:0], sc.varying[:0]
}

// envelopesSize is the encoded size of the envelopes of entries.
func envelopesSize(entries []Entry) int {
	n := 0
	for i := range entries {
		n += envelopeSize(entries[i].Topic, entries[i].Value)
	}
	return n
}

// opsIn decodes the trie ops among b's writes (they were encoded by persist, so they decode).
func opsIn(b *CookedBatch, triePrefix []byte) []lts.Op {
	var ops []lts.Op
	for _, wr := range b.Writes {
		if wr.Kind == WriteSet && strings.HasPrefix(string(wr.Key), string(triePrefix)) {
			if op, err := lts.DecodeOp(wr.Key[len(triePrefix):], wr.Value); err == nil {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// splitTopic appends the levels of topic to dst.
func splitTopic(dst []string, topic string) []string {
	for {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return append(dst, topic)
		}
		dst = append(dst, topic[:i])
		topic = topic[i+1:]
	}
}

// Apply implements Layout: it replays the trie ops of a batch prepared elsewhere and indexes
// its messages in recent. Ops and messages already known (a batch this layout prepared)
// change nothing.
func (w *wildcard) Apply(b *CookedBatch) error {
	for _, wr := range b.Writes {
		switch {
		case wr.Kind != WriteSet:
		case hasPrefix(wr.Key, w.triePrefix):
			if err := w.applyRaw(wr.Key, wr.Value); err != nil {
				return err
			}
		case hasPrefix(wr.Key, w.dataPrefix):
			key := wr.Key[len(w.dataPrefix):]
			// The key length gives the number of varying levels: each adds levelBits >= 8
			// bits, more than the padding.
			n := (8*len(key) - 8*w.opts.TopicIndexBytes - 64) / w.levelBits
			if n < 0 || n > MaxVarying || len(key) != w.maps[n].Len() {
				continue
			}
			m := w.maps[n]
			w.recent.add(m.Dim(key, dimIndex), m.Dim(key, dimTime), key, n > 0)
		}
	}
	return nil
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// Close implements Layout.
func (w *wildcard) Close() error {
	w.trie, w.recent = nil, nil
	return nil
}

// Stream encoding, format version 1: the static index and one constraint per varying level.
//
//	+---------+---------------+----------+-------------------------------------------------+
//	| 0x01    | index uvarint | N uvarint| N × (0x00 = '+' | 0x01, len uvarint, value)  |
//	+---------+---------------+----------+-------------------------------------------------+
const streamFormatV1 = 1

// stream is a decoded Stream.
type stream struct {
	index   uint64
	varying []lts.Constraint
}

func encodeStream(m lts.Match) Stream {
	s := []byte{streamFormatV1}
	s = binary.AppendUvarint(s, uint64(m.Index))
	s = binary.AppendUvarint(s, uint64(len(m.Varying)))
	for _, c := range m.Varying {
		if c.Any {
			s = append(s, 0)
			continue
		}
		s = append(s, 1)
		s = binary.AppendUvarint(s, uint64(len(c.Value)))
		s = append(s, c.Value...)
	}
	return s
}

func (w *wildcard) decodeStream(s Stream) (stream, error) {
	bad := func(why string) (stream, error) {
		return stream{}, fmt.Errorf("%w: stream %x: %s", ErrBadPosition, []byte(s), why)
	}
	if len(s) == 0 || s[0] != streamFormatV1 {
		return bad("unknown format")
	}
	r := reader{b: s[1:]}
	out := stream{index: r.uvarint(^uint64(0))}
	n := r.uvarint(MaxVarying)
	for i := uint64(0); i < n && r.err == nil; i++ {
		if len(r.b) == 0 {
			return bad("truncated")
		}
		kind := r.b[0]
		r.b = r.b[1:]
		switch kind {
		case 0:
			out.varying = append(out.varying, lts.Constraint{Any: true})
		case 1:
			out.varying = append(out.varying, lts.Constraint{Value: string(r.bytes(1 << 16))})
		default:
			return bad("bad constraint")
		}
	}
	if r.err != nil {
		return bad(r.err.Error())
	}
	if len(r.b) != 0 {
		return bad("trailing bytes")
	}
	if w.opts.TopicIndexBytes < 8 && out.index >= 1<<(8*uint(w.opts.TopicIndexBytes)) {
		return bad("index too wide")
	}
	return out, nil
}

// Streams implements Layout: one stream per lts match, in index order.
func (w *wildcard) Streams(filter []string) []Stream {
	matches := w.trie.Match(filter)
	out := make([]Stream, len(matches))
	for i, m := range matches {
		out[i] = encodeStream(m)
	}
	return out
}

// prefixEnd returns the smallest key greater than every key starting with p (nil: none).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
