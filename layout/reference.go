package layout

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqttds/mqttds/internal/invariants"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// reference is the reference layout: one key per message, in timestamp order, all in one
// stream; a read scans every message and applies the filter to the stored topic.
//
//	key:   prefix | timestamp (8 bytes, big-endian)
//	value: envelope (see envelope.go)
//
// Stream: the single byte referenceStream. Position, format version 1:
//
//	+---------+-------------------------------------------+
//	| 0x01    | next timestamp to read (8 bytes, BE)      |
//	+---------+-------------------------------------------+
//
// It needs no in-memory state, so Apply is a no-op and Open reads nothing.
type reference struct {
	prefix []byte
}

const (
	referenceStream     = 'R'
	referencePositionV1 = 1
)

func newReference(prefix []byte) *reference {
	return &reference{prefix: append([]byte(nil), prefix...)}
}

func (l *reference) key(ts uint64) []byte {
	k := make([]byte, len(l.prefix)+8)
	copy(k, l.prefix)
	binary.BigEndian.PutUint64(k[len(l.prefix):], ts)
	return k
}

// Prepare implements Layout. The batch's keys share one buffer and its values another: two
// allocations per batch instead of two per message (nothing here is retained past the commit).
func (l *reference) Prepare(entries []Entry, b *CookedBatch) error {
	from := len(b.Writes)
	keys := make([]byte, 0, len(entries)*(len(l.prefix)+8))
	values := make([]byte, 0, envelopesSize(entries))
	for i := range entries {
		e := &entries[i]
		k, v := len(keys), len(values)
		keys = binary.BigEndian.AppendUint64(append(keys, l.prefix...), e.Timestamp)
		values = appendEnvelope(values, e.Topic, e.Value)
		b.Set(keys[k:len(keys):len(keys)], values[v:len(values):len(values)])
	}
	if invariants.Enabled {
		invariants.CheckErr(l.checkPrepared(entries, b.Writes[from:]))
	}
	return nil
}

// Apply implements Layout: the reference layout keeps no in-memory state.
func (l *reference) Apply(*CookedBatch) error { return nil }

// Streams implements Layout: every filter maps to the one stream.
func (l *reference) Streams([]string) []Stream { return []Stream{{referenceStream}} }

func (l *reference) checkStream(s Stream) error {
	if len(s) != 1 || s[0] != referenceStream {
		return fmt.Errorf("%w: reference stream %x", ErrBadPosition, []byte(s))
	}
	return nil
}

func referencePosition(ts uint64) Position {
	p := make(Position, 9)
	p[0] = referencePositionV1
	binary.BigEndian.PutUint64(p[1:], ts)
	return p
}

// NewPosition implements Layout.
func (l *reference) NewPosition(s Stream, _ []string, since uint64) (Position, error) {
	if err := l.checkStream(s); err != nil {
		return nil, err
	}
	return referencePosition(since), nil
}

// PositionAfter implements Layout.
func (l *reference) PositionAfter(s Stream, _ []string, key []byte) (Position, error) {
	if err := l.checkStream(s); err != nil {
		return nil, err
	}
	if len(key) != len(l.prefix)+8 || string(key[:len(l.prefix)]) != string(l.prefix) {
		return nil, fmt.Errorf("%w: key %x is not a reference key", ErrBadPosition, key)
	}
	return referencePosition(binary.BigEndian.Uint64(key[len(l.prefix):]) + 1), nil
}

// Next implements Layout. It scans from the position to the visible bound, stopping after n
// matches; the returned position skips everything it scanned, matching or not.
func (l *reference) Next(r pebble.Reader, s Stream, filter []string, pos Position, n int, bounds ReadBounds, stats *Stats) ([]Item, Position, error) {
	if err := l.checkStream(s); err != nil {
		return nil, nil, err
	}
	if len(pos) != 9 || pos[0] != referencePositionV1 {
		return nil, nil, fmt.Errorf("%w: reference position %x", ErrBadPosition, []byte(pos))
	}
	from := binary.BigEndian.Uint64(pos[1:])
	if n <= 0 || from >= bounds.Visible {
		return nil, pos, nil
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: l.key(from), UpperBound: l.key(bounds.Visible)})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()

	var items []Item
	stats.Seeks++
	step := func() bool { stats.Nexts++; return it.Next() }
	for valid := it.First(); valid; valid = step() {
		k := it.Key()
		ts := binary.BigEndian.Uint64(k[len(l.prefix):])
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, nil, err
		}
		name, value, err := decodeEnvelope(v)
		if err != nil {
			return nil, nil, fmt.Errorf("key %x: %w", k, err)
		}
		if !topic.MatchLevels(filter, name) {
			continue
		}
		items = append(items, Item{
			Key:       append([]byte(nil), k...),
			Topic:     string(name),
			Timestamp: ts,
			Value:     append([]byte(nil), value...),
			After:     referencePosition(ts + 1),
		})
		if len(items) == n {
			return items, items[n-1].After, nil
		}
	}
	if err := it.Error(); err != nil {
		return nil, nil, err
	}
	return items, referencePosition(bounds.Visible), nil
}

// Close implements Layout.
func (l *reference) Close() error { return nil }
