package durable

import (
	"encoding/binary"
	"fmt"
)

// A batch is the in-flight record of one read of one stream: the QoS 1/2 messages that one
// ds.Next call returned and the session handed out, under one KV record instead of one per
// message (the "stream replay state" of ds-reference.md §9). A fetch of a window writes one
// record per stream it read, plus the cursors; acknowledgements change a state in memory and
// the record is rewritten by the next commit (several acknowledgements share the rewrite), and
// deleted once every message of the batch is complete.
//
// The record names its messages by the iterator right before the read and their keys, never
// by a copy, so after a restart Replay reads them again with one ds.Next.
type batch struct {
	// id is the send sequence number of the first entry: entry i has seq id+i. It is the
	// suffix of the record's key, so a prefix scan returns a session's batches in send order.
	id     uint64
	filter string
	subIDs []uint32 // the subscription's identifier, shared by every entry
	// before is the serialized ds.Iterator the read started at; read is how many messages it
	// returned (some of them may not have been handed out: QoS 0, No Local, expired).
	before []byte
	read   int
	// entries are the messages handed out, in send order; complete ones stay (with state
	// stateDone) so that seqs and the key encoding stay as they were.
	entries []*inflight
	open    int // entries not complete
}

// stateDone marks a batch entry whose delivery is complete (PUBACK, PUBCOMP, dropped).
const stateDone State = 0

func batchKey(cid string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(sessionPrefix(kindInflight, cid), id)
}

// Batch record flags: QoS in the low two bits, then RETAIN, then the state.
const (
	batchQoSMask    = 0x03
	batchRetain     = 0x04
	batchStateShift = 3
)

// encodeBatch encodes a batch record (format v2; integers are uvarints):
//
//	| version | read | filter | n sub ids | sub ids | iterator before | n entries | entries |
//	entry: | pid − previous pid (mod 2^16) | flags | shared key prefix | key suffix |
//	flags: QoS (bits 0-1) | retain (bit 2) | state (bits 3-4: 0 done, 1 sent, 2 released)
//
// Packet ids are mostly consecutive and a stream's keys share long prefixes, so an entry
// takes a few bytes more than its key's distinct tail.
func encodeBatch(b *batch) []byte {
	e := encoder{b: make([]byte, 0, 16+len(b.filter)+len(b.before)+len(b.entries)*12)}
	e.version()
	e.uvarint(uint64(b.read))
	e.string(b.filter)
	e.uvarint(uint64(len(b.subIDs)))
	for _, id := range b.subIDs {
		e.uvarint(uint64(id))
	}
	e.bytes(b.before)
	e.uvarint(uint64(len(b.entries)))
	var prevPID uint16
	var prevKey []byte
	for _, f := range b.entries {
		e.uvarint(uint64(f.pid - prevPID))
		flags := f.qos | byte(f.state)<<batchStateShift
		if f.retain {
			flags |= batchRetain
		}
		e.byte(flags)
		shared := commonPrefix(prevKey, f.key)
		e.uvarint(uint64(shared))
		e.bytes(f.key[shared:])
		prevPID, prevKey = f.pid, f.key
	}
	return e.b
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// decodeBatch decodes a batch record; entries get their seq, and the open ones point back at
// the batch.
func decodeBatch(id uint64, v []byte) (*batch, error) {
	d := decoder{b: v}
	d.versionAtLeast(FormatV2)
	b := &batch{id: id}
	b.read = int(d.u32())
	b.filter = d.string()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("sub id count")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		b.subIDs = append(b.subIDs, d.u32())
	}
	b.before = d.bytes()
	n = d.uvarint()
	if n > uint64(len(d.b)) || n > maxInflight || id+n < id {
		d.fail("entry count")
	}
	var pid uint16
	var key []byte
	for i := uint64(0); i < n && d.err == nil; i++ {
		pid += d.u16()
		flags := d.byte()
		shared := d.uvarint()
		suffix := d.bytes()
		f := &inflight{pid: pid, seq: id + i, qos: flags & batchQoSMask, retain: flags&batchRetain != 0,
			state: State(flags >> batchStateShift), subIDs: b.subIDs, b: b}
		if shared > uint64(len(key)) || pid == 0 || flags&^(batchQoSMask|batchRetain|3<<batchStateShift) != 0 ||
			(f.qos != 1 && f.qos != 2) || f.state > StateReleased || (f.state == StateReleased && f.qos != 2) {
			d.fail("batch entry")
			break
		}
		f.key = append(key[:shared:shared], suffix...)
		key = f.key
		if f.state != stateDone {
			b.open++
		}
		b.entries = append(b.entries, f)
	}
	if b.read < len(b.entries) {
		d.fail("batch read count")
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeInflightRecord decodes the value of an in-flight key given the key's rest after the
// client id: a batch record (8-byte id), or a v1 per-message record (2-byte packet id), which
// it returns as a batch of one with legacy set.
func decodeInflightRecord(rest, value []byte) (b *batch, legacy bool, err error) {
	switch len(rest) {
	case 8:
		b, err = decodeBatch(binary.BigEndian.Uint64(rest), value)
		return b, false, err
	case 2:
		f, filter, before, err := decodeInflightV1(binary.BigEndian.Uint16(rest), value)
		if err != nil {
			return nil, false, err
		}
		return batchOfLegacy(f, before, filter), true, nil
	}
	return nil, false, fmt.Errorf("%w: in-flight key with %d trailing bytes", ErrCorruption, len(rest))
}

// batchOfLegacy turns a format v1 in-flight record (one per message) into a batch of one, so
// that a table written by an older build is read and rewritten in the current format.
func batchOfLegacy(f *inflight, before []byte, filter string) *batch {
	b := &batch{id: f.seq, filter: filter, subIDs: f.subIDs, before: before, read: 1, entries: []*inflight{f}, open: 1}
	f.b = b
	return b
}
