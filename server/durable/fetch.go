package durable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mqttds/mqttds/ds"
)

// Delivery is one message for the session's connection.
type Delivery struct {
	// PID is the packet id (0 for QoS 0).
	PID    uint16
	QoS    byte
	Retain bool // the RETAIN flag to send (Retain As Published applied)
	SubIDs []uint32
	// Dup marks a re-sent PUBLISH [MQTT-3.3.1-1].
	Dup bool
	// Released: send PUBREL for PID, not the message (QoS 2 after PUBREC).
	Released bool
	// Transient: an in-memory delivery registered with AddTransient; the caller holds the
	// message.
	Transient bool
	// Message is the stored message (unset for Released and Transient deliveries).
	Message ds.StoredMessage
}

// maxInflight bounds the packet id table: ids are 16 bits and 0 is not one.
const maxInflight = 65535

// InflightLen returns the number of outbound messages holding a packet id.
func (s *Session) InflightLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.inflight)
}

// AwaitingRelLen returns the number of inbound QoS 2 packet ids awaiting PUBREL.
func (s *Session) AwaitingRelLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.awaitingRel)
}

// allocPIDLocked returns a packet id that no in-flight message holds [MQTT-2.2.1-3], or 0 when
// all are taken. Ids are handed out in a rising cycle, so a just-freed id is reused as late as
// possible (a late duplicate acknowledgement cannot hit a new message).
func (s *Session) allocPIDLocked() uint16 {
	if len(s.mu.inflight) >= maxInflight {
		return 0
	}
	for {
		s.mu.nextPID++
		if s.mu.nextPID == 0 {
			s.mu.nextPID = 1
		}
		if _, used := s.mu.inflight[s.mu.nextPID]; !used {
			return s.mu.nextPID
		}
	}
}

// AddTransient gives a packet id to a QoS 1/2 message that is not read from storage (a
// retained message sent on SUBSCRIBE, a shared-subscription message). It is kept in memory
// only: after a restart it is not re-sent. ok is false when no packet id is free.
func (s *Session) AddTransient(qos byte) (pid uint16, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid = s.allocPIDLocked()
	if pid == 0 {
		return 0, false
	}
	s.mu.seq++
	s.mu.inflight[pid] = &inflight{pid: pid, seq: s.mu.seq, qos: qos, state: StateSent, transient: true}
	return pid, true
}

// Complete ends the delivery holding pid: PUBACK [MQTT-4.3.2-3], PUBCOMP [MQTT-4.3.3-5], a
// failing PUBREC, or a message dropped because it is too large for the client. The entry's
// deletion is durable within one commit; if it is lost in a crash the message is re-sent
// with DUP (QoS 1) or PUBREL is re-sent (QoS 2), which the protocol allows.
func (s *Session) Complete(pid uint16) (known, transient bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.mu.inflight[pid]
	if !ok {
		return false, false
	}
	delete(s.mu.inflight, pid)
	if f.b != nil {
		f.state = stateDone
		f.b.open--
		s.mu.dirty[f.b] = struct{}{}
		s.scheduleLocked()
	}
	return true, f.transient
}

// Pubrec moves a QoS 2 delivery to "released" and waits until that is durable, so that the
// message is never sent as PUBLISH again once PUBREL is on its way [MQTT-4.3.3-2]. known is
// false for an id that holds no QoS 2 message waiting for PUBREC.
func (s *Session) Pubrec(pid uint16) (known bool, err error) {
	s.mu.Lock()
	f, ok := s.mu.inflight[pid]
	if !ok || f.qos != 2 {
		s.mu.Unlock()
		return false, nil
	}
	if f.state == StateReleased {
		s.mu.Unlock()
		return true, nil
	}
	f.state = StateReleased
	var t uint64
	if f.b != nil {
		s.mu.dirty[f.b] = struct{}{}
		t = s.scheduleLocked()
	}
	s.mu.Unlock()
	return true, s.wait(t)
}

// InflightState returns the state and QoS of the delivery holding pid.
func (s *Session) InflightState(pid uint16) (st State, qos byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.mu.inflight[pid]
	if !ok {
		return 0, 0, false
	}
	return f.state, f.qos, true
}

// Replay returns what a reconnecting client must be sent before anything new, in the original
// send order [MQTT-4.4.0-1], [MQTT-4.6.0-1]: PUBLISH with DUP for messages waiting for
// PUBACK/PUBREC (read again from storage, one read per batch, with their original packet id,
// QoS and flags), PUBREL for those waiting for PUBCOMP, and the transient entries (the caller
// holds their messages). A message whose generation retention dropped meanwhile is forgotten
// and counted as expired.
func (s *Session) Replay(ctx context.Context) ([]Delivery, error) {
	s.mu.Lock()
	entries := make([]inflight, 0, len(s.mu.inflight))
	reads := map[*batch]*batchRead{}
	for _, f := range s.mu.inflight {
		entries = append(entries, *f)
		if f.b != nil && f.state == StateSent && reads[f.b] == nil {
			reads[f.b] = &batchRead{before: f.b.before, read: f.b.read}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(entries, func(a, b inflight) int { return cmpUint(a.seq, b.seq) })

	out := make([]Delivery, 0, len(entries))
	var lost []uint16
	for i := range entries {
		f := &entries[i]
		d := Delivery{PID: f.pid, QoS: f.qos, Retain: f.retain, SubIDs: f.subIDs, Dup: true}
		switch {
		case f.state == StateReleased:
			d.Released = true // PUBREL, also for a transient message [MQTT-4.3.3-2]
		case f.transient:
			d.Transient = true
		default:
			m, err := s.reread(ctx, reads[f.b], f)
			if errors.Is(err, errMessageGone) {
				lost = append(lost, f.pid)
				continue
			}
			if err != nil {
				return nil, err
			}
			d.Message = m
		}
		out = append(out, d)
	}
	for _, pid := range lost {
		s.Complete(pid)
		s.st.stats.expired.Add(1)
	}
	s.st.stats.replayed.Add(int64(len(out)))
	return out, nil
}

var errMessageGone = errors.New("durable: message no longer stored")

// rereadWindow is how many messages beyond a batch's read Replay looks through for its keys (a
// message committed later may sort among them in an open epoch).
const rereadWindow = 64

// batchRead is one batch's messages read again, shared by its entries.
type batchRead struct {
	before []byte
	read   int
	done   bool
	err    error
	byKey  map[string]ds.StoredMessage
}

// reread finds an in-flight message again by reading its batch from the stored position.
func (s *Session) reread(ctx context.Context, r *batchRead, f *inflight) (ds.StoredMessage, error) {
	if !r.done {
		r.done = true
		var it ds.Iterator
		if err := it.UnmarshalBinary(r.before); err != nil {
			r.err = fmt.Errorf("durable: session %q packet id %d: %w", s.id, f.pid, err)
		} else {
			var msgs []ds.StoredMessage
			msgs, _, r.err = s.st.db.Next(ctx, it, r.read+rereadWindow)
			if errors.Is(r.err, ds.ErrGenerationNotFound) || errors.Is(r.err, ds.ErrEndOfStream) {
				r.err = errMessageGone
			}
			r.byKey = make(map[string]ds.StoredMessage, len(msgs))
			for _, m := range msgs {
				r.byKey[string(m.Key)] = m
			}
		}
	}
	if r.err != nil {
		return ds.StoredMessage{}, r.err
	}
	m, ok := r.byKey[string(f.key)]
	if !ok {
		return ds.StoredMessage{}, errMessageGone
	}
	return m, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Fetch reads up to max new messages for the session from its streams, gives each QoS 1/2
// message a packet id, and returns them once the packet ids and the advanced stream positions
// are durable: after a crash exactly these messages are re-sent, with DUP, and nothing before
// them [MQTT-4.4.0-1]. At most BatchSize messages are read from one stream per call; streams
// take turns. Within a shard, a generation is read to its end before the next one, which keeps
// each publisher's order [MQTT-4.6.0-5].
//
// Fetch is FetchWindow followed by Window.Wait. It is meant to be called by one goroutine at a
// time (the session's delivery loop).
func (s *Session) Fetch(ctx context.Context, max int) ([]Delivery, error) {
	w, err := s.FetchWindow(ctx, max)
	if err != nil {
		return nil, err
	}
	if err := w.Wait(); err != nil {
		return nil, err
	}
	return w.Deliveries, nil
}

// Window is what one FetchWindow call handed out. Its deliveries hold packet ids (they count
// in InflightLen) but may be sent only once the window is durable: before that, a crash would
// forget that they were ever handed out.
type Window struct {
	Deliveries []Delivery
	s          *Session
	ticket     uint64
	buf        *[]Delivery // Deliveries' array, for Release
}

// windowBufs recycles the arrays of released windows: a Delivery carries its message (a few
// hundred bytes), and a busy session fetches a window every few deliveries.
var windowBufs sync.Pool // of *[]Delivery

// maxPooledWindow bounds the arrays kept for reuse (a catch-up window may be much larger).
const maxPooledWindow = 1024

// Release hands the window's array back for reuse by a later FetchWindow. Call it, at most
// once, when done with Deliveries (everything kept from them copied out); the window's
// deliveries must not be used after. Not calling it is fine.
func (w *Window) Release() {
	if w.buf == nil || cap(w.Deliveries) > maxPooledWindow {
		w.Deliveries = nil
		return
	}
	clear(w.Deliveries) // the messages must not stay reachable from the pool
	*w.buf = w.Deliveries[:0]
	windowBufs.Put(w.buf)
	w.Deliveries, w.buf = nil, nil
}

// Durable reports, without waiting, whether the window's records are committed.
func (w *Window) Durable() bool {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.mu.committed >= w.ticket || w.s.mu.err != nil
}

// Wait blocks until the window's records are committed, or returns the commit error.
func (w *Window) Wait() error { return w.s.wait(w.ticket) }

// FetchWindow is Fetch without the wait: it returns at once with the deliveries and the commit
// that makes them re-sendable, so that the caller can read the next window while this one
// commits (pipelining). Windows become durable in the order they were fetched.
func (s *Session) FetchWindow(ctx context.Context, max int) (*Window, error) {
	if err := s.maybeRenewStreams(); err != nil {
		return nil, err
	}
	buf, _ := windowBufs.Get().(*[]Delivery)
	if buf == nil {
		buf = new([]Delivery)
	}
	out := (*buf)[:0]
	// Go on while rounds make progress and there is room: a round that closes a generation
	// makes the next one readable, and a full batch may have more behind it.
	for {
		var progress bool
		var err error
		out, progress, err = s.fetchRound(ctx, out, max)
		if err != nil {
			return nil, err
		}
		if !progress || len(out) >= max {
			break
		}
	}
	s.mu.Lock()
	t := s.mu.ticket
	s.mu.Unlock()
	s.st.stats.fetched.Add(int64(len(out)))
	return &Window{Deliveries: out, s: s, ticket: t, buf: buf}, nil
}

// fetchRound reads once from every readable cursor; progress reports that a message was read or
// a generation ended.
func (s *Session) fetchRound(ctx context.Context, out []Delivery, max int) (_ []Delivery, progress bool, _ error) {
	s.mu.Lock()
	if s.mu.ended {
		s.mu.Unlock()
		return nil, false, ErrSessionEnded
	}
	max = min(max, len(out)+maxInflight-len(s.mu.inflight))
	cursors := s.readableLocked()
	s.mu.Unlock()

	now := s.st.opts.Now()
	for _, c := range cursors {
		if len(out) >= max {
			break
		}
		n := min(max-len(out), s.st.opts.BatchSize)
		msgs, next, epoch, err := s.st.next(ctx, c.it, n)
		s.mu.Lock()
		sub, subscribed := s.mu.meta.Subs[c.filter]
		if s.mu.cursors[c.key] != c || !subscribed {
			s.mu.Unlock()
			continue // unsubscribed meanwhile
		}
		switch {
		case errors.Is(err, ds.ErrEndOfStream):
			c.ended, progress = true, true
			s.putCursorLocked(c)
		case errors.Is(err, ds.ErrGenerationNotFound):
			s.dropCursorLocked(c)
			s.st.stats.lostStreams.Add(1)
			progress = true // the next generation may be readable now
		case err != nil:
			s.mu.Unlock()
			return nil, false, err
		default:
			out = s.takeLocked(out, c, sub, msgs, now)
			c.it = next
			c.drained, c.drainedAt = len(msgs) < n, epoch
			if len(msgs) > 0 {
				progress = true
				s.putCursorLocked(c)
			}
		}
		s.mu.Unlock()
	}
	return out, progress, nil
}

// takeLocked turns messages read from cursor c into deliveries for subscription sub. Its
// QoS 1/2 deliveries form one batch record.
func (s *Session) takeLocked(out []Delivery, c *cursor, sub Subscription, msgs []ds.StoredMessage, now time.Time) []Delivery {
	// A Delivery carries its message, a few hundred bytes: grow once per read, to what it
	// returned, rather than by appending (copies) or for the whole window up front (most reads
	// of a live stream return a few messages).
	out = slices.Grow(out, len(msgs))
	var b *batch
	var slab []inflight // the batch's entries, one allocation
	var subIDs []uint32
	if sub.SubscriptionID != 0 {
		subIDs = []uint32{sub.SubscriptionID}
	}
	for i := range msgs {
		m := &msgs[i]
		if sub.NoLocal && m.ClientID == s.id {
			continue // [MQTT-3.8.3-3]
		}
		if p := m.Properties; p.HasMessageExpiry &&
			!now.Before(time.UnixMicro(int64(m.Timestamp)).Add(time.Duration(p.MessageExpiry)*time.Second)) {
			s.st.stats.expired.Add(1) // [MQTT-3.3.2-5]
			continue
		}
		d := Delivery{QoS: min(m.QoS, sub.QoS), Retain: m.Retain && sub.RetainAsPublished, SubIDs: subIDs, Message: *m}
		if d.QoS > 0 {
			if b == nil {
				before, _ := c.it.MarshalBinary()
				b = &batch{id: s.mu.seq + 1, filter: c.filter, subIDs: subIDs, before: before, read: len(msgs),
					entries: make([]*inflight, 0, len(msgs)-i)}
				slab = make([]inflight, 0, len(msgs)-i)
			}
			d.PID = s.allocPIDLocked()
			s.mu.seq++
			slab = append(slab, inflight{pid: d.PID, seq: s.mu.seq, qos: d.QoS, state: StateSent, retain: d.Retain,
				subIDs: subIDs, key: m.Key, b: b})
			f := &slab[len(slab)-1]
			b.entries = append(b.entries, f)
			b.open++
			s.mu.inflight[d.PID] = f
		}
		out = append(out, d)
	}
	if b != nil {
		s.mu.dirty[b] = struct{}{}
		s.scheduleLocked()
	}
	return out
}

func (s *Session) putCursorLocked(c *cursor) {
	itb, _ := c.it.MarshalBinary()
	s.mu.pending[c.key] = encodeCursor(c.ended, itb)
	s.scheduleLocked()
}

func (s *Session) dropCursorLocked(c *cursor) {
	delete(s.mu.cursors, c.key)
	s.mu.pending[c.key] = nil
	s.scheduleLocked()
}

// readableLocked returns the cursors to read now, rotating the start so that every stream gets
// its turn: per (filter, shard), only those of the oldest generation not read to its end.
func (s *Session) readableLocked() []*cursor {
	type group struct {
		filter string
		shard  int
	}
	oldest := map[group]uint32{}
	for _, c := range s.mu.cursors {
		if c.ended {
			continue
		}
		g := group{c.filter, c.rank.Shard}
		if gen, ok := oldest[g]; !ok || c.rank.Generation < gen {
			oldest[g] = c.rank.Generation
		}
	}
	newer := map[group]bool{} // a later generation waits: the oldest must be read to its end
	for _, c := range s.mu.cursors {
		g := group{c.filter, c.rank.Shard}
		if !c.ended && c.rank.Generation > oldest[g] {
			newer[g] = true
		}
	}
	var out []*cursor
	for _, c := range s.mu.cursors {
		g := group{c.filter, c.rank.Shard}
		if c.ended || oldest[g] != c.rank.Generation {
			continue
		}
		if c.drained && c.drainedAt == s.st.epochs[c.rank.Shard].Load() && !newer[g] {
			continue // nothing committed in its shard since it was read to the end
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *cursor) int { return strings.Compare(a.key, b.key) })
	if len(out) > 1 {
		s.mu.rr = (s.mu.rr + 1) % len(out)
		out = append(out[s.mu.rr:], out[:s.mu.rr]...)
	}
	return out
}

// maybeRenewStreams renews when asked to (Subscribe, Touch), or when something was committed
// since the last renewal and Options.RenewInterval has passed.
func (s *Session) maybeRenewStreams() error {
	s.mu.Lock()
	commits := s.st.commits.Load()
	due := s.mu.forceRenew || (commits != s.mu.renewedAt && time.Since(s.mu.renewTime) >= s.st.opts.RenewInterval)
	if due {
		s.mu.forceRenew = false
		s.mu.renewedAt, s.mu.renewTime = commits, time.Now()
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	return s.renewStreams()
}

// RenewPending reports whether commits happened since the last stream renewal: with a
// RenewInterval, the caller should Fetch again after it even if no notification comes.
func (s *Session) RenewPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.forceRenew || s.st.commits.Load() != s.mu.renewedAt
}

// Touch makes the next Fetch look at every stream and renew them: the fallback when
// notifications may have been missed.
func (s *Session) Touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.forceRenew = true
	for _, c := range s.mu.cursors {
		c.drained = false
	}
}

// renewStreams finds the streams of every subscription (new topics learned, new generations)
// and makes cursors for the new ones, starting at the subscription's time.
func (s *Session) renewStreams() error {
	s.mu.Lock()
	subs := make([]Subscription, 0, len(s.mu.meta.Subs))
	for _, sub := range s.mu.meta.Subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()

	type found struct {
		sub    Subscription
		stream ds.RankedStream
		bytes  []byte
	}
	var all []found
	for _, sub := range subs {
		if IsShared(sub.Filter) {
			continue // read by the group's own session (group.go)
		}
		rs, err := s.st.db.GetStreams(sub.Filter, sub.Since)
		if err != nil {
			return err
		}
		for _, r := range rs {
			b, _ := r.Stream.MarshalBinary()
			all = append(all, found{sub, r, b})
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.mu.cursors {
		c.live = false
	}
	for _, f := range all {
		if _, ok := s.mu.meta.Subs[f.sub.Filter]; !ok {
			continue
		}
		k := string(cursorKey(s.id, f.sub.Filter, f.bytes))
		if c := s.mu.cursors[k]; c != nil {
			c.live = true
			continue
		}
		it, err := s.st.db.MakeIterator(f.stream.Stream, f.sub.Filter, f.sub.Since)
		if errors.Is(err, ds.ErrGenerationNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		c := &cursor{key: k, filter: f.sub.Filter, stream: f.stream.Stream, rank: f.stream.Rank, it: it, live: true}
		s.mu.cursors[k] = c
		s.putCursorLocked(c)
	}
	// A read-to-its-end cursor that GetStreams no longer returns belongs to a dropped
	// generation: forget it. One that still has messages to read stays; reading it tells
	// whether its generation is gone (ErrGenerationNotFound).
	for _, c := range s.mu.cursors {
		if !c.live && c.ended {
			s.dropCursorLocked(c)
		}
	}
	return nil
}
