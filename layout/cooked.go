package layout

import (
	"encoding/binary"
	"fmt"
	"math"
)

// cookedFormatV1 is the format version of a serialized CookedBatch (see MarshalBinary). Formats
// only move forward: a reader refuses a version it does not know.
const cookedFormatV1 = 1

// MarshalBinary serializes b, for a replica that applies a batch its leader prepared (raft puts
// these bytes in its log). Format version 1, integers as uvarints:
//
//	+------+-----+------------------------------------------------------------------+
//	| 0x01 |  n  | n × ( kind 1 B | key len | key | value len | value )            |
//	+------+-----+------------------------------------------------------------------+
//	kind: 1 Set, 2 Delete (value len 0), 3 DeleteRange (value = exclusive end key)
//
// The writes keep their order: pebble applies them in that order, as one atomic batch.
func (b *CookedBatch) MarshalBinary() ([]byte, error) {
	size := 1 + binary.MaxVarintLen64
	for _, w := range b.Writes {
		size += 1 + 2*binary.MaxVarintLen64 + len(w.Key) + len(w.Value)
	}
	out := make([]byte, 0, size)
	out = append(out, cookedFormatV1)
	out = binary.AppendUvarint(out, uint64(len(b.Writes)))
	for i, w := range b.Writes {
		if err := w.check(); err != nil {
			return nil, fmt.Errorf("layout: cooked batch write %d: %w", i, err)
		}
		out = append(out, byte(w.Kind))
		out = binary.AppendUvarint(out, uint64(len(w.Key)))
		out = append(out, w.Key...)
		out = binary.AppendUvarint(out, uint64(len(w.Value)))
		out = append(out, w.Value...)
	}
	return out, nil
}

// UnmarshalBinary replaces b's writes with the ones serialized in data (MarshalBinary's
// format). Anything else is an ErrCorrupt error and leaves b unchanged. The writes share one
// copy of data, so the caller may reuse data afterwards.
func (b *CookedBatch) UnmarshalBinary(data []byte) error {
	corrupt := func(what string) error {
		return fmt.Errorf("%w: cooked batch: %s", ErrCorrupt, what)
	}
	if len(data) == 0 {
		return corrupt("empty")
	}
	if data[0] != cookedFormatV1 {
		return corrupt(fmt.Sprintf("unknown format version %d", data[0]))
	}
	r := reader{b: append([]byte(nil), data[1:]...)}
	// Every write takes at least 3 bytes, so n cannot ask for more than the input can hold.
	n := r.uvarint(uint64(len(r.b)) / 3)
	writes := make([]Write, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		if len(r.b) == 0 {
			return corrupt("truncated")
		}
		w := Write{Kind: WriteKind(r.b[0])}
		r.b = r.b[1:]
		// Lengths are checked against the bytes left (bytes reports "truncated").
		w.Key = r.bytes(math.MaxUint32)
		w.Value = r.bytes(math.MaxUint32)
		if r.err != nil {
			break
		}
		if err := w.check(); err != nil {
			return corrupt(fmt.Sprintf("write %d: %v", i, err))
		}
		writes = append(writes, w)
	}
	if r.err != nil {
		return corrupt(r.err.Error())
	}
	if len(r.b) != 0 {
		return corrupt("trailing bytes")
	}
	b.Writes = writes
	return nil
}

// check reports a write that cannot be serialized or applied.
func (w *Write) check() error {
	switch w.Kind {
	case WriteSet, WriteDeleteRange:
		return nil
	case WriteDelete:
		if len(w.Value) != 0 {
			return fmt.Errorf("delete with a value")
		}
		return nil
	default:
		return fmt.Errorf("unknown write kind %d", w.Kind)
	}
}
