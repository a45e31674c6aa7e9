package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
		RenewInterval: o.RenewStreamsInterval})
	if err != nil {
		b.closeDB()
		return fmt.Errorf("server: opening durable sessions: %w", err)
	}
	b.store = st
	s.durable = b
	b.load()
	b.wg.Add(1)
	go b.gcLoop()
	return nil
}

// gcLoop ends offline durable sessions whose expiry passed, every SessionGCInterval. Each
// session also has its own expiry timer; the sweep catches any that a timer missed.
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
	var expired []*memSession
	for _, sess := range s.mu.sessions {
		if d := sess.dur.Load(); d != nil && d.ds.Expired(now) {
			expired = append(expired, sess)
		}
	}
	s.mu.RUnlock()
	for _, sess := range expired {
		s.expireSession(sess)
	}
}

// load brings back the stored sessions. Expired ones are deleted, their Will published
// [MQTT-3.1.2-8]; the others wait offline for their client, with the expiry and Will delay
// counted from when they were last alive.
func (b *durableBroker) load() {
	s := b.srv
	now := time.Now()
	var wills []*Message
	for _, ds := range b.store.Sessions() {
		if _, _, group := durable.ParseGroupSessionID(ds.ClientID()); group {
			continue // restoreGroups
		}
		meta := ds.Meta()
		if ds.Expired(now) {
			if meta.Will != nil {
				wills = append(wills, messageFromDS(&meta.Will.Message, meta.LastAlive))
			}
			if err := ds.Delete(context.Background()); err != nil {
				s.log.Error("deleting expired durable session", "client", ds.ClientID(), "err", err)
			}
			continue
		}
		sess := newMemSession(s, ds.ClientID())
		sess.created = meta.Created
		d := newDurableSession(b, sess, ds)
		sess.dur.Store(d)
		for _, sub := range ds.Subscriptions() {
			_, err := s.subs.Add(ds.ClientID(), sub.Filter, subscriptions.Options{QoS: sub.QoS, NoLocal: sub.NoLocal,
				RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, SubscriptionID: sub.SubscriptionID})
			if err != nil {
				s.log.Error("restoring durable subscription", "client", ds.ClientID(), "filter", sub.Filter, "err", err)
			}
		}
		s.mu.Lock()
		s.mu.sessions[ds.ClientID()] = sess
		s.mu.Unlock()
		// The timers may fire at once (their time passed while the broker was down).
		sess.mu.Lock()
		sess.mu.expiry = neverExpire
		if meta.Expiry != durable.NeverExpire {
			sess.mu.expiry = meta.Expiry
			sess.mu.expiryTimer = time.AfterFunc(ds.ExpiresIn(now), sess.expiryTimerFired)
		}
		if w := meta.Will; w != nil {
			sess.mu.will, sess.mu.willDelay = messageFromDS(&w.Message, meta.LastAlive), w.Delay
			if w.Delay < meta.Expiry {
				left := max(0, meta.LastAlive.Add(w.Delay).Sub(now))
				sess.mu.willTimer = time.AfterFunc(left, sess.willTimerFired)
			}
		}
		sess.mu.Unlock()
	}
	b.restoreGroups()
	for _, w := range wills {
		s.publishWill(w)
	}
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
func (c *conn) persistDurable(m *Message, p *mqtt.Packet) (done bool, err error) {
	b := c.srv.durable
	if b == nil {
		return false, nil
	}
	var pub *durable.Session
	var pid uint16
	if d := c.sess.dur.Load(); d != nil && p.QoS == mqtt.QoS2 {
		pub, pid = d.ds, p.PacketID
	}
	write := pid != 0 || b.store.Routes().Match(m.Topic)
	item := &pendingPublish{m: m, p: *p}
	if write {
		// Submitted here, on the connection's reader, so the writes are queued in arrival
		// order; the publish queue waits for them in the same order.
		dm := messageToDS(m)
		item.write, item.err = b.store.SubmitPersist(&dm, pub, pid)
	}
	if !b.enqueue(c, item, write) {
		return false, nil
	}
	return true, nil
}

// pendingPublish is a PUBLISH waiting in its connection's publish queue.
type pendingPublish struct {
	m     *Message
	p     mqtt.Packet
	write *durable.PendingPersist // nil: nothing to wait for (or err, when submitting failed)
	err   error
}

// wait returns once item's write, if any, is durable.
func (item *pendingPublish) wait() error {
	if item.write == nil {
		return item.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	_, err := item.write.Wait(ctx)
	return err
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
	for {
		b.pubMu.Lock()
		if len(q.items) == 0 {
			delete(b.pubQueues, c)
			b.pubMu.Unlock()
			return
		}
		item := q.items[0]
		b.pubMu.Unlock()

		item.err = item.wait()
		switch {
		case item.err == nil:
			c.routeAndAck(item.m, &item.p)
		case c.version == mqtt.V5 || item.p.QoS == mqtt.QoS0:
			c.srv.log.Error("storing a message failed", "client", c.clientID, "topic", item.m.Topic, "err", item.err)
			c.ackPublish(&item.p, mqtt.ImplementationSpecificError)
		default:
			c.srv.log.Error("storing a message failed", "client", c.clientID, "topic", item.m.Topic, "err", item.err)
			c.close(CauseNetwork)
		}

		b.pubMu.Lock()
		q.items[0] = nil
		q.items = q.items[1:]
		b.pubMu.Unlock()
	}
}

// persistBrokerMessage stores a message the broker publishes itself (a Will, $SYS, the API)
// when a durable subscription matches.
func (s *Server) persistBrokerMessage(m *Message) {
	if s.durable == nil {
		return
	}
	dm := messageToDS(m)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := s.durable.store.Persist(ctx, &dm, nil, 0); err != nil {
		s.log.Error("storing a message failed", "publisher", m.Publisher, "topic", m.Topic, "err", err)
	}
}

// durableSubscribe records a subscription of a durable session (SUBSCRIBE, auto subscription)
// durably, before the SUBACK. A shared subscription is recorded under its canonical shared
// filter and makes the session a member of the durable group (durable_shared.go).
func (c *conn) durableSubscribe(f topic.Filter, o subscriptions.Options) error {
	d := c.sess.dur.Load()
	if d == nil {
		return nil
	}
	sub := durable.Subscription{Filter: f.String(), QoS: o.QoS, NoLocal: o.NoLocal,
		RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling, SubscriptionID: o.SubscriptionID}
	_, err := d.ds.Subscribe(sub)
	if err == nil && f.Shared() {
		err = d.b.joinGroup(f, memberOf(c.clientID, sub))
	}
	if err == nil {
		d.poke()
	}
	return err
}

// durableUnsubscribe removes a durable subscription (and a shared one's group membership).
func (c *conn) durableUnsubscribe(filter string) {
	d := c.sess.dur.Load()
	if d == nil {
		return
	}
	f, err := topic.ParseFilter(filter)
	if err == nil {
		filter = f.String()
	}
	if _, err := d.ds.Unsubscribe(filter); err != nil {
		c.srv.log.Error("removing a durable subscription", "client", c.clientID, "filter", filter, "err", err)
	}
	if durable.IsShared(filter) {
		d.b.leaveGroup(filter, c.clientID)
	}
}

// durableConfigure runs after CONNECT configured sess: a session with an expiry interval gets
// durable state when durable sessions are on (a new session, or one that had none), and a
// durable session records its new expiry and Will. A failure leaves the session in memory.
func (s *Server) durableConfigure(sess *memSession, expiry time.Duration, will *Message, willDelay time.Duration) {
	b := s.durable
	if b == nil {
		return
	}
	d := sess.dur.Load()
	if d == nil {
		if expiry == 0 || sess.hasMemoryState() {
			return // a session kept in memory so far stays there until it ends
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		st, err := b.store.Create(ctx, sess.id, durableExpiry(expiry))
		if err != nil {
			s.log.Error("creating a durable session failed; the session is kept in memory", "client", sess.id, "err", err)
			return
		}
		d = newDurableSession(b, sess, st)
		sess.dur.Store(d)
	}
	var w *durable.Will
	if will != nil {
		w = &durable.Will{Message: messageToDS(will), Delay: willDelay}
	}
	if err := d.ds.Configure(durableExpiry(expiry), w); err != nil {
		s.log.Error("storing a durable session failed", "client", sess.id, "err", err)
	}
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
