package ds

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mqttds/mqttds/layout"
)

// Rank orders streams for a consumer: streams of different shards are independent; within a
// shard, a consumer must finish generation N (Next returns ErrEndOfStream) before reading N+1.
type Rank struct {
	Shard      int
	Generation uint32
}

// Stream is a set of messages of one generation of one shard that a layout keeps in one total
// order. One stream may carry many topics. Streams are plain values: MarshalBinary gives bytes
// that stay valid across restarts for as long as the generation lives.
type Stream struct {
	rank   Rank
	layout layout.Stream
}

// RankedStream is a stream returned by GetStreams with its rank.
type RankedStream struct {
	Rank   Rank
	Stream Stream
}

// Rank returns the stream's shard and generation.
func (s Stream) Rank() Rank { return s.rank }

// Iterator is a consumer's position in one stream, for one topic filter. It is a plain value:
// Next returns an advanced copy and never changes the one it was given, and MarshalBinary gives
// bytes that a session can store and pass to UnmarshalBinary after a restart.
type Iterator struct {
	rank   Rank
	stream layout.Stream
	filter string
	levels []string
	pos    layout.Position
}

// Rank returns the iterator's shard and generation.
func (it Iterator) Rank() Rank { return it.rank }

// Filter returns the iterator's topic filter.
func (it Iterator) Filter() string { return it.filter }

// GetStreams returns the streams that may hold messages matching filter with timestamps >=
// since (µs), ordered by rank, from every shard. Streams appear as topics are learned and
// generations are added, so a consumer calls it again from time to time (or on a Watcher's
// notification).
//
// Safe for concurrent use.
func (d *DB) GetStreams(filter string, since uint64) ([]RankedStream, error) {
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	if _, err := filterLevels(filter); err != nil {
		return nil, err
	}
	var out []RankedStream
	for shard := range d.shards {
		var streams []RankedStream
		var err error
		if rr := d.remote(shard); rr != nil {
			streams, err = d.remoteStreams(rr, shard, filter, since)
		} else {
			streams, err = d.localStreams(shard, filter, since)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, streams...)
	}
	return out, nil
}

// localStreams is GetStreams for one shard, from this store's replica.
func (d *DB) localStreams(shard int, filter string, since uint64) ([]RankedStream, error) {
	levels, err := filterLevels(filter)
	if err != nil {
		return nil, err
	}
	s, err := d.shard(shard)
	if err != nil {
		return nil, err
	}
	// Under the storage lock, so that a replica's reload does not hide generations meanwhile.
	if _, err := d.rlockStorage(); err != nil {
		return nil, err
	}
	defer d.storage.RUnlock()
	var out []RankedStream
	for _, g := range s.generations() {
		if !g.overlaps(since, 0) {
			continue
		}
		l, err := g.reader()
		if err != nil {
			continue // dropped meanwhile
		}
		streams := l.Streams(levels)
		g.release()
		rank := Rank{Shard: s.id, Generation: g.id}
		for _, ls := range streams {
			out = append(out, RankedStream{Rank: rank, Stream: Stream{rank: rank, layout: ls}})
		}
	}
	return out, nil
}

// MakeIterator returns an iterator over the messages of stream that match filter and have
// timestamps >= since (µs).
//
// Safe for concurrent use.
func (d *DB) MakeIterator(stream Stream, filter string, since uint64) (Iterator, error) {
	if err := d.checkShard(stream.rank.Shard); err != nil {
		return Iterator{}, err
	}
	if rr := d.remote(stream.rank.Shard); rr != nil {
		if _, err := filterLevels(filter); err != nil {
			return Iterator{}, err
		}
		sb, _ := stream.MarshalBinary()
		req := binary.AppendUvarint(appendString(appendBytes(remoteRequest(readIterator), sb), filter), since)
		return d.remoteIterator(rr, stream.rank.Shard, req)
	}
	return d.makeLocalIterator(stream, filter, since)
}

func (d *DB) makeLocalIterator(stream Stream, filter string, since uint64) (Iterator, error) {
	levels, err := filterLevels(filter)
	if err != nil {
		return Iterator{}, err
	}
	l, release, err := d.layoutOf(stream.rank)
	if err != nil {
		return Iterator{}, err
	}
	defer release()
	pos, err := l.NewPosition(stream.layout, levels, since)
	if err != nil {
		return Iterator{}, fmt.Errorf("%w: %v", ErrBadIterator, err)
	}
	return Iterator{rank: stream.rank, stream: stream.layout, filter: filter, levels: levels, pos: pos}, nil
}

// UpdateIterator returns it repositioned right after the message with key (a key returned by
// Next for the same stream): the next Next starts with the message after it. It is exact in
// closed generations and for layouts without varying levels; in the open epoch of a wildcard
// stream prefer StoredMessage.After, which is exact everywhere (see layout.Layout.PositionAfter).
//
// Safe for concurrent use.
func (d *DB) UpdateIterator(it Iterator, key []byte) (Iterator, error) {
	if err := d.checkShard(it.rank.Shard); err != nil {
		return Iterator{}, err
	}
	if rr := d.remote(it.rank.Shard); rr != nil {
		ib, _ := it.MarshalBinary()
		return d.remoteIterator(rr, it.rank.Shard, appendBytes(appendBytes(remoteRequest(readUpdate), ib), key))
	}
	return d.updateLocalIterator(it, key)
}

func (d *DB) updateLocalIterator(it Iterator, key []byte) (Iterator, error) {
	l, release, err := d.layoutOf(it.rank)
	if err != nil {
		return Iterator{}, err
	}
	defer release()
	pos, err := l.PositionAfter(it.stream, it.levels, key)
	if err != nil {
		return Iterator{}, fmt.Errorf("%w: %v", ErrBadIterator, err)
	}
	it.pos = pos
	return it, nil
}

// Next returns up to n messages of it's stream after its position, in the stream's order, and
// the iterator advanced past them. It only returns committed messages (whose Store has
// returned or is about to). For the same iterator and n it returns the same messages, unless
// retention removed some meanwhile: it never returns a message older than its topic's
// retention period (RetentionOptions.Classes), and a dropped generation is gone. An empty
// result means "nothing yet"; ErrEndOfStream means the generation is closed and fully read,
// and the consumer moves on to the next generation.
//
// The returned messages are owned by the caller. Safe for concurrent use.
func (d *DB) Next(ctx context.Context, it Iterator, n int) ([]StoredMessage, Iterator, error) {
	if err := ctx.Err(); err != nil {
		return nil, it, err
	}
	if n <= 0 {
		return nil, it, fmt.Errorf("ds: Next with n = %d", n)
	}
	if err := d.checkShard(it.rank.Shard); err != nil {
		return nil, it, err
	}
	if rr := d.remote(it.rank.Shard); rr != nil {
		return d.remoteNext(ctx, rr, it, n)
	}
	return d.nextLocal(ctx, it, n)
}

// nextLocal is Next from this store's replica.
func (d *DB) nextLocal(ctx context.Context, it Iterator, n int) ([]StoredMessage, Iterator, error) {
	start := time.Now()
	s, err := d.shard(it.rank.Shard)
	if err != nil {
		return nil, it, err
	}
	// The storage lock first: a replica's reload swaps the generations under it.
	db, err := d.rlockStorage()
	if err != nil {
		return nil, it, err
	}
	g, err := d.generation(it.rank)
	if err != nil {
		d.storage.RUnlock()
		return nil, it, err
	}
	// Read bounds first, layout second: a generation that closes in between is read with the
	// current generation's (smaller) bounds, which is safe.
	bounds := layout.ReadBounds{Visible: s.visible.Load() + 1}
	if until := g.until.Load(); until != 0 {
		bounds = layout.ReadBounds{Visible: until, Closed: true}
	}
	l, err := g.reader()
	if err != nil {
		d.storage.RUnlock()
		return nil, it, err
	}
	var stats layout.Stats
	items, pos, err := l.Next(db, it.stream, it.levels, it.pos, n, bounds, &stats)
	// Messages past their retention period are skipped (retention_class.go). A read that found
	// nothing else reads on, so that an empty result still means "nothing yet"; a long run of
	// expired messages yields to ctx with its error, never with an empty result.
	for now := timestampOf(d.opts.Now()); err == nil && len(items) > 0; {
		if items = d.dropExpired(it.rank.Shard, items, now); len(items) > 0 {
			break
		}
		if err = ctx.Err(); err == nil {
			items, pos, err = l.Next(db, it.stream, it.levels, pos, n, bounds, &stats)
		}
	}
	g.release()
	d.storage.RUnlock()
	d.metrics.read(stats, len(items), time.Since(start))
	if err != nil {
		return nil, it, err
	}
	if len(items) == 0 && bounds.Closed {
		return nil, it, ErrEndOfStream
	}
	out := make([]StoredMessage, len(items))
	for i, item := range items {
		if err := decodeMessage(item.Value, &out[i].Message); err != nil {
			return nil, it, fmt.Errorf("ds: shard %d generation %d key %x: %w", it.rank.Shard, it.rank.Generation, item.Key, err)
		}
		out[i].Key = item.Key
		out[i].After = it
		out[i].After.pos = item.After
		out[i].Topic = item.Topic
		out[i].Timestamp = item.Timestamp
	}
	it.pos = pos
	return out, it, nil
}

// Serialized streams and iterators, format version 1 (integers are uvarints, byte strings
// uvarint length + bytes):
//
//	stream:   | 0x01 | shard | generation | layout stream |
//	iterator: | 0x02 | shard | generation | layout stream | filter | layout position |
const (
	streamFormatV1   = 0x01
	iteratorFormatV1 = 0x02
)

// MarshalBinary encodes the stream.
func (s Stream) MarshalBinary() ([]byte, error) {
	b := []byte{streamFormatV1}
	b = appendRank(b, s.rank)
	return appendBytes(b, s.layout), nil
}

// UnmarshalBinary decodes a stream encoded by MarshalBinary; it copies b.
func (s *Stream) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != streamFormatV1 {
		return fmt.Errorf("%w: stream format %d", ErrBadIterator, v)
	}
	rank := decodeRank(&d)
	ls := d.bytes()
	if err := d.done(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadIterator, err)
	}
	*s = Stream{rank: rank, layout: ls}
	return nil
}

// MarshalBinary encodes the iterator.
func (it Iterator) MarshalBinary() ([]byte, error) {
	// 1 format byte, 2 uvarints of rank and 3 length prefixes: 4*binary.MaxVarintLen64 is
	// more than enough for all the headers together.
	return it.AppendBinary(make([]byte, 0, 1+4*binary.MaxVarintLen64+len(it.stream)+len(it.filter)+len(it.pos)))
}

// AppendBinary appends what MarshalBinary returns to b: a caller with a buffer at hand (a
// lookup key) encodes without allocating.
func (it Iterator) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, iteratorFormatV1)
	b = appendRank(b, it.rank)
	b = appendBytes(b, it.stream)
	b = appendString(b, it.filter)
	return appendBytes(b, it.pos), nil
}

// UnmarshalBinary decodes an iterator encoded by MarshalBinary; it copies b.
func (it *Iterator) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != iteratorFormatV1 {
		return fmt.Errorf("%w: iterator format %d", ErrBadIterator, v)
	}
	rank := decodeRank(&d)
	stream := d.bytes()
	filter := d.string()
	pos := d.bytes()
	if err := d.done(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadIterator, err)
	}
	levels, err := filterLevels(filter)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadIterator, err)
	}
	*it = Iterator{rank: rank, stream: stream, filter: filter, levels: levels, pos: pos}
	return nil
}

func appendRank(b []byte, r Rank) []byte {
	b = binary.AppendUvarint(b, uint64(r.Shard))
	return binary.AppendUvarint(b, uint64(r.Generation))
}

func decodeRank(d *decoder) Rank {
	shard, gen := d.uvarint(), d.uvarint()
	if shard >= maxShards || gen > 1<<32-1 {
		d.fail("rank (%d, %d)", shard, gen)
	}
	return Rank{Shard: int(shard), Generation: uint32(gen)}
}

// layoutOf returns the layout of rank's generation, read-locked with the storage lock, so that
// no reload of a replica swaps the generation between the lookup and the read; release
// unlocks both.
func (d *DB) layoutOf(rank Rank) (layout.Layout, func(), error) {
	if _, err := d.rlockStorage(); err != nil {
		return nil, nil, err
	}
	g, err := d.generation(rank)
	if err != nil {
		d.storage.RUnlock()
		return nil, nil, err
	}
	l, err := g.reader()
	if err != nil {
		d.storage.RUnlock()
		return nil, nil, err
	}
	return l, func() { g.release(); d.storage.RUnlock() }, nil
}
