package layout

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// Entry is one message handed to a layout for encoding. The caller (ds) has already assigned
// Timestamp (µs, strictly increasing within the shard) and validated Topic as an MQTT topic name.
//
// Value is opaque to the layout (ds's message encoding). The layout stores the topic next to it
// so that a reader can check every candidate against its filter: hash collisions in the key are
// counted, never delivered.
//
// The layout does not retain Topic or Value after Prepare returns.
type Entry struct {
	Topic     string
	Timestamp uint64
	Value     []byte
}

// Write is one pebble operation of a cooked batch.
type Write struct {
	Kind  WriteKind
	Key   []byte
	Value []byte // Set only; for DeleteRange, the exclusive end key
}

// WriteKind says what a Write does.
type WriteKind uint8

const (
	// WriteSet sets Key to Value.
	WriteSet WriteKind = iota + 1
	// WriteDelete deletes Key.
	WriteDelete
	// WriteDeleteRange deletes [Key, Value).
	WriteDeleteRange
)

// CookedBatch is the output of Prepare: every pebble write that the batch makes, in order,
// including the writes that persist structure the layout learned while preparing (new LTS trie
// nodes). It is a plain value: MarshalBinary serializes it (format version 1, cooked.go) for
// another replica, which commits it and calls Layout.Apply to bring its in-memory state up to
// date.
//
// The writes of one CookedBatch must be committed atomically (one pebble batch).
type CookedBatch struct {
	Writes []Write
}

// Set appends a Set write. Key and value are retained; the caller must not modify them.
func (b *CookedBatch) Set(key, value []byte) {
	b.Writes = append(b.Writes, Write{Kind: WriteSet, Key: key, Value: value})
}

// Stream identifies a set of messages that a layout keeps in a total order. Its bytes are
// layout-defined and stable: a Stream can be stored and used again after a restart.
type Stream []byte

// Position is an iterator's place in one stream of one generation. Its bytes are layout-defined,
// stable across restarts and replicas, and compare meaningfully only within their stream.
type Position []byte

// Item is one message returned by a read.
//
// Key and Value are owned by the caller (copied out of pebble).
type Item struct {
	Key       []byte // the message key, usable with Layout.PositionAfter
	Topic     string
	Timestamp uint64
	Value     []byte // the Entry.Value that was stored
	// After is the position right after this message: what Next would have returned had it
	// stopped here. Prefer it to PositionAfter(Key): in wildcard_optimized, the order of a
	// stream inside an epoch depends on whether that epoch was complete when it was read
	// (see DESIGN.md, Layouts), which a key alone does not say.
	After Position
}

// Stats counts the storage work a read did. Layouts add to it; callers aggregate.
type Stats struct {
	Seeks      uint64 // pebble iterator seeks
	Nexts      uint64 // pebble iterator steps
	Collisions uint64 // keys that matched the key filter but whose topic did not match
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Seeks += o.Seeks
	s.Nexts += o.Nexts
	s.Collisions += o.Collisions
}

// ReadBounds is what ds tells a layout about the generation being read.
type ReadBounds struct {
	// Visible is the exclusive upper bound on timestamps a reader may see: every message with a
	// smaller timestamp in this generation has been committed, and no message at or above it is
	// returned. For the current generation ds passes the shard's committed high-water mark + 1;
	// for a closed generation, its Until.
	Visible uint64
	// Closed reports that the generation will receive no more writes.
	Closed bool
}

// Layout stores and reads the messages of one generation of one shard. It owns every pebble key
// that starts with the prefix it was created with, and no other.
//
// Concurrency: Prepare and Apply are called by one goroutine at a time (the shard's writer).
// Streams, NewPosition, PositionAfter, Next, StreamsWithin, StreamsOverlapping and SpanBefore
// may be called from any goroutine concurrently with each other and with Prepare/Apply.
type Layout interface {
	// Prepare encodes entries (in timestamp order) into b and updates the layout's in-memory
	// learned structure so that later Prepare calls and readers see it. Readers must not be
	// able to observe the new structure's messages before b is committed: structure may become
	// visible early, messages only through pebble.
	Prepare(entries []Entry, b *CookedBatch) error

	// Apply brings the in-memory state up to date with a batch prepared elsewhere (a replica
	// applying its leader's batch). Applying a batch this layout prepared itself is a no-op.
	//
	// Every batch that reaches pebble under the layout's prefix must go through Prepare or
	// Apply before its timestamps become visible to readers: the wildcard layout's in-memory
	// indexes (latest timestamp per stream, recent keys) rely on seeing every message, and a
	// stream they believe idle is not read. Data that arrives any other way (a snapshot
	// installed under the prefix) requires reopening the layout with Open.
	Apply(b *CookedBatch) error

	// Streams returns the streams that may hold messages matching filter (MQTT filter levels).
	// The result is in a deterministic order.
	Streams(filter []string) []Stream

	// NewPosition returns the position before the first message of stream that matches filter
	// and has a timestamp >= since.
	NewPosition(stream Stream, filter []string, since uint64) (Position, error)

	// PositionAfter returns the position right after the message with key in stream, in key
	// order. It is exact for the reference layout, for every stream without varying levels,
	// and for messages of epochs that were complete when they were read (always the case in a
	// closed generation); for a message read from the open epoch of a wildcard stream use
	// Item.After, which is exact everywhere.
	PositionAfter(stream Stream, filter []string, key []byte) (Position, error)

	// Next reads up to n messages of stream that match filter, after pos, within bounds, in the
	// stream's order. It returns the messages and the new position; it returns the same result
	// for the same arguments and stored data (deterministic). It never returns a message twice
	// when called again with the returned position, and it never skips a message committed
	// after pos was returned. An empty result with bounds.Closed means the stream is finished.
	Next(r pebble.Reader, stream Stream, filter []string, pos Position, n int, bounds ReadBounds, stats *Stats) ([]Item, Position, error)

	// StreamsWithin returns the streams whose every topic, stored now or later, matches filter
	// (MQTT filter levels), judged from the streams' static structure; ds range-deletes the
	// old messages of such a stream when filter is a retention class. A stream that may hold
	// one topic outside filter is never returned; a layout that cannot tell returns none. The
	// result is in a deterministic order. See retention.go.
	StreamsWithin(filter []string) []Stream

	// StreamsOverlapping returns the streams that may hold a topic matching filter, named as
	// StreamsWithin names them (whole streams, no level constrained): every stream that holds,
	// or may later hold, a matching topic is in the result. Deterministic order.
	StreamsOverlapping(filter []string) []Stream

	// SpanBefore returns a key span under the layout's prefix that holds only messages of
	// stream with timestamps < before: the whole stream below some cut <= before, as far as
	// the key order keeps those messages contiguous (see retention.go for each layout). ok is
	// false when no such span is useful: an empty one, or a stream whose old messages share
	// their keys' range with younger ones or with other streams.
	SpanBefore(stream Stream, before uint64) (span Span, ok bool)

	// Close releases the layout's in-memory state.
	Close() error
}

// Errors returned by layouts.
var (
	// ErrBadPosition is returned for a Position or Stream that this layout did not produce.
	ErrBadPosition = errors.New("layout: invalid stream or position")
	// ErrCorrupt marks stored data that cannot be decoded.
	ErrCorrupt = errors.New("layout: corrupt data")
)
