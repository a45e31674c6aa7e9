package server

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/durable"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// durableBroker connects the broker to durable storage: it owns the ds store (when it opened
// it) and the durable session store. An online durable session is woken when a message for it
// has been stored (routing, right after the commit), when an acknowledgement frees its window,
// and by its fallback timer; the store follows ds.Watch so that a woken session reads only the
// streams whose shard committed since it last read them to the end.
type durableBroker struct {
	srv   *Server
	opts  DurableOptions
	db    *ds.DB
	ownDB bool
	store *durable.Store

	stop chan struct{}

	// pubMu guards pubQueues: the publish queues of the connections that have PUBLISHes
	// being written.
	pubMu     sync.Mutex
	pubQueues map[*conn]*publishQueue
	wg        sync.WaitGroup

	// groups are the durable shared groups by canonical filter ("$share/{name}/{filter}").
	groups struct {
		sync.Mutex
		m map[string]*sharedGroup
	}

	// loadMu serializes the moves of a session between the broker's table (a memSession with
	// its durable side) and the store's compact entries: restore and evict. Lock order:
	// connectMu, loadMu, a memSession's mu.
	loadMu sync.Mutex
	// timers run the compact sessions' deadlines and the evictions.
	timers offlineTimers
}

// renewInterval is the default DurableOptions.RenewStreamsInterval; a session that read
// nothing while its stream list may be stale looks again after renewRetry.
const (
	renewInterval = 10 * time.Millisecond
	renewRetry    = 15 * time.Millisecond
)

// storeTimeout bounds one write to storage on behalf of a client.
const storeTimeout = 10 * time.Second

// openDurable opens durable storage when DurableOptions.Enable is set, and loads the durable
// sessions of a previous run (offline, with their subscriptions, expiry and Will timers).
func (s *Server) openDurable() error {
	o := s.opts.Durable
	if !o.Enable {
		return nil
	}
	o.ensureDefaults()
	b := &durableBroker{srv: s, opts: o, db: o.DB, stop: make(chan struct{}), pubQueues: map[*conn]*publishQueue{}}
	b.groups.m = map[string]*sharedGroup{}
	b.timers.wake = make(chan struct{}, 1)
	b.timers.delay.Store(int64(evictDelay))
	if b.db == nil {
		if o.Dir == "" {
			return errors.New("server: durable sessions enabled without a DB or a directory")
		}
		db, err := ds.Open(o.Dir, o.Storage)
		if err != nil {
			return fmt.Errorf("server: opening durable storage: %w", err)
		}
		b.db, b.ownDB = db, true
	}
	st, err := durable.Open(b.db, &durable.Options{BatchSize: o.BatchSize, HeartbeatInterval: o.HeartbeatInterval,
		RenewInterval: o.RenewStreamsInterval, Shared: o.Clustered})
	if err != nil {
		b.closeDB()
		return fmt.Errorf("server: opening durable sessions: %w", err)
	}
	b.store = st
	s.durable = b
	b.load()
	b.wg.Add(2)
	go b.gcLoop()
	go b.timerLoop()
	return nil
}

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

// load brings back the stored sessions. Expired ones are deleted, their Will published
// [MQTT-3.1.2-8]. The others wait offline for their client, with the expiry and Will delay
// counted from when they were last alive: the store keeps client sessions compact (only their
// deadlines are in memory, in timers), and the few it loads in full (members of durable shared
// groups) get their durableSession as when their client connects.
func (b *durableBroker) load() {
	now := time.Now()
	var wills []*Message
	for _, st := range b.store.Sessions() {
		if _, _, group := durable.ParseGroupSessionID(st.ClientID()); group {
			continue // restoreGroups
		}
		if st.Expired(now) {
			wills = b.deleteExpired(st, wills)
			continue
		}
		b.loadMu.Lock()
		b.adopt(st, now)
		b.loadMu.Unlock()
	}
	var deadlines []deadline
	for _, o := range b.store.OfflineSessions() {
		if !o.Expired(now) {
			deadlines = appendDeadlines(deadlines, o.ClientID, o.Entry)
			continue
		}
		st, err := b.store.Load(o.ClientID)
		if err != nil {
			b.srv.log.Error("loading an expired durable session", "client", o.ClientID, "err", err)
			continue
		}
		if st != nil {
			wills = b.deleteExpired(st, wills)
		}
	}
	b.timers.init(deadlines)
	b.restoreGroups()
	for _, w := range wills {
		b.srv.publishWill(w)
	}
}

// deleteExpired deletes a session found expired at start and adds its Will to wills.
func (b *durableBroker) deleteExpired(st *durable.Session, wills []*Message) []*Message {
	meta := st.Meta()
	if meta.Will != nil {
		wills = append(wills, messageFromDS(&meta.Will.Message, meta.LastAlive))
	}
	if err := st.Delete(context.Background()); err != nil {
		b.srv.log.Error("deleting expired durable session", "client", st.ClientID(), "err", err)
	}
	return wills
}

// restore returns the session of id from the broker's table, loading it from the store when
// it is compact; nil if there is none. Server.session calls it for a client id it does not
// hold, so a compact session is found by CONNECT, the API and the timers alike.
func (b *durableBroker) restore(id string) Session {
	if _, ok := b.store.Offline(id); !ok {
		// Another restore may be between taking the session out of the directory and adding
		// it to the broker's table, or an eviction between the two the other way: both hold
		// loadMu until they are done, so look again under it.
		b.loadMu.Lock()
		sess := b.srv.loadedSession(id)
		_, offline := b.store.Offline(id)
		b.loadMu.Unlock()
		if sess != nil || !offline {
			return sess
		}
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if sess := b.srv.loadedSession(id); sess != nil {
		return sess // restored meanwhile
	}
	st, err := b.store.Load(id)
	if err != nil {
		b.srv.log.Error("loading a durable session failed", "client", id, "err", err)
		return nil
	}
	if st == nil {
		return nil
	}
	d := b.adopt(st, time.Now())
	b.timers.evictLater(d, nil) // compact again unless its client comes back
	return d
}

// adopt gives a loaded offline session its durableSession: subscriptions in the index, and
// Will and expiry timers counted from when it was last alive (they fire at once if that time
// passed). The caller holds loadMu.
func (b *durableBroker) adopt(st *durable.Session, now time.Time) *durableSession {
	s := b.srv
	meta := st.Meta()
	d := newDurableSession(b, st)
	d.created = meta.Created
	for _, sub := range st.Subscriptions() {
		_, err := s.subs.Add(st.ClientID(), sub.Filter, subscriptions.Options{QoS: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, SubscriptionID: sub.SubscriptionID})
		if err != nil {
			s.log.Error("restoring durable subscription", "client", st.ClientID(), "filter", sub.Filter, "err", err)
		}
	}
	s.mu.Lock()
	s.mu.sessions[st.ClientID()] = d
	s.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.expiry = neverExpire
	if meta.Expiry != durable.NeverExpire {
		d.mu.expiry = meta.Expiry
	}
	w := meta.Will
	if w != nil {
		d.mu.will, d.mu.willDelay = messageFromDS(&w.Message, meta.LastAlive), w.Delay
	}
	select {
	case <-s.closing:
		return d // no timers into a stopping broker
	default:
	}
	if meta.Expiry != durable.NeverExpire {
		d.mu.expiryTimer = time.AfterFunc(st.ExpiresIn(now), d.expiryTimerFired)
	}
	if w != nil && w.Delay < meta.Expiry {
		left := max(0, meta.LastAlive.Add(w.Delay).Sub(now))
		d.mu.willTimer = time.AfterFunc(left, d.willTimerFired)
	}
	return d
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
	s.mu.Lock()
	if s.mu.sessions[d.id] == Session(d) {
		delete(s.mu.sessions, d.id)
	}
	s.mu.Unlock()
	if e, ok := b.store.Offline(d.id); ok {
		b.timers.add(appendDeadlines(nil, d.id, e), b.store)
	}
	return false
}

// offlineSessions describes the compact sessions for the API.
func (b *durableBroker) offlineSessions() []SessionInfo {
	offline := b.store.OfflineSessions()
	out := make([]SessionInfo, 0, len(offline))
	for _, o := range offline {
		out = append(out, SessionInfo{ClientID: o.ClientID, Expiry: o.Expiry(), Created: o.Created(), Durable: true})
	}
	return out
}

// storedSubscriptions reads the subscriptions of a compact session from the store (the API's
// details), without loading the session.
func (b *durableBroker) storedSubscriptions(id string) []subscriptions.Subscription {
	if _, ok := b.store.Offline(id); !ok {
		return nil
	}
	m, ok, err := b.store.StoredMeta(id)
	if err != nil {
		b.srv.log.Error("reading a durable session failed", "client", id, "err", err)
	}
	if !ok {
		return nil
	}
	out := make([]subscriptions.Subscription, 0, len(m.Subs))
	for _, sub := range m.Subs {
		var group string
		if f, err := topic.ParseFilter(sub.Filter); err == nil {
			group = f.Group
		}
		out = append(out, subscriptions.Subscription{Filter: sub.Filter, Group: group, Options: subscriptions.Options{
			QoS: sub.QoS, NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
			RetainHandling: sub.RetainHandling, SubscriptionID: sub.SubscriptionID}})
	}
	return out
}

// closeDurable stops the watchers, lets pending session writes finish, and closes the store if
// the broker opened it.
func (s *Server) closeDurable() {
	if s.durable != nil {
		s.durable.close()
	}
}

func (b *durableBroker) close() {
	close(b.stop)
	b.timers.stopped.Store(true)
	b.wg.Wait()
	if b.store != nil {
		if err := b.store.Close(); err != nil {
			b.srv.log.Error("closing durable sessions", "err", err)
		}
	}
	b.closeDB()
}

func (b *durableBroker) closeDB() {
	if b.ownDB {
		if err := b.db.Close(); err != nil {
			b.srv.log.Error("closing durable storage", "err", err)
		}
	}
}

// Storage returns the ds store of durable sessions, or nil when they are off.
func (s *Server) Storage() *ds.DB {
	if s.durable == nil {
		return nil
	}
	return s.durable.db
}

// DurableMetrics returns the durable sessions' counters (zero when they are off).
func (s *Server) DurableMetrics() durable.Metrics {
	if s.durable == nil {
		return durable.Metrics{}
	}
	return s.durable.store.Metrics()
}

// persistDurable starts writing a client's PUBLISH to storage when a durable subscription
// matches (or the publisher's QoS 2 packet id must be recorded) and reports done: the message
// is then routed and acknowledged by the connection's publish queue once the write is durable,
// so the PUBACK/PUBREC follows the fsync while the reader goes on reading, and one
// connection's messages share group commits. Messages of a connection are routed and
// acknowledged in arrival order [MQTT-4.6.0-2], [MQTT-4.6.0-3]: one that needs no write waits
// behind those being written. When nothing is pending and nothing needs writing, done is false
// and the caller routes at once.
func (c *conn) persistDurable(m *Message, p *mqtt.Packet, rt *routes) (done bool, err error) {
	b := c.srv.durable
	if b == nil {
		return false, nil
	}
	var pub *durable.Session
	var pid uint16
	if d, ok := c.sess.(*durableSession); ok && p.QoS == mqtt.QoS2 {
		pub, pid = d.ds, p.PacketID
	}
	write := pid != 0 || b.store.Stores(rt.durable)
	item := &pendingPublish{m: m, rt: *rt, qos: p.QoS, pid: p.PacketID}
	if write {
		// Submitted here, on the connection's reader, so the writes are queued in arrival
		// order; the publish queue waits for them in the same order.
		dm := messageToDS(m)
		item.write, item.err = b.store.SubmitPersist(&dm, rt.durable, pub, pid)
	}
	if !b.enqueue(c, item, write) {
		return false, nil
	}
	return true, nil
}

// pendingPublish is a PUBLISH waiting in its connection's publish queue. It keeps what routing
// and the acknowledgement need, not the packet.
type pendingPublish struct {
	m     *Message
	rt    routes                  // decided on arrival
	write *durable.PendingPersist // nil: nothing to wait for (or err, when submitting failed)
	err   error
	qos   mqtt.QoS
	pid   uint16
}

// wait returns once item's write, if any, is durable or ctx ends.
func (item *pendingPublish) wait(ctx context.Context) error {
	if item.write == nil {
		return item.err
	}
	_, err := item.write.Wait(ctx)
	return err
}

// ack is the packet that ackPublish answers: what of the PUBLISH the acknowledgement needs.
func (item *pendingPublish) ack() mqtt.Packet {
	return mqtt.Packet{Type: mqtt.TypePublish, QoS: item.qos, PacketID: item.pid}
}

// storeDeadline bounds the waits of one drain: each write gets at least storeTimeout and at
// most twice that. One context serves the waits of storeTimeout's worth of messages (a context
// and its timer per message were a third of the publish path's garbage).
type storeDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	renew  time.Time // a wait starting after it gets a new context
}

func (d *storeDeadline) get() context.Context {
	if now := time.Now(); d.ctx == nil || now.After(d.renew) {
		d.stop()
		d.ctx, d.cancel = context.WithTimeout(context.Background(), 2*storeTimeout)
		d.renew = now.Add(storeTimeout)
	}
	return d.ctx
}

func (d *storeDeadline) stop() {
	if d.cancel != nil {
		d.cancel()
	}
}

// enqueue appends item to c's publish queue, starting the queue's goroutine if it was idle.
// A message that needs no write is not queued (false) when nothing of c is pending.
func (b *durableBroker) enqueue(c *conn, item *pendingPublish, write bool) bool {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	q := b.pubQueues[c]
	if q == nil {
		if !write {
			return false
		}
		q = &publishQueue{}
		b.pubQueues[c] = q
		go b.drain(c, q)
	}
	q.items = append(q.items, item)
	return true
}

// publishQueue holds one connection's PUBLISHes between their arrival and their routing.
// Guarded by durableBroker.pubMu.
type publishQueue struct {
	items []*pendingPublish
}

// drain routes and acknowledges c's queued PUBLISHes in order as their writes finish, and
// exits when the queue is empty. A failed write is answered with Implementation Specific
// Error (v5); a 3.x client, which cannot be told, loses the connection without an
// acknowledgement, so that it sends the message again.
func (b *durableBroker) drain(c *conn, q *publishQueue) {
	var deadline storeDeadline
	defer deadline.stop()
	for {
		b.pubMu.Lock()
		if len(q.items) == 0 {
			delete(b.pubQueues, c)
			b.pubMu.Unlock()
			return
		}
		item := q.items[0]
		b.pubMu.Unlock()

		item.err = item.wait(deadline.get())
		p := item.ack()
		switch {
		case item.err == nil:
			c.routeAndAck(item.m, &p, &item.rt)
		case c.version == mqtt.V5 || item.qos == mqtt.QoS0:
			item.rt.release()
			c.srv.log.Error("storing a message failed", "client", c.clientID, "topic", item.m.Topic, "err", item.err)
			c.ackPublish(&p, mqtt.ImplementationSpecificError)
		default:
			item.rt.release()
			c.srv.log.Error("storing a message failed", "client", c.clientID, "topic", item.m.Topic, "err", item.err)
			c.close(CauseNetwork)
		}

		b.pubMu.Lock()
		q.items[0] = nil
		q.items = q.items[1:]
		b.pubMu.Unlock()
	}
}

// persistBrokerMessage stores a message the broker publishes itself (a Will, the API) when a
// durable subscription matches (rt).
func (s *Server) persistBrokerMessage(m *Message, rt *routes) {
	if s.durable == nil {
		return
	}
	dm := messageToDS(m)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	p, err := s.durable.store.SubmitPersist(&dm, rt.durable, nil, 0)
	if err == nil {
		_, err = p.Wait(ctx)
	}
	if err != nil {
		s.log.Error("storing a message failed", "publisher", m.Publisher, "topic", m.Topic, "err", err)
	}
}

// durableFor makes the session a CONNECT found or made durable when the client asks for an
// expiry interval and durable sessions are on: a new session, or a resumed one kept in memory
// that holds nothing yet. The durable state is created first; then the durable session
// replaces the other in the broker's table under the take-over locks, so that a session
// never changes kind while it is in use. A session kept in memory so far stays there until
// it ends, and so does one whose durable state could not be created.
func (s *Server) durableFor(sess Session, expiry time.Duration) Session {
	b := s.durable
	if b == nil || expiry == 0 {
		return sess
	}
	mem, ok := sess.(*memSession)
	if !ok || mem.hasMemoryState() {
		return sess
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := b.store.Create(ctx, mem.id, durableExpiry(expiry))
	if err != nil {
		s.log.Error("creating a durable session failed; the session is kept in memory", "client", mem.id, "err", err)
		return sess
	}
	d := newDurableSession(b, st)
	d.created = mem.created
	s.connectMu.Lock()
	defer s.connectMu.Unlock()
	// Another CONNECT with this client id, or the API, may have taken the session meanwhile.
	if s.loadedSession(mem.id) != sess || !mem.markEnded(true) {
		if err := st.Delete(ctx); err != nil {
			s.log.Error("deleting a durable session failed", "client", mem.id, "err", err)
		}
		return sess
	}
	s.mu.Lock()
	s.mu.sessions[mem.id] = d
	s.mu.Unlock()
	return d
}

// hasMemoryState reports whether an in-memory session holds subscriptions or messages (it is
// being resumed), which durable state created now would not have.
func (s *memSession) hasMemoryState() bool {
	if len(s.srv.subs.ClientSubscriptions(s.id, nil)) > 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.inflight) > 0 || len(s.mu.queue) > 0 || len(s.mu.awaitingRel) > 0
}

func durableExpiry(e time.Duration) time.Duration {
	if e == neverExpire {
		return durable.NeverExpire
	}
	return e
}

// messageToDS converts a message for storage; the expiry interval stored is what is left of it.
func messageToDS(m *Message) ds.Message {
	dm := ds.Message{ClientID: m.Publisher, Topic: m.Topic, Payload: m.Payload, QoS: byte(m.QoS), Retain: m.Retain,
		Properties: ds.Properties{ContentType: m.ContentType, CorrelationData: m.CorrelationData,
			ResponseTopic: m.ResponseTopic, PayloadFormat: m.PayloadFormat}}
	if !m.Expires.IsZero() {
		dm.Properties.HasMessageExpiry = true
		dm.Properties.MessageExpiry = m.remainingExpiry(time.Now())
	}
	for _, u := range m.User {
		dm.Properties.UserProperties = append(dm.Properties.UserProperties, ds.UserProperty{Key: u.Key, Value: u.Value})
	}
	return dm
}

// messageFromDS converts a stored message; created is when it was stored (its expiry counts
// from then).
func messageFromDS(dm *ds.Message, created time.Time) *Message {
	m := &Message{Topic: dm.Topic, Payload: dm.Payload, QoS: mqtt.QoS(dm.QoS), Retain: dm.Retain,
		Publisher: dm.ClientID, Created: created, PayloadFormat: dm.Properties.PayloadFormat,
		ContentType: dm.Properties.ContentType, ResponseTopic: dm.Properties.ResponseTopic,
		CorrelationData: dm.Properties.CorrelationData}
	if dm.Properties.HasMessageExpiry {
		m.Expires = created.Add(time.Duration(dm.Properties.MessageExpiry) * time.Second)
	}
	for _, u := range dm.Properties.UserProperties {
		m.User = append(m.User, mqtt.UserProperty{Key: u.Key, Value: u.Value})
	}
	return m
}
