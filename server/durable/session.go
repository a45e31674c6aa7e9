package durable

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mqttds/mqttds/ds"
)

// ErrSessionEnded is returned by a session that was deleted.
var ErrSessionEnded = errors.New("durable: session ended")

// Session is one durable session's state, in memory and in the session table. Changes are
// made in memory and queued as KV writes; a per-session committer writes the queue as one
// atomic ds batch at a time, so writes that arrive while a batch commits share the next one
// (group commit). Methods that must be durable before the broker answers the client (state
// created, subscriptions, packet ids handed out, PUBREC) wait for their batch; acknowledgement
// progress does not wait and is durable within one commit.
//
// Safe for concurrent use.
type Session struct {
	st    *Store
	id    string
	shard int

	mu struct {
		sync.Mutex
		meta *Meta
		// cursors are the fetch positions of the subscribed streams, by cursor key.
		cursors map[string]*cursor
		// inflight holds the outbound QoS 1/2 messages that have a packet id.
		// Invariant: a packet id is in this map at most once, and is never handed out again
		// while it is [MQTT-2.2.1-3].
		inflight map[uint16]*inflight
		nextPID  uint16
		seq      uint64
		// batches holds the batch records read while loading, by id (nil otherwise).
		batches map[uint64]*batch
		// awaitingRel holds inbound QoS 2 packet ids answered with PUBREC and not yet released.
		awaitingRel map[uint16]time.Time
		// holds are a group session's hand-outs to members, by group packet id (group_hold.go).
		holds  map[uint16]Hold
		online bool
		rr     int // round-robin start among cursors
		// renewedAt is the store's commit count at the last stream renewal, renewTime its time;
		// forceRenew asks the next Fetch to renew whatever they say.
		renewedAt  uint64
		renewTime  time.Time
		forceRenew bool
		ended      bool

		// pending are the KV writes not yet committed (nil value: delete), by key.
		pending map[string][]byte
		// dirty are the batches whose record changed since the last commit: the committer
		// encodes them (or deletes them, complete), so that the acknowledgements of one commit
		// interval share one rewrite.
		dirty map[*batch]struct{}
		// ticket counts changes queued; committed is the last ticket whose batch is durable.
		ticket, committed uint64
		committing        bool
		err               error // sticky commit error
	}
	committedCond *sync.Cond
}

// cursor is a stream's fetch position for one subscription.
type cursor struct {
	key    string // cursor key in the table
	filter string
	stream ds.Stream
	rank   ds.Rank
	it     ds.Iterator
	ended  bool
	// live is set when the last renewal found the stream (used to notice dropped generations).
	live bool
	// drained is set when the last read returned less than asked: the stream holds nothing more
	// as of its shard's commit epoch drainedAt, and is not read again until the epoch moves.
	drained   bool
	drainedAt uint64
}

func newSession(st *Store, id string) *Session {
	s := &Session{st: st, id: id, shard: ds.ShardOf(id, st.db.NumShards())}
	s.mu.cursors = map[string]*cursor{}
	s.mu.inflight = map[uint16]*inflight{}
	s.mu.awaitingRel = map[uint16]time.Time{}
	s.mu.pending = map[string][]byte{}
	s.mu.dirty = map[*batch]struct{}{}
	s.mu.forceRenew = true
	s.committedCond = sync.NewCond(&s.mu.Mutex)
	return s
}

// loadRecord takes one stored key of the session at open.
func (s *Session) loadRecord(kind byte, rest, key, value []byte) error {
	switch kind {
	case kindMeta:
		m, err := decodeMeta(value)
		if err != nil {
			return err
		}
		s.mu.meta = m
	case kindInflight:
		return s.loadInflight(rest, key, value)
	case kindRel:
		if len(rest) != 2 {
			return fmt.Errorf("%w: packet id of %d bytes", ErrCorruption, len(rest))
		}
		t, err := decodeTime(value)
		if err != nil {
			return err
		}
		s.mu.awaitingRel[uint16(rest[0])<<8|uint16(rest[1])] = t
	case kindHold:
		return s.loadHold(rest, value)
	case kindCursor:
		ended, itb, err := decodeCursor(value)
		if err != nil {
			return err
		}
		var it ds.Iterator
		if err := it.UnmarshalBinary(itb); err != nil {
			return err
		}
		c := &cursor{key: string(key), filter: it.Filter(), rank: it.Rank(), it: it, ended: ended}
		if err := c.stream.UnmarshalBinary(streamOfCursorKey(rest)); err != nil {
			return err
		}
		s.mu.cursors[c.key] = c
	default:
		return fmt.Errorf("%w: key kind %q", ErrCorruption, kind)
	}
	return nil
}

// loadInflight takes a batch record, or a format v1 per-message record, which it queues for
// rewriting as a batch of one (committed once the session is loaded).
func (s *Session) loadInflight(rest, key, value []byte) error {
	b, legacy, err := decodeInflightRecord(rest, value)
	switch {
	case err != nil:
		return err
	case legacy:
		s.mu.pending[string(key)] = nil
		s.mu.dirty[b] = struct{}{}
	case b.open == 0:
		s.mu.pending[string(key)] = nil // complete: only its deletion was lost
		return nil
	}
	if s.mu.batches == nil {
		s.mu.batches = map[uint64]*batch{}
	}
	if _, dup := s.mu.batches[b.id]; dup {
		return fmt.Errorf("%w: two in-flight records with id %d", ErrCorruption, b.id)
	}
	for _, f := range b.entries {
		if f.state == stateDone {
			continue
		}
		if _, dup := s.mu.inflight[f.pid]; dup {
			return fmt.Errorf("%w: packet id %d in flight twice", ErrCorruption, f.pid)
		}
		s.mu.inflight[f.pid] = f
	}
	s.mu.batches[b.id] = b
	return nil
}

// streamOfCursorKey returns the stream bytes of a cursor key's rest (after the client id).
func streamOfCursorKey(rest []byte) []byte {
	d := decoder{b: rest}
	_ = d.bytes() // filter
	return d.b
}

// finishLoad derives the counters from the loaded batches: the next send sequence and the
// packet id search start continue after the newest entry. It queues the rewrites loading
// asked for (v1 records, complete batches).
func (s *Session) finishLoad() {
	for _, b := range s.mu.batches {
		if last := b.entries[len(b.entries)-1]; last.seq >= s.mu.seq {
			s.mu.seq, s.mu.nextPID = last.seq, last.pid
		}
	}
	s.mu.batches = nil // only needed while loading
	if len(s.mu.pending) > 0 || len(s.mu.dirty) > 0 {
		s.scheduleLocked()
	}
}

// ownedKeys lists every key the loaded records came from (for removing orphans).
func (s *Session) ownedKeys() [][]byte {
	var out [][]byte
	seen := map[*batch]bool{}
	for _, f := range s.mu.inflight {
		if f.b != nil && !seen[f.b] {
			seen[f.b] = true
			out = append(out, batchKey(s.id, f.b.id))
		}
	}
	for k, v := range s.mu.pending {
		if v == nil {
			out = append(out, []byte(k)) // v1 records and complete batches
		}
	}
	for pid := range s.mu.awaitingRel {
		out = append(out, pidKey(kindRel, s.id, pid))
	}
	for k := range s.mu.cursors {
		out = append(out, []byte(k))
	}
	return append(out, s.holdKeysLocked()...)
}

// ClientID returns the session's client id.
func (s *Session) ClientID() string { return s.id }

// Meta returns a copy of the session's meta state.
func (s *Session) Meta() Meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := *s.mu.meta
	m.Subs = maps.Clone(m.Subs)
	return m
}

// Subscriptions returns the subscriptions sorted by filter.
func (s *Session) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, 0, len(s.mu.meta.Subs))
	for _, f := range sortedFilters(s.mu.meta.Subs) {
		out = append(out, s.mu.meta.Subs[f])
	}
	return out
}

func sortedFilters(m map[string]Subscription) []string {
	return slices.Sorted(maps.Keys(m))
}

// Online reports whether a connection is attached.
func (s *Session) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.online
}

// Expired reports whether the session's expiry interval has passed at now, counting from when
// it was last alive.
func (s *Session) Expired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.mu.online && s.expiredLocked(now)
}

func (s *Session) expiredLocked(now time.Time) bool {
	m := s.mu.meta
	return m.Expiry != NeverExpire && !now.Before(m.LastAlive.Add(m.Expiry))
}

// ExpiresIn returns how long an offline session has left at now (NeverExpire if it never
// expires).
func (s *Session) ExpiresIn(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mu.meta
	if m.Expiry == NeverExpire {
		return NeverExpire
	}
	return max(0, m.LastAlive.Add(m.Expiry).Sub(now))
}

// Configure records what a CONNECT decided: the expiry interval and the Will. It waits until
// the change is durable.
func (s *Session) Configure(expiry time.Duration, will *Will) error {
	if !s.SetConfig(expiry, will) {
		return ErrSessionEnded
	}
	return s.Flush()
}

// SetConfig is Configure without the wait: the change is durable once Flush returns. It
// reports false for an ended session.
func (s *Session) SetConfig(expiry time.Duration, will *Will) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ended {
		return false
	}
	s.mu.meta.Expiry, s.mu.meta.Will = expiry, will
	s.putMetaLocked()
	return true
}

// SetExpiry changes the expiry interval (DISCONNECT); durable within one commit.
func (s *Session) SetExpiry(expiry time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.ended {
		s.mu.meta.Expiry = expiry
		s.putMetaLocked()
	}
}

// TakeWill removes and returns the Will, so that it is published once.
func (s *Session) TakeWill() *Will {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.mu.meta.Will
	if w != nil && !s.mu.ended {
		s.mu.meta.Will = nil
		s.putMetaLocked()
	}
	return w
}

// SetOnline records a connection attaching (true) or leaving (false). Leaving sets the last
// alive time, from which the expiry interval counts [MQTT-4.1.0-2].
func (s *Session) SetOnline(online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ended {
		return
	}
	s.mu.online = online
	s.mu.meta.Online = online
	s.mu.meta.LastAlive = s.st.opts.Now()
	s.putMetaLocked()
}

// Subscribe adds or replaces a subscription and waits until it is durable. A zero Since is
// set to now: the subscription receives messages published from now on [MQTT-3.8.4-3].
// Replacing a subscription keeps its streams and their positions.
func (s *Session) Subscribe(sub Subscription) (replaced bool, err error) {
	if sub.QoS > 2 || sub.RetainHandling > 2 {
		return false, fmt.Errorf("durable: bad subscription options for %q", sub.Filter)
	}
	s.mu.Lock()
	if s.mu.ended {
		s.mu.Unlock()
		return false, ErrSessionEnded
	}
	s.mu.forceRenew = true
	old, replaced := s.mu.meta.Subs[sub.Filter]
	if replaced {
		sub.Since = old.Since
	} else {
		if !IsShared(sub.Filter) {
			s.st.routes.Add(sub.Filter)
		}
		if sub.Since == 0 {
			sub.Since = uint64(s.st.opts.Now().UnixMicro())
		}
	}
	s.mu.meta.Subs[sub.Filter] = sub
	t := s.putMetaLocked()
	s.mu.Unlock()
	return replaced, s.wait(t)
}

// Unsubscribe removes a subscription and its stream positions, and waits until that is
// durable. Messages of that subscription already in flight stay until acknowledged.
func (s *Session) Unsubscribe(filter string) (existed bool, err error) {
	s.mu.Lock()
	if _, ok := s.mu.meta.Subs[filter]; !ok || s.mu.ended {
		s.mu.Unlock()
		return false, nil
	}
	delete(s.mu.meta.Subs, filter)
	if !IsShared(filter) {
		s.st.routes.Remove(filter)
	}
	for k, c := range s.mu.cursors {
		if c.filter == filter {
			delete(s.mu.cursors, k)
			s.mu.pending[k] = nil
		}
	}
	t := s.putMetaLocked()
	s.mu.Unlock()
	return true, s.wait(t)
}

// Received records an inbound QoS 2 packet id (not yet durable: Store.Persist writes it with
// the message). dup reports a re-sent PUBLISH still waiting for PUBREL [MQTT-4.3.3-10]; full
// reports more than limit unreleased packet ids.
func (s *Session) Received(pid uint16, limit int) (dup, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.awaitingRel[pid]; ok {
		return true, false
	}
	if len(s.mu.awaitingRel) >= limit {
		return false, true
	}
	s.mu.awaitingRel[pid] = s.st.opts.Now()
	return false, false
}

// ReleaseInbound forgets an inbound QoS 2 packet id on PUBREL [MQTT-4.3.3-11]; durable within
// one commit.
func (s *Session) ReleaseInbound(pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.mu.awaitingRel[pid]
	if ok {
		delete(s.mu.awaitingRel, pid)
		s.mu.pending[string(pidKey(kindRel, s.id, pid))] = nil
		s.scheduleLocked()
	}
	return ok
}

// ExpireInbound forgets inbound QoS 2 packet ids older than before.
func (s *Session) ExpireInbound(before time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, at := range s.mu.awaitingRel {
		if at.Before(before) {
			delete(s.mu.awaitingRel, pid)
			s.mu.pending[string(pidKey(kindRel, s.id, pid))] = nil
			s.scheduleLocked()
		}
	}
}

// Delete removes every record of the session and its routes, and waits until that is durable.
func (s *Session) Delete(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.ended {
		s.mu.Unlock()
		return nil
	}
	s.mu.ended = true
	for f := range s.mu.meta.Subs {
		if !IsShared(f) {
			s.st.routes.Remove(f)
		}
	}
	s.mu.Unlock()
	s.st.forget(s)
	// Let a running commit finish so that it cannot write a key back after the deletion.
	_ = s.Flush()
	b := s.st.db.NewBatch(s.shard)
	for _, kind := range []byte{kindMeta, kindCursor, kindInflight, kindRel, kindHold} {
		err := s.st.tab.Scan(s.shard, sessionPrefix(kind, s.id), func(k, _ []byte) error {
			if kind == kindMeta && len(k) != len(metaKey(s.id)) {
				return nil // another client id with this one as prefix
			}
			b.Delete(s.st.tab, k)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.st.db.Apply(ctx, b, ds.Sync)
}

// putMetaLocked queues the meta record.
func (s *Session) putMetaLocked() uint64 {
	s.mu.pending[string(metaKey(s.id))] = encodeMeta(s.mu.meta)
	return s.scheduleLocked()
}

// scheduleLocked returns the ticket of the queued changes and makes sure a committer runs.
func (s *Session) scheduleLocked() uint64 {
	s.mu.ticket++
	if !s.mu.committing {
		s.mu.committing = true
		go s.commitLoop()
	}
	return s.mu.ticket
}

// commitLoop writes the pending changes, one batch at a time, until none are left. It runs
// only while there is something to write, so an idle session has no goroutine.
func (s *Session) commitLoop() {
	for {
		s.mu.Lock()
		for b := range s.mu.dirty {
			if b.open == 0 {
				s.mu.pending[string(batchKey(s.id, b.id))] = nil
			} else {
				s.mu.pending[string(batchKey(s.id, b.id))] = encodeBatch(b)
			}
		}
		clear(s.mu.dirty)
		if len(s.mu.pending) == 0 || s.mu.err != nil {
			s.mu.committed = s.mu.ticket
			s.mu.committing = false
			s.committedCond.Broadcast()
			s.mu.Unlock()
			return
		}
		writes, ticket := s.mu.pending, s.mu.ticket
		s.mu.pending = make(map[string][]byte, len(writes))
		ended := s.mu.ended
		s.mu.Unlock()

		var err error
		if !ended {
			b := s.st.db.NewBatch(s.shard)
			for k, v := range writes {
				if v == nil {
					b.Delete(s.st.tab, []byte(k))
				} else {
					b.Put(s.st.tab, []byte(k), v)
				}
			}
			err = s.st.db.Apply(context.Background(), b, ds.Sync)
			s.st.stats.commits.Add(1)
		}

		s.mu.Lock()
		if err != nil {
			s.st.stats.commitErrors.Add(1)
			s.mu.err = fmt.Errorf("durable: session %q: committing state: %w", s.id, err)
		}
		s.mu.committed = ticket
		s.committedCond.Broadcast()
		s.mu.Unlock()
	}
}

// wait blocks until the changes of ticket t are durable, or returns the commit error.
func (s *Session) wait(t uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.mu.committed < t && s.mu.err == nil {
		s.committedCond.Wait()
	}
	return s.mu.err
}

// Flush waits until every change made so far is durable.
func (s *Session) Flush() error {
	s.mu.Lock()
	t := s.mu.ticket
	s.mu.Unlock()
	return s.wait(t)
}

// Err returns the sticky commit error, if a commit failed: the session's state in storage is
// then behind its state in memory, and the broker should drop the connection.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.err
}
