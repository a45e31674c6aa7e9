package ds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/zeebo/xxh3"

	"github.com/mqttds/mqttds/layout"
)

// A shard is an independent slice of the store: its own write buffer, clock and generations.
// A publisher's messages all go to one shard (ShardOf), so they keep their order.
type shard struct {
	db *DB
	id int

	// kick wakes the flusher (capacity 1: wake-ups coalesce).
	kick chan struct{}
	// commits carries applied flushes from the flusher to the completer, in apply order. The
	// flusher closes it when it exits.
	commits       chan *inflightFlush
	completerDone chan struct{}

	mu struct {
		sync.Mutex
		// pending are the requests waiting for a flush, oldest first.
		// Invariant: items and bytes are the sums over pending; oldest is pending[0].start.
		pending      []*request
		items, bytes int
		oldest       time.Time
		// inflight counts flushes taken off pending and not yet completed.
		// Invariant: 0 <= inflight <= Buffer.MaxInFlight.
		inflight int
		// applied counts flushes applied and waiting for durability (a subset of inflight).
		applied int
		// drained is signalled whenever inflight or applied decreases.
		drained sync.Cond
		closing bool
	}

	// writeMu serialises the writer side: the flusher holds it while preparing and applying a
	// flush, generation changes hold it for their whole change.
	writeMu sync.Mutex
	// clock is the last timestamp assigned (µs). Guarded by writeMu.
	// Invariant: clock >= every timestamp stored in the shard; it only grows.
	clock uint64
	// clockKey is shardClockKey(id), written by every flush. Immutable.
	clockKey []byte
	// scratch is prepare's reusable batch and entries. Guarded by writeMu.
	// Invariant: empty (length 0, cleared) outside a flush.
	scratch struct {
		cb      layout.CookedBatch
		entries []layout.Entry
	}

	gens struct {
		sync.RWMutex
		// list holds the live generations in id order; the last is the current one.
		list []*generation
	}

	// visible is the committed high-water mark: every timestamp <= visible whose batch was
	// applied is durable, and no batch still committing has a timestamp <= visible.
	visible atomic.Uint64
	// stale is set when a replicated batch failed with ErrNotCommitted: the in-memory state may
	// hold structure of batches that will not commit, so the next flush (or ApplyReplicated)
	// rebuilds it from pebble.
	stale atomic.Bool

	watchers struct {
		sync.Mutex
		set map[*Watcher]struct{}
		// commits counts the commits signalled (notify calls): with visible, the marks a
		// remote watcher compares (remote.go).
		commits uint64
		// plain is the number of watchers in set that are not messages-only.
		plain int
		// polling is set while pollRemote runs for this shard.
		polling bool
	}
}

// ShardOf returns the shard of a publisher: xxh3(clientID) mod NumShards.
func ShardOf(clientID string, numShards int) int {
	return int(xxh3.HashString(clientID) % uint64(numShards))
}

func newShard(db *DB, id int) *shard {
	s := &shard{
		db:            db,
		id:            id,
		kick:          make(chan struct{}, 1),
		commits:       make(chan *inflightFlush, db.opts.Buffer.MaxInFlight),
		completerDone: make(chan struct{}),
		clockKey:      shardClockKey(id),
	}
	s.mu.drained.L = &s.mu.Mutex
	s.watchers.set = map[*Watcher]struct{}{}
	return s
}

// load reads the shard's clock and generations and opens their layouts; a shard without
// generations gets its first one.
func (s *shard) load(db *pebble.DB, lopts layout.Options) error {
	clock, err := readClock(db, s.id)
	if err != nil {
		return err
	}
	s.clock = clock
	s.visible.Store(clock)
	gens, err := readGenerations(db, s.id)
	if err != nil {
		return err
	}
	if err := openLayouts(db, s.id, gens); err != nil {
		return err
	}
	s.gens.list = gens
	if len(gens) == 0 && !s.db.opts.DeferFirstGeneration {
		if _, err := s.addGenerationLocked(lopts); err != nil {
			return err
		}
	}
	return nil
}

// openLayouts opens the layout of every generation of shard; on error it closes those it
// opened.
func openLayouts(db *pebble.DB, shard int, gens []*generation) error {
	for _, g := range gens {
		l, err := layout.Open(db, messagesPrefix(shard, g.id), g.opts)
		if err != nil {
			closeLayouts(gens)
			return fmt.Errorf("ds: shard %d generation %d: %w", shard, g.id, err)
		}
		g.mu.layout = l
	}
	return nil
}

func readClock(db *pebble.DB, shard int) (uint64, error) {
	v, closer, err := db.Get(shardClockKey(shard))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, corruptf("shard %d clock of %d bytes", shard, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func readGenerations(db *pebble.DB, shard int) ([]*generation, error) {
	prefix := generationsPrefix(shard)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	var gens []*generation
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		if len(k) != len(prefix)+4 {
			it.Close()
			return nil, corruptf("shard %d generation key %x", shard, k)
		}
		g, err := decodeGeneration(binary.BigEndian.Uint32(k[len(prefix):]), it.Value())
		if err != nil {
			it.Close()
			return nil, err
		}
		gens = append(gens, g)
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	for i, g := range gens {
		if (g.until.Load() == 0) != (i == len(gens)-1) {
			return nil, corruptf("shard %d generation %d: until %d", shard, g.id, g.until.Load())
		}
	}
	return gens, nil
}

func closeLayouts(gens []*generation) {
	for _, g := range gens {
		if g.mu.layout != nil {
			g.mu.layout.Close()
			g.mu.layout = nil
		}
	}
}

// current returns the generation being written.
func (s *shard) current() *generation {
	s.gens.RLock()
	defer s.gens.RUnlock()
	return s.gens.list[len(s.gens.list)-1]
}

// generation returns the live generation id, or nil.
func (s *shard) generation(id uint32) *generation {
	s.gens.RLock()
	defer s.gens.RUnlock()
	for _, g := range s.gens.list {
		if g.id == id {
			return g
		}
	}
	return nil
}

// generations returns a copy of the live generation list.
func (s *shard) generations() []*generation {
	s.gens.RLock()
	defer s.gens.RUnlock()
	return append([]*generation(nil), s.gens.list...)
}

// generationBounds returns the generations with the until each had at the same instant: a
// closing generation and its successor appear together, so exactly the last has until 0.
func (s *shard) generationBounds() ([]*generation, []uint64) {
	s.gens.RLock()
	defer s.gens.RUnlock()
	gens := append([]*generation(nil), s.gens.list...)
	untils := make([]uint64, len(gens))
	for i, g := range gens {
		untils[i] = g.until.Load()
	}
	return gens, untils
}

// addGeneration closes the current generation and opens a new one with the layout options
// lopts; the new layout inherits the learned structure of the old one.
func (s *shard) addGeneration(lopts layout.Options) (GenerationInfo, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// Readers treat a closed generation as complete up to its until: nothing of it may still be
	// committing when it closes.
	s.mu.Lock()
	for s.mu.inflight > 0 {
		s.mu.drained.Wait()
	}
	s.mu.Unlock()
	if _, err := s.db.rlockStorage(); err != nil {
		return GenerationInfo{}, err
	}
	defer s.db.storage.RUnlock()
	return s.addGenerationLocked(lopts)
}

// addGenerationLocked does addGeneration's work; writeMu and the storage lock are held (or
// the DB is opening) and nothing is in flight.
func (s *shard) addGenerationLocked(lopts layout.Options) (GenerationInfo, error) {
	nowTS := timestampOf(s.db.opts.Now())
	g := &generation{id: 1, createdAt: nowTS, opts: lopts}
	cb := &layout.CookedBatch{}
	var prev *generation
	var prevLayout layout.Layout
	if len(s.gens.list) > 0 {
		prev = s.gens.list[len(s.gens.list)-1]
		prevLayout = prev.mu.layout
		g.id = prev.id + 1
		g.since = max(s.clock+1, nowTS)
		rec, err := prev.record(g.since)
		if err != nil {
			return GenerationInfo{}, err
		}
		cb.Set(generationKey(s.id, prev.id), rec)
		// Later messages must sort after since: move the clock there.
		cb.Set(shardClockKey(s.id), binary.BigEndian.AppendUint64(nil, g.since-1))
	}
	l, err := layout.Create(messagesPrefix(s.id, g.id), lopts, prevLayout, cb)
	if err != nil {
		return GenerationInfo{}, fmt.Errorf("ds: shard %d: new generation: %w", s.id, err)
	}
	rec, err := g.record(0)
	if err == nil {
		cb.Set(generationKey(s.id, g.id), rec)
		err = s.applyNow(cb)
	}
	if err != nil {
		l.Close()
		return GenerationInfo{}, err
	}
	g.mu.layout = l
	// The previous generation closes and the new one is listed in one step under the list's
	// lock, so a reader of generationBounds never sees the last generation already closed.
	s.gens.Lock()
	if prev != nil {
		prev.until.Store(g.since)
		s.clock = g.since - 1
		s.visible.Store(s.clock)
	}
	s.gens.list = append(s.gens.list, g)
	s.gens.Unlock()
	s.db.metrics.generationsAdded.Add(1)
	return g.info(s.id), nil
}

// dropGeneration deletes a closed generation and its messages.
func (s *shard) dropGeneration(id uint32) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	g := s.generation(id)
	switch {
	case g == nil:
		return fmt.Errorf("%w: shard %d generation %d", ErrGenerationNotFound, s.id, id)
	case g.until.Load() == 0:
		return fmt.Errorf("%w: shard %d generation %d", ErrCurrentGeneration, s.id, id)
	}
	if _, err := s.db.rlockStorage(); err != nil {
		return err
	}
	defer s.db.storage.RUnlock()
	prefix := messagesPrefix(s.id, id)
	cb := &layout.CookedBatch{Writes: []layout.Write{
		{Kind: layout.WriteDeleteRange, Key: prefix, Value: prefixEnd(prefix)},
		{Kind: layout.WriteDelete, Key: generationKey(s.id, id)},
	}}
	if err := s.applyNow(cb); err != nil {
		return err
	}
	g.mu.Lock()
	g.mu.dropped = true
	err := g.mu.layout.Close()
	g.mu.Unlock()
	s.gens.Lock()
	for i, lg := range s.gens.list {
		if lg == g {
			s.gens.list = append(s.gens.list[:i:i], s.gens.list[i+1:]...)
			break
		}
	}
	s.gens.Unlock()
	s.db.metrics.generationsDropped.Add(1)
	return err
}

// applyNow commits cb through the applier and waits for it. writeMu and the storage lock are
// held.
func (s *shard) applyNow(cb *layout.CookedBatch) error {
	c, err := s.db.applier.Apply(s.id, cb)
	if err != nil {
		return err
	}
	if err := c.Wait(); err != nil {
		s.commitFailed(err)
		return err
	}
	return nil
}

// reloadCurrentLocked replaces the current generation's layout with one opened from what is
// committed, dropping in-memory structure of a batch that failed. writeMu and the storage lock
// are held.
func (s *shard) reloadCurrentLocked() error {
	g := s.current()
	l, err := layout.Open(s.db.pebble, messagesPrefix(s.id, g.id), g.opts)
	if err != nil {
		return err
	}
	g.mu.Lock()
	old := g.mu.layout
	g.mu.layout = l
	g.mu.Unlock()
	return old.Close()
}

// close stops the shard's goroutines after flushing what is pending, and closes the layouts.
func (s *shard) close() {
	s.mu.Lock()
	s.mu.closing = true
	s.mu.Unlock()
	s.wake()
	<-s.completerDone
	s.gens.Lock()
	for _, g := range s.gens.list {
		g.mu.Lock()
		if !g.mu.dropped {
			g.mu.dropped = true
			g.mu.layout.Close()
		}
		g.mu.Unlock()
	}
	s.gens.Unlock()
	s.watchers.Lock()
	for w := range s.watchers.set {
		w.closeLocked()
	}
	s.watchers.Unlock()
}

// Timestamp converts a wall-clock time to ds time: microseconds since the Unix epoch, the unit
// of Message.Timestamp and of every since/until argument. Times before 1970 map to 0.
func Timestamp(t time.Time) uint64 { return timestampOf(t) }

// TimeOf converts ds time back to a wall-clock time.
func TimeOf(ts uint64) time.Time { return time.UnixMicro(int64(ts)) }

func timestampOf(t time.Time) uint64 {
	us := t.UnixMicro()
	if us < 0 {
		return 0
	}
	return uint64(us)
}
