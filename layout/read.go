package layout

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mqttds/mqttds/layout/keymap"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// Reading a wildcard_optimized stream: the epoch rule.
//
// Inside one epoch, the keys of a stream with varying levels are ordered by hash before time,
// so a message committed after a reader passed key K can sort before K. A key-ordered cursor
// is therefore only safe in an epoch that can receive no more writes. Timestamps are strictly
// increasing per shard and ReadBounds.Visible says every timestamp below it is committed, so
// every epoch that ends below Visible is complete (for a closed generation, every epoch).
//
// A position is in one of two modes:
//
//   - key mode, K(key): every key of the stream below key has been consumed; key lies in a
//     complete epoch. Reads walk the box (index, epochs [e, first incomplete epoch),
//     constrained hashes) in key order, one seek per gap.
//   - time mode, T(ts): every message with a timestamp below ts has been consumed, none at or
//     above. Used for the epoch that is still open: each read queries the box (index, epoch,
//     constrained hashes, low time bits in [ts, Visible-1]), takes up to n matches from each
//     hash group (one seek per group, the groups being sorted by time), merges them by
//     timestamp and returns the n smallest. When the recent index (recent.go) covers the
//     range, the same messages are looked up from it instead: one seek per message.
//
// A K position at the very first key of an epoch that is not complete (the position after
// the last possible key of the epoch before) is T at that epoch's first microsecond. A stream
// known to hold nothing at or after the position is not read at all: the walk through the
// modes runs without pebble and ends at the same position.
//
// A reader starts in T(since). T(ts) at the first microsecond of a complete epoch becomes key
// mode at the start of that epoch; T(ts) inside a complete epoch (an epoch that was open when
// the reader got there and has closed since) keeps reading that epoch in time order, then moves
// to the next epoch. A key-mode read that exhausts the complete epochs continues in T at the
// start of the open epoch. A message becomes readable as soon as it is visible, and none is
// ever passed over: key mode only walks complete epochs, and time mode never moves its bound
// past Visible.
//
// Streams without varying levels need none of this: their keys are in time order, so every
// position is in key mode and reads stop at Visible.
//
// Position encoding, format version 1:
//
//	+------+------+-------------------------------------------+
//	| 0x01 | 'T'  | timestamp (8 bytes, big-endian)           |
//	| 0x01 | 'K'  | message key without prefix (keymap Len)   |
//	+------+------+-------------------------------------------+
const (
	positionFormatV1 = 1
	modeTime         = 'T'
	modeKey          = 'K'
)

func timePosition(ts uint64) Position { return appendTimePosition(nil, ts) }

func appendTimePosition(dst []byte, ts uint64) []byte {
	dst = append(dst, positionFormatV1, modeTime)
	return binary.BigEndian.AppendUint64(dst, ts)
}

// keyPositionAfter returns K(key+1): the position right after key.
func keyPositionAfter(key []byte) Position { return appendKeyPositionAfter(nil, key) }

func appendKeyPositionAfter(dst, key []byte) []byte {
	start := len(dst)
	dst = append(dst, positionFormatV1, modeKey)
	dst = append(dst, key...)
	// The topic index chunk leads the key and is never all ones (lts.MaxIndex excludes it),
	// so the increment cannot carry out of the key.
	for i := len(dst) - 1; i >= start+2; i-- {
		if dst[i]++; dst[i] != 0 {
			break
		}
	}
	return dst
}

// NewPosition implements Layout.
func (w *wildcard) NewPosition(s Stream, _ []string, since uint64) (Position, error) {
	if _, err := w.decodeStream(s); err != nil {
		return nil, err
	}
	return timePosition(since), nil
}

// PositionAfter implements Layout: K(key+1), exact in key order (see Layout).
func (w *wildcard) PositionAfter(s Stream, _ []string, key []byte) (Position, error) {
	st, err := w.decodeStream(s)
	if err != nil {
		return nil, err
	}
	m := w.maps[len(st.varying)]
	if len(key) != len(w.dataPrefix)+m.Len() || string(key[:len(w.dataPrefix)]) != string(w.dataPrefix) ||
		m.Dim(key[len(w.dataPrefix):], dimIndex) != st.index {
		return nil, fmt.Errorf("%w: key %x is not in stream", ErrBadPosition, key)
	}
	return keyPositionAfter(key[len(w.dataPrefix):]), nil
}

// readState is one Next call.
type readState struct {
	w       *wildcard
	m       *keymap.Keymap
	st      stream
	filter  []string
	it      *pebble.Iterator
	stats   *Stats
	n       int
	items   []Item
	visible uint64
	// open is the first epoch that is not known to be complete: every epoch below it is.
	open uint64
	// dims are the box's intervals: the index, the time range, one per varying level.
	dims []keymap.Interval
	// dense reports that no varying level is constrained (every hash is in the box).
	dense bool
	// empty reports that the stream holds nothing the read could return: no pebble access.
	empty bool
	key   []byte // scratch: prefix | key
	vec   []uint64
	buf   []byte // arena for the items' keys and values
}

// Next implements Layout (see the epoch rule above).
func (w *wildcard) Next(r pebble.Reader, s Stream, filter []string, pos Position, n int, bounds ReadBounds, stats *Stats) ([]Item, Position, error) {
	st, err := w.decodeStream(s)
	if err != nil {
		return nil, nil, err
	}
	m := w.maps[len(st.varying)]
	if err := w.checkPosition(pos, m, st.index); err != nil {
		return nil, nil, err
	}
	if n <= 0 || bounds.Visible == 0 {
		return nil, pos, nil
	}
	rs := &readState{w: w, m: m, st: st, filter: filter, stats: stats, n: n, visible: bounds.Visible}
	rs.open = bounds.Visible >> w.epochBits
	if w.epochBits == 64 {
		rs.open = 0
	}
	if bounds.Closed {
		rs.open = w.epoch(bounds.Visible-1) + 1
	}
	rs.dims = make([]keymap.Interval, dimHash+len(st.varying))
	rs.dims[dimIndex] = keymap.Eq(st.index)
	rs.dense = true
	for i, c := range st.varying {
		if c.Any {
			rs.dims[dimHash+i] = keymap.Any(w.levelBits)
		} else {
			rs.dims[dimHash+i] = keymap.Eq(w.hashLevel(c.Value))
			rs.dense = false
		}
	}
	rs.vec = make([]uint64, len(rs.dims))
	rs.key = append(make([]byte, 0, len(w.dataPrefix)+m.Len()), w.dataPrefix...)

	// A stream known to hold nothing at or after the position (most streams of a live
	// reader, most of the time) is not read: run's walk through the modes then finds nothing,
	// exactly as it would in pebble, and returns the same position.
	if rs.empty = w.recent.idleSince(st.index, rs.lowestUnread(pos)); rs.empty {
		return nil, rs.mustRun(pos), nil
	}

	// The stream is the key range of its topic index, a whole-byte prefix of the key.
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], st.index)
	lower := append(append([]byte(nil), w.dataPrefix...), idx[8-w.opts.TopicIndexBytes:]...)
	rs.it, err = r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, nil, err
	}
	defer rs.it.Close()

	pos, err = rs.run(pos)
	if err != nil {
		return nil, nil, err
	}
	return rs.items, pos, nil
}

// lowestUnread returns a timestamp below which pos has consumed every message: T(ts) itself;
// for K(key) the start of the key's epoch (keys after it in that epoch may be older than it),
// or its timestamp in a stream without varying levels.
func (rs *readState) lowestUnread(pos Position) uint64 {
	if pos[1] == modeTime {
		return binary.BigEndian.Uint64(pos[2:])
	}
	ts := rs.m.Dim(pos[2:], dimTime)
	if len(rs.st.varying) == 0 {
		return ts
	}
	return rs.w.epochStart(rs.w.epoch(ts))
}

// mustRun runs a read that cannot fail (one that finds nothing without pebble).
func (rs *readState) mustRun(pos Position) Position {
	next, err := rs.run(pos)
	if err != nil {
		panic(fmt.Sprintf("layout: read of an idle stream failed: %v", err))
	}
	return next
}

// checkPosition validates pos for a stream of index whose keys use m.
func (w *wildcard) checkPosition(pos Position, m *keymap.Keymap, index uint64) error {
	ok := len(pos) >= 2 && pos[0] == positionFormatV1 &&
		(pos[1] == modeTime && len(pos) == 10 ||
			pos[1] == modeKey && len(pos) == 2+m.Len() && m.Dim(pos[2:], dimIndex) == index)
	if !ok {
		return fmt.Errorf("%w: position %x", ErrBadPosition, []byte(pos))
	}
	return nil
}

// epoch returns the epoch of ts.
func (w *wildcard) epoch(ts uint64) uint64 {
	if w.epochBits == 64 {
		return 0
	}
	return ts >> w.epochBits
}

// epochStart returns the first timestamp of epoch e, saturating at MaxUint64 past the end.
func (w *wildcard) epochStart(e uint64) uint64 {
	if w.epochBits == 64 {
		if e == 0 {
			return 0
		}
		return math.MaxUint64
	}
	if e > math.MaxUint64>>w.epochBits {
		return math.MaxUint64
	}
	return e << w.epochBits
}

// epochEnd returns the last timestamp of epoch e.
func (w *wildcard) epochEnd(e uint64) uint64 {
	if w.epochBits == 64 {
		return math.MaxUint64
	}
	return e<<w.epochBits | (1<<w.epochBits - 1)
}

// run reads from pos until n items are found or nothing more is readable, moving between
// modes as the epoch rule says, and returns the new position.
func (rs *readState) run(pos Position) (Position, error) {
	w := rs.w
	for len(rs.items) < rs.n {
		if pos[1] == modeKey {
			if ts, ok := rs.epochStartKey(pos[2:]); ok && len(rs.st.varying) > 0 && w.epoch(ts) >= rs.open {
				// K at the very start of an epoch that is not complete (the position after
				// the last possible key of the previous epoch) is T at the epoch's first µs:
				// the open epoch is read in time order.
				pos = timePosition(ts)
				continue
			}
			next, err := rs.readKeys(pos[2:])
			if err != nil || next != nil {
				return next, err
			}
			// Every complete epoch is read: continue in time order in the open one.
			limit := rs.keyLimit()
			if limit == math.MaxUint64 {
				return pos, nil // the end of time
			}
			pos = timePosition(limit + 1)
			continue
		}
		ts := binary.BigEndian.Uint64(pos[2:])
		if ts >= rs.visible {
			return pos, nil
		}
		e := w.epoch(ts)
		if len(rs.st.varying) == 0 || (e < rs.open && ts == w.epochStart(e)) {
			// Key order is time order here (no varying level, or the epoch's start).
			rs.vec[dimIndex], rs.vec[dimTime] = rs.st.index, ts
			clear(rs.vec[dimHash:])
			pos = append(Position{positionFormatV1, modeKey}, rs.m.AppendKey(nil, rs.vec)...)
			continue
		}
		last := rs.visible - 1
		if e < rs.open {
			last = w.epochEnd(e)
		}
		full, err := rs.readTime(e, ts, last)
		if err != nil {
			return nil, err
		}
		if full {
			return timePosition(rs.items[len(rs.items)-1].Timestamp + 1), nil
		}
		if last == math.MaxUint64 {
			return timePosition(last), nil
		}
		pos = timePosition(last + 1)
	}
	return pos, nil
}

// epochStartKey reports whether key is the smallest key of its epoch in the stream, and the
// epoch's first timestamp.
func (rs *readState) epochStartKey(key []byte) (uint64, bool) {
	rs.m.Decode(key, rs.vec)
	ts := rs.vec[dimTime]
	if ts != rs.w.epochStart(rs.w.epoch(ts)) {
		return 0, false
	}
	for _, h := range rs.vec[dimHash:] {
		if h != 0 {
			return 0, false
		}
	}
	return ts, true
}

// keyLimit is the last timestamp key mode may read: the end of the last complete epoch, or for
// a stream without varying levels the last visible timestamp.
func (rs *readState) keyLimit() uint64 {
	if len(rs.st.varying) == 0 {
		return rs.visible - 1
	}
	return rs.w.epochStart(rs.open) - 1 // open >= 1 whenever key mode runs
}

// readKeys walks the stream in key order from key (inclusive) through the complete epochs.
// It returns the position after the last item when n items are found, nil when the walk ran
// out of keys.
func (rs *readState) readKeys(from []byte) (Position, error) {
	w := rs.w
	startTs := rs.m.Dim(from, dimTime)
	limit := rs.keyLimit()
	if len(rs.st.varying) > 0 && w.epoch(startTs) >= rs.open {
		// A key position in an epoch not (or no longer) known complete: Visible went back.
		// Nothing is readable yet.
		return append(Position{positionFormatV1, modeKey}, from...), nil
	}
	if startTs > limit {
		return append(Position{positionFormatV1, modeKey}, from...), nil
	}
	if rs.empty {
		return nil, nil
	}
	rs.dims[dimTime] = keymap.Interval{Min: w.epochStart(w.epoch(startTs)), Max: limit}
	box, err := rs.m.Box(rs.dims)
	if err != nil {
		return nil, fmt.Errorf("layout: read box: %w", err)
	}
	valid := rs.seek(from)
	for valid {
		k := rs.it.Key()[len(w.dataPrefix):]
		if !box.Contains(k) {
			next, ok := box.Seek(rs.key[:len(w.dataPrefix)], k)
			if !ok {
				break
			}
			valid = rs.skipTo(next)
			continue
		}
		ts := rs.m.Dim(k, dimTime)
		if ts > limit {
			break // only without varying levels, where the box's low chunk is wider
		}
		if err := rs.emit(k, ts, true); err != nil {
			return nil, err
		}
		if len(rs.items) == rs.n {
			return rs.items[len(rs.items)-1].After, nil
		}
		rs.stats.Nexts++
		valid = rs.it.Next()
	}
	return nil, rs.it.Error()
}

// readTime reads epoch e from ts to last (inclusive) in time order: up to `need` matches per
// hash group, merged by timestamp, the smallest `need` kept. It reports whether it found need.
func (rs *readState) readTime(e, ts, last uint64) (bool, error) {
	if rs.empty {
		return false, nil
	}
	w := rs.w
	need := rs.n - len(rs.items)
	rs.dims[dimTime] = keymap.Interval{Min: ts, Max: last}
	box, err := rs.m.Box(rs.dims)
	if err != nil {
		return false, fmt.Errorf("layout: read box: %w", err)
	}
	first := len(rs.items)
	if entries, ok := w.recent.lookup(rs.st.index, ts, last); ok {
		return rs.readRecent(box, entries, need)
	}
	group := make([]uint64, len(rs.st.varying))
	inGroup := 0
	valid := rs.seekKey(box.AppendMin(rs.key[:len(w.dataPrefix)]))
	for valid {
		k := rs.it.Key()[len(w.dataPrefix):]
		if !box.Contains(k) {
			next, ok := box.Seek(rs.key[:len(w.dataPrefix)], k)
			if !ok {
				break
			}
			valid = rs.skipTo(next)
			continue
		}
		rs.m.Decode(k, rs.vec)
		if inGroup > 0 && !slices.Equal(group, rs.vec[dimHash:]) {
			inGroup = 0
		}
		copy(group, rs.vec[dimHash:])
		before := len(rs.items)
		if err := rs.emit(k, rs.vec[dimTime], false); err != nil {
			return false, err
		}
		if len(rs.items) > before {
			inGroup++
		}
		if inGroup < need {
			rs.stats.Nexts++
			valid = rs.it.Next()
			continue
		}
		// This group gave all it may: jump past its last possible key.
		rs.vec[dimTime] = w.epochEnd(e)
		next, ok := box.SeekAfter(rs.key[:len(w.dataPrefix)], rs.m.AppendKey(nil, rs.vec))
		if !ok {
			break
		}
		inGroup = 0
		valid = rs.skipTo(next)
	}
	if err := rs.it.Error(); err != nil {
		return false, err
	}
	got := rs.items[first:]
	slices.SortFunc(got, func(a, b Item) int {
		switch {
		case a.Timestamp < b.Timestamp:
			return -1
		case a.Timestamp > b.Timestamp:
			return 1
		}
		return 0
	})
	if len(got) >= need {
		rs.items = rs.items[:first+need]
		return true, nil
	}
	return false, nil
}

// readRecent reads the messages that recent lists (in time order), one seek each, skipping
// those outside the box and those pebble does not have (their batch was never committed). It
// reports whether it found need.
func (rs *readState) readRecent(box *keymap.Box, entries []recentEntry, need int) (bool, error) {
	first := len(rs.items)
	for _, e := range entries {
		if !box.Contains(e.key) {
			continue
		}
		if !rs.seek(e.key) || !bytes.Equal(rs.it.Key()[len(rs.w.dataPrefix):], e.key) {
			continue
		}
		if err := rs.emit(e.key, e.ts, false); err != nil {
			return false, err
		}
		if len(rs.items)-first == need {
			return true, nil
		}
	}
	return false, rs.it.Error()
}

// seek positions the iterator at the first key >= key (without prefix).
func (rs *readState) seek(key []byte) bool {
	return rs.seekKey(append(rs.key[:len(rs.w.dataPrefix)], key...))
}

// nextsBeforeSeek is how many steps skipTo tries before it seeks in a dense box: a step costs
// a small fraction of a seek, and when every hash is allowed the keys to skip are only those
// of a group below the box's time range, usually a few.
const nextsBeforeSeek = 8

// skipTo moves the iterator forward to the first key >= the full key k: in a dense box a few
// steps first, then a seek. A box that fixes a hash is sparse: the next key inside it is
// usually far, so it seeks at once.
func (rs *readState) skipTo(k []byte) bool {
	if !rs.dense {
		return rs.seekKey(k)
	}
	for range nextsBeforeSeek {
		rs.stats.Nexts++
		if !rs.it.Next() {
			return false
		}
		if bytes.Compare(rs.it.Key(), k) >= 0 {
			return true
		}
	}
	return rs.seekKey(k)
}

// seekKey positions the iterator at the first key >= the full key k.
func (rs *readState) seekKey(k []byte) bool {
	rs.stats.Seeks++
	return rs.it.SeekGE(k)
}

// emit checks the candidate under the iterator against the filter and appends it to the items
// (a mismatch is a hash collision). keyMode selects the position recorded as Item.After.
func (rs *readState) emit(k []byte, ts uint64, keyMode bool) error {
	v, err := rs.it.ValueAndErr()
	if err != nil {
		return err
	}
	name, value, err := decodeEnvelope(v)
	if err != nil {
		return fmt.Errorf("key %x: %w", k, err)
	}
	if !topic.MatchLevels(rs.filter, name) {
		rs.stats.Collisions++
		return nil
	}
	// An arena holds the items' keys, values and positions: three slices of it per item
	// instead of three allocations. When a chunk is full the next one is twice as large and
	// the full one is left to the items that point into it: nothing is copied.
	posLen := 10
	if keyMode {
		posLen = 2 + len(k)
	}
	size := len(rs.w.dataPrefix) + len(k) + len(value) + posLen
	if cap(rs.buf)-len(rs.buf) < size {
		// Twice the last chunk, at least 64 items, no more than n needs (a time-mode read
		// may gather more than n candidates: then 16 at a time).
		items := max(16, min(rs.n-len(rs.items), max(64, 2*cap(rs.buf)/size)))
		rs.buf = make([]byte, 0, size*items)
		if rs.items == nil {
			rs.items = make([]Item, 0, min(rs.n, 64))
		}
	}
	start := len(rs.buf)
	rs.buf = append(rs.buf, rs.w.dataPrefix...)
	rs.buf = append(rs.buf, k...)
	keyEnd := len(rs.buf)
	rs.buf = append(rs.buf, value...)
	valEnd := len(rs.buf)
	if keyMode {
		rs.buf = appendKeyPositionAfter(rs.buf, k)
	} else {
		rs.buf = appendTimePosition(rs.buf, ts+1)
	}
	key := rs.buf[start:keyEnd:keyEnd]
	val := rs.buf[keyEnd:valEnd:valEnd]
	after := Position(rs.buf[valEnd:len(rs.buf):len(rs.buf)])
	rs.items = append(rs.items, Item{Key: key, Topic: string(name), Timestamp: ts, Value: val, After: after})
	return nil
}
