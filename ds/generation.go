package ds

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mqttds/mqttds/layout"
)

// A generation is a time slice of one shard: its messages live under messagesPrefix(shard, id)
// and are stored and read by the generation's own layout, created with the layout options of
// the time. Dropping a generation is one range delete.
//
// Generation record (value of generationKey), format version 1:
//
//	+---------+---------+---------+------------+----------------+-----------------+
//	| version | since   | until   | created at | layout options | (nothing after) |
//	| 0x01    | uvarint | uvarint | uvarint    | uvarint len +  |                 |
//	|         | µs      | µs, 0 = | µs, wall   | layout.Options |                 |
//	|         |         | current | clock      | MarshalBinary  |                 |
//	+---------+---------+---------+------------+----------------+-----------------+
//
// A generation holds the messages with since <= timestamp < until. The current generation (the
// one written to) is the last one and has until = 0.
type generation struct {
	id        uint32
	since     uint64
	createdAt uint64
	opts      layout.Options

	// until is 0 while the generation is current. Written by the shard writer (under
	// shard.writeMu), read by anyone.
	until atomic.Uint64

	// mu guards the layout against being closed under a reader.
	// Use: readers RLock around layout calls; drop and layout reloads Lock.
	mu struct {
		sync.RWMutex
		layout  layout.Layout
		dropped bool
	}
}

const generationFormatV1 = 1

// record encodes the generation's record with the given until.
func (g *generation) record(until uint64) ([]byte, error) {
	opts, err := g.opts.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := []byte{generationFormatV1}
	b = binary.AppendUvarint(b, g.since)
	b = binary.AppendUvarint(b, until)
	b = binary.AppendUvarint(b, g.createdAt)
	return appendBytes(b, opts), nil
}

func decodeGeneration(id uint32, b []byte) (*generation, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != generationFormatV1 {
		return nil, corruptf("generation %d record version %d", id, v)
	}
	g := &generation{id: id}
	g.since = d.uvarint()
	g.until.Store(d.uvarint())
	g.createdAt = d.uvarint()
	opts := d.raw()
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("generation %d: %w", id, err)
	}
	if err := g.opts.UnmarshalBinary(opts); err != nil {
		return nil, corruptf("generation %d layout options: %v", id, err)
	}
	return g, nil
}

// GenerationInfo describes one generation of one shard.
type GenerationInfo struct {
	Shard int
	ID    uint32
	// Since and Until bound the timestamps of the generation's messages: Since <= ts < Until.
	// Until is 0 for the current generation of a shard.
	Since, Until uint64
	// CreatedAt is the wall-clock time of creation, µs since the Unix epoch.
	CreatedAt uint64
	// Layout is the layout kind of the generation.
	Layout string
}

// Current reports whether this is the generation its shard writes to.
func (gi GenerationInfo) Current() bool { return gi.Until == 0 }

func (g *generation) info(shard int) GenerationInfo {
	return GenerationInfo{
		Shard: shard, ID: g.id, Since: g.since, Until: g.until.Load(),
		CreatedAt: g.createdAt, Layout: g.opts.Kind,
	}
}

// overlaps reports whether the generation may hold timestamps in [since, until); until = 0 means
// no upper bound.
func (g *generation) overlaps(since, until uint64) bool {
	gu := g.until.Load()
	if gu != 0 && gu <= since {
		return false
	}
	return until == 0 || g.since < until
}

// reader returns the generation's layout with its read lock held; release calls RUnlock.
func (g *generation) reader() (layout.Layout, error) {
	g.mu.RLock()
	if g.mu.dropped {
		g.mu.RUnlock()
		return nil, ErrGenerationNotFound
	}
	return g.mu.layout, nil
}

func (g *generation) release() { g.mu.RUnlock() }
