package ds

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Recovery from a failed write. Pebble cannot continue after a failed WAL write or sync: its
// log writer keeps the error and fails every later commit. When a flush's commit fails, ds
// marks the store broken; the next flush of any shard reopens pebble (replaying its WAL) and
// reloads every shard's clock, generations and layouts from what is durable, then goes on. If
// the disk still fails, that flush fails and the next one tries again. So a failed flush
// returns its error to its writers, and writes work again once the disk recovers, without
// reopening the DB.
//
// The storage lock keeps the swap safe: every use of d.pebble holds it for reading (readers,
// flushes, generation changes); recovery holds it for writing.

// errStorageDown is returned while a recovery has failed and pebble is closed.
var errStorageDown = errors.New("ds: storage unavailable after a write failure")

// markBroken records that a commit failed, so that the next flush recovers.
func (d *DB) markBroken() {
	d.broken.Store(true)
}

// rlockStorage takes the storage lock for reading and returns the pebble instance, or an
// error (and no lock) while the storage is down.
func (d *DB) rlockStorage() (*pebble.DB, error) {
	d.storage.RLock()
	if d.pebble == nil {
		d.storage.RUnlock()
		return nil, errStorageDown
	}
	return d.pebble, nil
}

// recoverStorage reopens pebble after a failed commit, if still needed. The caller holds no
// storage lock.
func (d *DB) recoverStorage() error {
	d.storage.Lock()
	defer d.storage.Unlock()
	if !d.broken.Load() {
		return nil // another flush recovered meanwhile
	}
	// 1. Batches applied before the failure must finish waiting (they fail too) before their
	//    pebble instance is closed.
	for _, s := range d.shards {
		s.waitAppliedDone()
	}
	// 2. Reopen pebble. Its Close reports the failure we already know about.
	if d.pebble != nil {
		d.pebble.Close()
		d.pebble = nil
	}
	db, err := pebble.Open(d.dir, pebbleOptions(d.opts.Pebble, d.opts.FS))
	if err != nil {
		return fmt.Errorf("ds: reopening the store after a write failure: %w", err)
	}
	// 3. Reload every shard from what is durable: a failed batch may have advanced the clock
	//    and taught the layouts structure that was never committed.
	for _, s := range d.shards {
		if err := s.reload(db); err != nil {
			db.Close()
			return fmt.Errorf("ds: reloading shard %d after a write failure: %w", s.id, err)
		}
	}
	d.pebble = db
	d.applier = d.opts.NewApplier(db)
	d.broken.Store(false)
	d.metrics.recoveries.Add(1)
	return nil
}

// reload replaces the shard's clock, generations and layouts with those stored in db. The
// storage lock is held for writing, so no flush or reader of the shard runs.
func (s *shard) reload(db *pebble.DB) error {
	clock, err := readClock(db, s.id)
	if err != nil {
		return err
	}
	gens, err := readGenerations(db, s.id)
	if err != nil {
		return err
	}
	if err := openLayouts(db, s.id, gens); err != nil {
		return err
	}
	s.gens.Lock()
	old := s.gens.list
	s.gens.list = gens
	s.gens.Unlock()
	for _, g := range old {
		g.mu.Lock()
		if !g.mu.dropped {
			g.mu.dropped = true
			g.mu.layout.Close()
		}
		g.mu.Unlock()
	}
	s.clock = clock
	s.visible.Store(clock)
	return nil
}

// waitAppliedDone waits until no batch of the shard is applied and waiting for durability.
func (s *shard) waitAppliedDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.mu.applied > 0 {
		s.mu.drained.Wait()
	}
}
