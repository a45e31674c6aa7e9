package ds

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqttds/mqttds/layout"
)

// Replicas. A replicated Applier (package replication) commits a shard's batches through a
// consensus log: on the replica that leads the shard, ds prepares batches as usual and the
// Applier's Commit completes once the log has committed and applied the batch. The other
// replicas never prepare: their Applier refuses Apply, writes each committed batch the leader
// prepared into its own pebble instance, then calls ApplyReplicated so that the shard's
// in-memory state (clock, generations, the layout's learned structure) and its readers catch
// up. Reads are always local.
//
// Two rules keep the in-memory state equal to what is in pebble:
//   - a replica that had batches of its own in flight when another replica's batch arrived
//     (it lost leadership) fails them with ErrNotCommitted and passes reload, so that the
//     state they taught the shard is rebuilt from pebble;
//   - a replica that gains leadership passes reload once before its Applier accepts batches,
//     for the same reason.
//
// Options.DeferFirstGeneration must be set on replicas: the first generation is then created
// by the leader's first flush and reaches the others through the log, instead of each replica
// creating a different one when it opens.

// ApplyReplicated brings shard's in-memory state up to date after the Applier committed cb,
// a batch prepared by another replica, to the store's pebble instance. cb may be nil (nothing
// new was committed). With reload, or when cb changes the shard's generations, the state is
// rebuilt from pebble instead of applied incrementally. Readers then see cb's messages.
//
// It must be called in commit order, by one goroutine per shard, and never from inside Apply.
func (d *DB) ApplyReplicated(shard int, cb *layout.CookedBatch, reload bool) error {
	s, err := d.shard(shard)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if reload || s.stale.Load() || cb != nil && s.touchesGenerations(cb) || len(s.generations()) == 0 {
		return s.reloadLocked()
	}
	if cb == nil {
		return nil
	}
	if err := s.applyLayoutLocked(cb); err != nil {
		// The layout's indexes may now miss part of cb: rebuild rather than serve reads that
		// skip messages.
		if rerr := s.reloadLocked(); rerr != nil {
			return fmt.Errorf("ds: shard %d: applying a replicated batch: %w (and reloading: %v)", shard, err, rerr)
		}
		return nil
	}
	for _, w := range cb.Writes {
		if w.Kind == layout.WriteSet && bytes.Equal(w.Key, s.clockKey) {
			if len(w.Value) != 8 {
				return corruptf("shard %d: replicated clock of %d bytes", shard, len(w.Value))
			}
			s.clock = max(s.clock, binary.BigEndian.Uint64(w.Value))
		}
	}
	s.visible.Store(s.clock)
	s.notify()
	return nil
}

// applyLayoutLocked hands cb to the current generation's layout. writeMu is held.
func (s *shard) applyLayoutLocked(cb *layout.CookedBatch) error {
	if _, err := s.db.rlockStorage(); err != nil {
		return err
	}
	defer s.db.storage.RUnlock()
	return s.current().mu.layout.Apply(cb)
}

// touchesGenerations reports whether cb writes a generation record of the shard.
func (s *shard) touchesGenerations(cb *layout.CookedBatch) bool {
	prefix := generationsPrefix(s.id)
	for _, w := range cb.Writes {
		if bytes.HasPrefix(w.Key, prefix) {
			return true
		}
		if w.Kind == layout.WriteDeleteRange && bytes.Compare(w.Key, prefixEnd(prefix)) < 0 && bytes.Compare(w.Value, prefix) > 0 {
			return true
		}
	}
	return false
}

// ReplaceReplicated replaces everything of shard in pebble through replace (a replicated
// Applier ingests a snapshot of the shard's span, ShardSpan, taken on another replica), then
// rebuilds the shard's in-memory state from pebble. No reader and no write of the shard runs
// meanwhile. If replace fails, the state is rebuilt from whatever pebble then holds.
func (d *DB) ReplaceReplicated(shard int, replace func(db *pebble.DB) error) error {
	s, err := d.shard(shard)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.db.storage.Lock()
	defer s.db.storage.Unlock()
	if s.db.pebble == nil {
		return errStorageDown
	}
	rerr := replace(s.db.pebble)
	s.stale.Store(false)
	if err := s.reload(s.db.pebble); err != nil {
		return fmt.Errorf("ds: shard %d: reloading replica state after replacing it: %w (replace: %v)", s.id, err, rerr)
	}
	s.notify()
	if rerr != nil {
		return fmt.Errorf("ds: shard %d: replacing replica state: %w", s.id, rerr)
	}
	return nil
}

// reloadLocked rebuilds the shard's clock, generations and layouts from pebble and wakes its
// watchers. writeMu is held; it takes the storage lock for writing so that no reader runs
// during the swap.
func (s *shard) reloadLocked() error {
	s.db.storage.Lock()
	defer s.db.storage.Unlock()
	if s.db.pebble == nil {
		return errStorageDown
	}
	s.stale.Store(false)
	if err := s.reload(s.db.pebble); err != nil {
		return fmt.Errorf("ds: shard %d: reloading replica state: %w", s.id, err)
	}
	s.notify()
	return nil
}
