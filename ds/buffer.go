package ds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mqttds/mqttds/internal/invariants"
	"github.com/mqttds/mqttds/layout"
)

// The write buffer of a shard: group commit with pipelined flushes.
//
// Writers append requests to the shard's pending list and wait on their done channel. One
// flusher goroutine per shard takes requests off the list and prepares and applies them as one
// batch; one completer goroutine waits, in order, for each applied batch to be durable and then
// answers its writers. A flush starts
//
//   - at once when nothing of the shard is committing (a lone write waits for one fsync, not for
//     a timer);
//   - when the pending requests reach MaxItems or MaxBytes;
//   - when the oldest pending request has waited FlushInterval,
//
// and only while fewer than MaxInFlight flushes are committing. While one flush commits, the
// next fills: at high load batches grow by themselves, at low load latency is one fsync.
// Requests are never split across flushes, so a request is atomic.

// eagerFlushes is how many flushes of a shard may commit at once without waiting: a flush
// starts at once while fewer are committing. Beyond it (up to MaxInFlight) a batch starts only
// when full or after lingering FlushInterval.
//
// Why not fewer: a commit is a WAL append (done by the flusher before it moves on) and then a
// wait for pebble's WAL sync, which pebble shares between everything appended before the sync
// began. A batch held back until an earlier flush of its shard returns misses the sync that
// starts right after that return (pebble begins it at once with what is appended) and waits
// for the one after; appended at once, it joins that sync. Holding back saves only CPU (fewer,
// larger pebble batches), and at these depths the saving is small. Measured on 2 cores: a
// pipelining publisher (window 32, 4 publishers, BenchmarkDurable_QoS1_4to4 in server) has
// about two flushes of its shard committing at any time, so with 2 its third batch waited for
// a return and then for two more syncs: 4 gave 1.5-1.8 times the publish rate. With 512
// writers on 16 shards (BenchmarkStore) 4 is as fast as 2 (batches 10 instead of 12 messages)
// and 2 was about twice as fast as 1.
const eagerFlushes = 4

// request is one Store or Apply call's part for one shard.
type request struct {
	entries []pendingEntry
	// first backs entries for the first message, so a one-message request needs no slice.
	first [1]pendingEntry
	// buf holds the encoded values of entries, one after the other.
	buf   []byte
	kv    []kvWrite
	items int
	bytes int
	start time.Time
	// done receives the flush's result; nil for NoWait requests.
	done chan error
}

// pendingEntry is a message waiting for its timestamp; value is its encoding.
type pendingEntry struct {
	topic string
	value []byte
}

// kvWrite is one KV table write; key is the full pebble key.
type kvWrite struct {
	key, value []byte
	delete     bool
}

func (r *request) finish(err error) {
	if r.done != nil {
		r.done <- err
	}
}

// enqueue adds r to the shard's pending list and wakes the flusher if r may start a flush.
func (s *shard) enqueue(r *request) error {
	s.mu.Lock()
	if s.mu.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.mu.pending) == 0 {
		s.mu.oldest = r.start
	}
	s.mu.pending = append(s.mu.pending, r)
	s.mu.items += r.items
	s.mu.bytes += r.bytes
	// Wake the flusher when r may start a flush, or when r is the first pending write and the
	// flusher must arm its linger timer.
	wake := s.mu.inflight < eagerFlushes || len(s.mu.pending) == 1 || s.fullLocked()
	s.mu.Unlock()
	if wake {
		s.wake()
	}
	return nil
}

func (s *shard) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *shard) fullLocked() bool {
	return s.mu.items >= s.db.opts.Buffer.MaxItems || s.mu.bytes >= s.db.opts.Buffer.MaxBytes
}

// readyLocked reports whether a flush may start now, or else how long until the oldest
// pending request has lingered FlushInterval (0: wait for a kick).
func (s *shard) readyLocked(now time.Time) (bool, time.Duration) {
	if len(s.mu.pending) == 0 || s.mu.inflight >= s.db.opts.Buffer.MaxInFlight {
		return false, 0
	}
	if s.mu.inflight < eagerFlushes || s.mu.closing || s.fullLocked() {
		return true, 0
	}
	linger := s.db.opts.Buffer.FlushInterval - now.Sub(s.mu.oldest)
	if linger <= 0 {
		return true, 0
	}
	return false, linger
}

// takeLocked removes the requests of the next flush from the pending list: at least one, then
// as many as fit in MaxItems and MaxBytes.
func (s *shard) takeLocked() []*request {
	opts := &s.db.opts.Buffer
	n, items, bytes := 0, 0, 0
	for _, r := range s.mu.pending {
		if n > 0 && (items+r.items > opts.MaxItems || bytes+r.bytes > opts.MaxBytes) {
			break
		}
		n, items, bytes = n+1, items+r.items, bytes+r.bytes
	}
	reqs := s.mu.pending[:n:n]
	s.mu.pending = s.mu.pending[n:]
	if len(s.mu.pending) == 0 {
		// Let the backing array go instead of creeping along it forever.
		s.mu.pending = nil
	} else {
		s.mu.oldest = s.mu.pending[0].start
	}
	s.mu.items -= items
	s.mu.bytes -= bytes
	if invariants.Enabled {
		s.checkPendingLocked()
	}
	return reqs
}

// runFlusher is the shard's flusher goroutine. It exits once the shard is closing and every
// pending request has been flushed.
func (s *shard) runFlusher() {
	defer close(s.commits)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		s.writeMu.Lock()
		s.mu.Lock()
		ready, linger := s.readyLocked(time.Now())
		if ready {
			reqs := s.takeLocked()
			s.mu.inflight++
			s.mu.Unlock()
			s.flush(reqs)
			s.writeMu.Unlock()
			continue
		}
		exit := s.mu.closing && len(s.mu.pending) == 0
		s.mu.Unlock()
		s.writeMu.Unlock()
		if exit {
			return
		}
		if linger > 0 {
			timer.Reset(linger)
		}
		select {
		case <-s.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// inflightFlush is a flush handed from the flusher to the completer.
type inflightFlush struct {
	commit  Commit
	reqs    []*request
	lastTS  uint64 // the shard clock after the flush
	items   int
	bytes   int
	started time.Time
}

// runCompleter is the shard's completer goroutine: it waits for each applied flush in order,
// publishes its timestamps to readers, and answers its writers.
func (s *shard) runCompleter() {
	defer close(s.completerDone)
	for f := range s.commits {
		err := f.commit.Wait()
		if err == nil {
			s.visible.Store(f.lastTS)
			s.notify()
		} else {
			s.commitFailed(err)
		}
		s.db.metrics.flushDone(f, err)
		for _, r := range f.reqs {
			r.finish(err)
		}
		s.mu.Lock()
		s.mu.inflight--
		s.mu.applied--
		s.mu.drained.Broadcast()
		s.mu.Unlock()
		s.wake()
	}
}

// commitFailed handles a failed Commit.Wait: a replicated batch whose outcome is unknown
// leaves the shard's in-memory state ahead of pebble, so the next flush rebuilds it; any other
// failure means the storage itself failed, so the next flush recovers it.
func (s *shard) commitFailed(err error) {
	if errors.Is(err, ErrNotCommitted) {
		s.stale.Store(true)
		return
	}
	s.db.markBroken()
}

// flush prepares reqs as one batch and hands it to the applier. Called by the flusher with
// writeMu held and the flush counted in inflight.
func (s *shard) flush(reqs []*request) {
	started := time.Now()
	if s.db.broken.Load() {
		if err := s.db.recoverStorage(); err != nil {
			s.fail(reqs, err)
			return
		}
	}
	if s.stale.Load() {
		if err := s.reloadLocked(); err != nil {
			s.fail(reqs, err)
			return
		}
	}
	if _, err := s.db.rlockStorage(); err != nil {
		s.fail(reqs, err)
		return
	}
	defer s.db.storage.RUnlock()
	if len(s.generations()) == 0 { // Options.DeferFirstGeneration
		if _, err := s.addGenerationLocked(s.db.opts.Layout); err != nil {
			s.fail(reqs, err)
			return
		}
	}
	cb, last, items, bytes, err := s.prepare(reqs, s.db.opts.Now())
	var commit Commit
	if err == nil {
		commit, err = s.db.applier.Apply(s.id, cb)
	}
	s.releaseScratch()
	if err != nil {
		// Nothing of the batch was committed, but the layout may have learned structure while
		// preparing it: reload it from what is committed so later batches persist that
		// structure themselves.
		if rerr := s.reloadCurrentLocked(); rerr != nil {
			err = fmt.Errorf("%w (and reloading the layout: %v)", err, rerr)
		}
		s.fail(reqs, err)
		return
	}
	s.mu.Lock()
	s.mu.applied++
	s.mu.Unlock()
	s.commits <- &inflightFlush{commit: commit, reqs: reqs, lastTS: last, items: items, bytes: bytes, started: started}
}

// fail answers the writers of a flush that was not applied.
func (s *shard) fail(reqs []*request, err error) {
	items := 0
	for _, r := range reqs {
		items += r.items
		r.finish(err)
	}
	s.db.metrics.flushFailed(items)
	s.mu.Lock()
	s.mu.inflight--
	s.mu.drained.Broadcast()
	s.mu.Unlock()
}

// prepare assigns timestamps and cooks reqs into one batch: the layout's writes for the
// messages, the KV writes, and the shard clock. It returns the batch and the shard clock after
// it.
//
// The batch and the entries handed to the layout are the shard's scratch (writeMu guards
// them): an Applier does not retain the batch past Apply, so flush recycles them with
// releaseScratch instead of allocating two slices per flush.
func (s *shard) prepare(reqs []*request, now time.Time) (cb *layout.CookedBatch, last uint64, items, bytes int, err error) {
	n := 0
	for _, r := range reqs {
		n += len(r.entries)
		items += r.items
		bytes += r.bytes
	}
	prevClock := s.clock
	cb = &s.scratch.cb
	cb.Writes = slices.Grow(cb.Writes[:0], n+2)
	if n > 0 {
		entries := slices.Grow(s.scratch.entries[:0], n)
		nowTS := timestampOf(now)
		for _, r := range reqs {
			for _, e := range r.entries {
				s.clock = max(s.clock+1, nowTS)
				entries = append(entries, layout.Entry{Topic: e.topic, Timestamp: s.clock, Value: e.value})
			}
		}
		s.scratch.entries = entries
		g := s.current()
		if err := g.mu.layout.Prepare(entries, cb); err != nil {
			return nil, 0, items, bytes, err
		}
		cb.Set(s.clockKey, binary.BigEndian.AppendUint64(make([]byte, 0, 8), s.clock))
	}
	for _, r := range reqs {
		for _, w := range r.kv {
			if w.delete {
				cb.Writes = append(cb.Writes, layout.Write{Kind: layout.WriteDelete, Key: w.key})
			} else {
				cb.Set(w.key, w.value)
			}
		}
	}
	if invariants.Enabled {
		invariants.CheckErr(s.checkPrepared(cb, prevClock))
	}
	return cb, s.clock, items, bytes, nil
}

// checkPrepared verifies a prepared batch in invariants builds: every key is the shard's, and
// the timestamps the flush assigned strictly increase from the shard clock before it to the
// clock after it.
func (s *shard) checkPrepared(cb *layout.CookedBatch, prevClock uint64) error {
	prefix := shardPrefix(s.id)
	for i, w := range cb.Writes {
		if !bytes.HasPrefix(w.Key, prefix) || (w.Kind == layout.WriteDeleteRange && !bytes.HasPrefix(w.Value, prefix)) {
			return fmt.Errorf("ds: shard %d: prepared write %d (key %x) outside the shard", s.id, i, w.Key)
		}
	}
	last := prevClock
	for i, e := range s.scratch.entries {
		if e.Timestamp <= last {
			return fmt.Errorf("ds: shard %d: entry %d timestamp %d not after %d", s.id, i, e.Timestamp, last)
		}
		last = e.Timestamp
	}
	if last != s.clock {
		return fmt.Errorf("ds: shard %d: clock %d, last timestamp %d", s.id, s.clock, last)
	}
	return nil
}

// checkPendingLocked verifies in invariants builds the pending list's running sums (see
// shard.mu).
func (s *shard) checkPendingLocked() {
	items, size := 0, 0
	for _, r := range s.mu.pending {
		items, size = items+r.items, size+r.bytes
	}
	invariants.Check(items == s.mu.items && size == s.mu.bytes,
		"ds: shard %d: pending sums %d items %d bytes, counted %d and %d", s.id, items, size, s.mu.items, s.mu.bytes)
	invariants.Check(len(s.mu.pending) == 0 || s.mu.oldest.Equal(s.mu.pending[0].start),
		"ds: shard %d: oldest pending time is not the first request's", s.id)
}

// releaseScratch empties the scratch of prepare once the batch is applied (or dropped),
// clearing it so that it keeps no message alive.
func (s *shard) releaseScratch() {
	clear(s.scratch.cb.Writes)
	s.scratch.cb.Writes = s.scratch.cb.Writes[:0]
	clear(s.scratch.entries)
	s.scratch.entries = s.scratch.entries[:0]
}
