package server

// The timers of durable sessions: the deadlines of compact sessions, the evictions of loaded
// ones, and the sweep that catches what a timer missed.

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/server/durable"
)

// gcLoop ends offline durable sessions whose expiry passed, every SessionGCInterval. Each
// loaded session has its own expiry timer and the compact ones share one (timerLoop); the sweep
// catches any that a timer missed.
func (b *durableBroker) gcLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.SessionGCInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.gc(time.Now())
		}
	}
}

func (b *durableBroker) gc(now time.Time) {
	s := b.srv
	s.mu.RLock()
	var expired []Session
	for _, sess := range s.mu.sessions {
		if sess.expired(now) {
			expired = append(expired, sess)
		}
	}
	s.mu.RUnlock()
	for _, o := range b.store.OfflineSessions() {
		if !o.Expired(now) {
			continue
		}
		if sess := b.restore(o.ClientID); sess != nil {
			expired = append(expired, sess)
		}
	}
	for _, sess := range expired {
		s.expireSession(sess)
	}
}

// evictDelay is how long an offline durable session stays loaded after its connection ended
// (or after something loaded it): a client that comes straight back finds it ready, and its
// last writes have committed by then.
const evictDelay = time.Second

// evictTries bounds the attempts to evict a session that was not ready (a write pending).
const evictTries = 3

// offlineTimers hold what the broker must do later for sessions it does not hold: the Will and
// expiry deadlines of compact sessions, in one heap served by one timer (a time.Timer per
// session would cost more than the compact entry itself), and the evictions of sessions that
// went offline, in a queue (they all wait evictDelay, so it is in time order).
type offlineTimers struct {
	mu        sync.Mutex
	deadlines deadlineHeap
	evictions []eviction
	wake      chan struct{} // timerLoop looks again
	stopped   atomic.Bool   // the broker is closing: no more evictions
	delay     atomic.Int64  // how long an eviction waits: evictDelay (tests shorten it)
}

// deadline is a compact session's Will or expiry time (Unix ns). A deadline is a reminder to
// look, not a decision: it may be stale (the session was loaded, or ended, since).
type deadline struct {
	at int64
	id string
}

// deadlineHeap is a min-heap of deadlines (container/heap).
type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// eviction is a session to make compact once c (its last connection, if any) has finished.
type eviction struct {
	at    time.Time
	sess  *durableSession
	c     *conn
	tries int
}

// appendDeadlines appends the deadlines of compact session id.
func appendDeadlines(out []deadline, id string, e durable.Entry) []deadline {
	if at, ok := e.ExpiresAt(); ok {
		out = append(out, deadline{at: at.UnixNano(), id: id})
	}
	if at, ok := e.WillAt(); ok {
		out = append(out, deadline{at: at.UnixNano(), id: id})
	}
	return out
}

// init sets the deadlines found at start.
func (t *offlineTimers) init(ds []deadline) {
	t.mu.Lock()
	t.deadlines = ds
	heap.Init(&t.deadlines)
	t.mu.Unlock()
	t.poke()
}

// add adds the deadlines of a session that became compact. The deadlines it had when it was
// compact before are still in the heap, stale; a client that comes and goes often would pile
// them up, so once stale ones could be most of the heap it is rebuilt from the store's entries.
func (t *offlineTimers) add(ds []deadline, st *durable.Store) {
	if len(ds) == 0 {
		return
	}
	t.mu.Lock()
	for _, d := range ds {
		heap.Push(&t.deadlines, d)
	}
	if len(t.deadlines) > 1024+4*st.OfflineLen() {
		t.deadlines = t.deadlines[:0]
		for _, o := range st.OfflineSessions() {
			t.deadlines = appendDeadlines(t.deadlines, o.ClientID, o.Entry)
		}
		heap.Init(&t.deadlines)
	}
	t.mu.Unlock()
	t.poke()
}

// evictLater makes sess compact after evictDelay, once its connection c (nil: none) finished,
// if it is still offline then.
func (t *offlineTimers) evictLater(sess *durableSession, c *conn) {
	t.requeue(eviction{sess: sess, c: c})
}

func (t *offlineTimers) requeue(e eviction) {
	if t.stopped.Load() {
		return
	}
	e.at = time.Now().Add(time.Duration(t.delay.Load()))
	t.mu.Lock()
	t.evictions = append(t.evictions, e)
	first := len(t.evictions) == 1
	t.mu.Unlock()
	if first {
		t.poke()
	}
}

func (t *offlineTimers) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// take removes what is due at now (at most limit of each) and says when to look next.
func (t *offlineTimers) take(now time.Time, limit int) (due []string, evicts []eviction, next time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.deadlines) > 0 && t.deadlines[0].at <= now.UnixNano() && len(due) < limit {
		due = append(due, heap.Pop(&t.deadlines).(deadline).id)
	}
	n := 0
	for n < len(t.evictions) && !t.evictions[n].at.After(now) && n < limit {
		n++
	}
	evicts = append(evicts, t.evictions[:n]...)
	clear(t.evictions[:n])
	t.evictions = t.evictions[n:]
	if len(t.evictions) == 0 {
		t.evictions = nil // let a long queue's array go
	}
	next = time.Hour
	if len(t.deadlines) > 0 {
		next = min(next, time.Duration(t.deadlines[0].at-now.UnixNano()))
	}
	if len(t.evictions) > 0 {
		next = min(next, t.evictions[0].at.Sub(now))
	}
	return due, evicts, max(next, 0)
}

// timerLoop serves the offline timers: a compact session whose Will or expiry is due is loaded
// (restore), which starts its own timers at their remaining time (none left: they fire at
// once); a session due for eviction is made compact.
func (b *durableBroker) timerLoop() {
	defer b.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		due, evicts, next := b.timers.take(now, 256)
		for _, id := range due {
			if e, ok := b.store.Offline(id); ok && deadlinePassed(e, now) {
				b.restore(id)
			}
		}
		for _, e := range evicts {
			b.evictDue(e)
		}
		if len(due)+len(evicts) > 0 {
			select {
			case <-b.stop:
				return
			default:
				continue // more may be due
			}
		}
		t.Reset(next)
		select {
		case <-b.stop:
			return
		case <-b.timers.wake:
		case <-t.C:
		}
	}
}

func deadlinePassed(e durable.Entry, now time.Time) bool {
	if e.Expired(now) {
		return true
	}
	at, ok := e.WillAt()
	return ok && !now.Before(at)
}

// evictDue evicts e's session once its connection has finished (its Will decided).
func (b *durableBroker) evictDue(e eviction) {
	if e.c != nil {
		select {
		case <-e.c.finished:
		default:
			b.timers.requeue(e)
			return
		}
	}
	if b.evict(e.sess) && e.tries < evictTries {
		e.tries++
		b.timers.requeue(e)
	}
}

// evict turns an offline durable session into its compact entry in the store, if nothing of
// it lives in memory alone (see durable.Store.Evict; here also: no transient delivery queued,
// no shared message held). It leaves the broker's table and the subscription index (routing
// to offline durable sessions only stores messages, which the store's route index decides),
// and its timers become deadlines in the shared heap. retry reports a session that could not
// be evicted yet but may be soon (a write was pending).
func (b *durableBroker) evict(d *durableSession) (retry bool) {
	s := b.srv
	if b.timers.stopped.Load() {
		return false
	}
	if err := d.ds.Flush(); err != nil {
		return false
	}
	s.connectMu.Lock()
	defer s.connectMu.Unlock()
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if s.loadedSession(d.id) != Session(d) {
		return false
	}
	d.mu.Lock()
	if !d.evictableLocked() {
		d.mu.Unlock()
		return false
	}
	if !b.store.Evict(d.ds) {
		d.mu.Unlock()
		return true
	}
	// From here the durableSession is finished: attach refuses it, so a CONNECT that found it
	// just before looks again and restores the session from the store.
	d.mu.ended = true
	d.mu.stopTimersLocked()
	d.mu.Unlock()
	s.subs.RemoveClient(d.id)
	s.dropSession(d)
	if e, ok := b.store.Offline(d.id); ok {
		b.timers.add(appendDeadlines(nil, d.id, e), b.store)
	}
	return false
}
