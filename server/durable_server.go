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
		d.mu.startWillTimerLocked(left, d.willTimerFired)
	}
	return d
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

// durableFor makes the session a CONNECT found or made durable when the client asks for an
// expiry interval (cfg.expiry) and durable sessions are on: a new session, or a resumed one
// kept in memory that holds nothing yet. The durable state is created first, with what the
// CONNECT decided (cfg) and marked online, in the one commit the CONNECT waits for before its
// CONNACK; then the durable session replaces the other in the broker's table under the
// take-over locks, so that a session never changes kind while it is in use. A session kept in
// memory so far stays there until it ends, and so does one whose durable state could not be
// created.
func (s *Server) durableFor(sess Session, cfg sessionConfig) Session {
	b := s.durable
	if b == nil || cfg.expiry == 0 {
		return sess
	}
	mem, ok := sess.(*memSession)
	if !ok || mem.hasMemoryState() {
		return sess
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := b.store.CreateOnline(ctx, mem.id, durableExpiry(cfg.expiry), durableWill(cfg))
	if err != nil {
		s.log.Error("creating a durable session failed; the session is kept in memory", "client", mem.id, "err", err)
		return sess
	}
	d := newDurableSession(b, st)
	d.created = mem.created
	d.mu.stored = &cfg
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
	s.sessionLeft.Broadcast() // mem left the table
	s.mu.Unlock()
	return d
}

// durableWill is the stored form of cfg's Will (nil if none).
func durableWill(cfg sessionConfig) *durable.Will {
	if cfg.will == nil {
		return nil
	}
	return &durable.Will{Message: messageToDS(cfg.will), Delay: cfg.willDelay}
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

// sessionBarrier waits until this site's replica of clientID's session shard has applied
// every write acknowledged before the call (Server.prepareSession); a single node has nothing
// to wait for.
func (b *durableBroker) sessionBarrier(ctx context.Context, clientID string) error {
	if !b.opts.Clustered {
		return nil
	}
	return b.db.Barrier(ctx, ds.ShardOf(clientID, b.db.NumShards()))
}
