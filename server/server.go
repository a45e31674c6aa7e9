package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttds/mqttds/internal/fdtable"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/listeners"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// Version is reported in $SYS and the API.
const Version = "0.1.0"

// Server is the MQTT broker: it owns the listeners, the connections, the
// sessions, the subscription index and the retained store, and routes
// messages between them.
//
// Use New, AddListener and AddHook, then Start; Close stops it. Every
// method is safe for concurrent use.
type Server struct {
	opts     *Options
	log      *slog.Logger
	topics   *topic.Options
	subs     *subscriptions.Index
	strategy subscriptions.Strategy
	hooks    hooks
	stats    counters
	started  time.Time
	mem      memoryWatch
	durable  *durableBroker // nil when durable sessions are off
	// connectTime is how long accepted CONNECTs took, from the packet read to the CONNACK
	// queued: the broker's share of a client's connect latency.
	connectTime prometheus.Histogram

	// traces holds the running traces (trace.go); nil while none runs, which is all the
	// packet paths look at.
	traces     atomic.Pointer[[]*trace]
	traceOnce  sync.Once
	traceState *traceSet

	// claims holds a lock per client id with a CONNECT under way: a CONNECT
	// holds its id's from finding the session to attaching to it, so the
	// CONNECTs of one client id take the session over one after the other
	// and exactly one connection owns it at a time [MQTT-3.1.4-3] v5.
	claims claimTable
	// connectMu serializes session take-over and creation, so two CONNECTs
	// with one client id cannot both believe they own the session.
	connectMu sync.Mutex
	// sessionLeft is signalled whenever a session leaves the table (its L is
	// mu's write lock): a CONNECT that found an ended session waits on it
	// until the session is released (awaitRelease).
	sessionLeft sync.Cond

	mu struct {
		sync.RWMutex
		sessions  map[string]Session
		conns     map[*conn]struct{}
		listeners []listeners.Listener
		rates     map[string]*tokenBucket
		started   bool
		closed    bool
	}
	closing chan struct{}
	wg      sync.WaitGroup // listeners' Serve and connection goroutines

	// willDelayUnit is what one second of a Will Delay Interval lasts:
	// a second (tests shorten it, before Start).
	willDelayUnit time.Duration
	// attached, if set (tests, before Start), is called by a CONNECT that has
	// attached its session, before its connection is ready.
	attached func(clientID string)
}

// New returns a Server with opts (nil for defaults), or the problems with
// opts.
func New(opts *Options) (*Server, error) {
	opts = opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	strategy, _ := subscriptions.ParseStrategy(opts.SharedStrategy)
	s := &Server{
		opts:          opts,
		log:           opts.Logger,
		topics:        &topic.Options{MaxLevels: opts.MaxTopicLevels},
		subs:          subscriptions.New(),
		strategy:      strategy,
		closing:       make(chan struct{}),
		willDelayUnit: time.Second,
		connectTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mqttds_connect_duration_seconds",
			Help: "Time from an accepted CONNECT read to its CONNACK queued (authentication, session take-over and creation, durable state included).",
			// 25 µs to about 1.6 s.
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 17)}),
	}
	if opts.Peers != nil {
		s.subs.Watch(opts.Peers.Route)
	}
	s.sessionLeft.L = &s.mu.RWMutex
	s.mu.sessions = make(map[string]Session)
	s.mu.conns = make(map[*conn]struct{})
	s.mu.rates = make(map[string]*tokenBucket)
	if err := s.openDurable(); err != nil {
		return nil, err
	}
	return s, nil
}

// AddListener adds a transport. Listeners added after Start are started
// at once.
func (s *Server) AddListener(l listeners.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	for _, x := range s.mu.listeners {
		if x.ID() == l.ID() {
			return fmt.Errorf("server: listener id %q already in use", l.ID())
		}
	}
	s.mu.listeners = append(s.mu.listeners, l)
	if s.opts.ConnectionRate > 0 {
		s.mu.rates[l.ID()] = newTokenBucket(float64(s.opts.ConnectionRate), float64(s.opts.ConnectionRate))
	}
	if s.mu.started {
		return s.startListenerLocked(l)
	}
	return nil
}

// AddHook adds an event hook; see Hook.
func (s *Server) AddHook(h Hook) { s.hooks.add(h) }

// ErrClosed is returned after Close.
var ErrClosed = errors.New("server: closed")

// Start binds every listener and starts serving. It returns once all are
// bound, or the first bind error (having closed those already bound).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if s.mu.started {
		return nil
	}
	s.started = time.Now()
	s.reserveDescriptors()
	for _, l := range s.mu.listeners {
		if err := s.startListenerLocked(l); err != nil {
			for _, x := range s.mu.listeners {
				_ = x.Close()
			}
			return err
		}
	}
	s.mu.started = true
	s.mem.start(s)
	if s.opts.SysInterval > 0 {
		s.wg.Add(1)
		go s.sysLoop()
	}
	return nil
}

// reservedDescriptors is how many file descriptors the broker makes room for at Start, unless
// MaxConnections asks for more.
const reservedDescriptors = 1 << 16

// reserveDescriptors grows the process's descriptor table before any connection arrives, so
// that accepting does not stall each time the table doubles (internal/fdtable).
func (s *Server) reserveDescriptors() {
	n := max(reservedDescriptors, s.opts.MaxConnections+1024)
	if _, err := fdtable.Reserve(n); err != nil {
		s.log.Warn("reserving room for file descriptors failed", "err", err)
	}
}

func (s *Server) startListenerLocked(l listeners.Listener) error {
	if err := l.Init(s.log); err != nil {
		return fmt.Errorf("server: listener %s (%s on %s): %w", l.ID(), l.Protocol(), l.Address(), err)
	}
	s.log.Info("listening", "listener", l.ID(), "protocol", l.Protocol(), "address", l.Address())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		l.Serve(s.establish)
	}()
	return nil
}

// Listeners returns the added listeners (for their bound addresses).
func (s *Server) Listeners() []listeners.Listener {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]listeners.Listener(nil), s.mu.listeners...)
}

// establish serves one accepted connection; it is the listeners'
// EstablishFunc.
func (s *Server) establish(listener string, nc net.Conn) {
	if !s.admit(listener) {
		s.stats.connectionsRefused.Add(1)
		s.stats.disconnects[CauseRefused].Add(1)
		_ = nc.Close()
		return
	}
	c := newConn(s, listener, nc)
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.mu.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	done := func(err error) {
		c.finish(err)
		s.stats.connections.Add(-1)
		s.mu.Lock()
		delete(s.mu.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}
	if err := c.handshake(); err != nil {
		done(err)
		return
	}
	// The packet loop runs on a goroutine of its own, and this one (the
	// listener's) ends: CONNECT handling runs deep and grows its stack,
	// which an idle connection should not keep for its whole life.
	go func() { done(c.loop()) }()
}

// admit applies the per-listener connection rate.
func (s *Server) admit(listener string) bool {
	s.mu.RLock()
	tb := s.mu.rates[listener]
	s.mu.RUnlock()
	return tb == nil || tb.take(1)
}

// session returns the session of clientID, or nil. A durable session kept compact in storage
// while offline is loaded (durable_server.go).
func (s *Server) session(clientID string) Session {
	if sess := s.loadedSession(clientID); sess != nil || s.durable == nil {
		return sess
	}
	if d := s.durable.restore(clientID); d != nil {
		return d
	}
	return nil
}

// loadedSession returns the session of clientID if the broker's table holds it.
func (s *Server) loadedSession(clientID string) Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.sessions[clientID]
}

// claimTable is the per client id lock of Server.claims. An entry lives
// while a CONNECT holds or waits for it, so the table only holds the ids
// being connected now.
type claimTable struct {
	mu sync.Mutex
	m  map[string]*claim
}

type claim struct {
	sync.Mutex
	refs int // holders and waiters, under claimTable.mu
}

// claim waits until no other CONNECT holds id and returns the function
// that lets it go.
func (t *claimTable) claim(id string) (release func()) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]*claim)
	}
	c := t.m[id]
	if c == nil {
		c = &claim{}
		t.m[id] = c
	}
	c.refs++
	t.mu.Unlock()
	c.Lock()
	return func() {
		c.Unlock()
		t.mu.Lock()
		if c.refs--; c.refs == 0 {
			delete(t.m, id)
		}
		t.mu.Unlock()
	}
}

// openSession finds or makes the session for a connecting client, which
// holds the claim on id (so no other CONNECT attaches meanwhile). An
// existing connection with the same id is taken over: it gets DISCONNECT
// 0x8E and is closed [MQTT-3.1.4-3] v5, and we wait (without holding
// connectMu, which its end may need) for it to let go of the session; in a
// cluster the other brokers were asked to do the same first (prepareSession). Clean
// Start discards the old session [MQTT-3.1.2-4] v5, otherwise it continues
// [MQTT-3.1.2-5] v5.
func (s *Server) openSession(id string, clean bool) (Session, bool) {
	for {
		s.connectMu.Lock()
		old := s.session(id)
		if old != nil {
			if oc := old.currentConn(); oc != nil {
				s.connectMu.Unlock()
				oc.disconnect(CauseTakeover, mqtt.SessionTakenOver)
				oc.waitFinished(5 * time.Second)
				continue
			}
			if old.isEnded() {
				// Being released by its last connection's end: wait until
				// its subscriptions have left the index.
				s.connectMu.Unlock()
				s.awaitRelease(old)
				continue
			}
			expired := old.expired(time.Now())
			if !clean && !expired {
				s.connectMu.Unlock()
				return old, true
			}
			reason := "clean_start"
			if expired {
				reason = "expired"
			}
			s.endSession(old, reason)
		}
		sess := newMemSession(s, id)
		s.mu.Lock()
		s.mu.sessions[id] = sess
		s.mu.Unlock()
		s.connectMu.Unlock()
		return sess, false
	}
}

// endSession discards a session's state: subscriptions, queue, in flight.
// Its Will, if still held, is published now: the session is over
// [MQTT-3.1.2-8] v5.
func (s *Server) endSession(sess Session, reason string) {
	if sess.markEnded(false) {
		s.releaseSession(sess, reason)
	}
}

// endIdleSession ends a session only if no connection is attached, in one
// atomic step against a reconnect.
func (s *Server) endIdleSession(sess Session, reason string) {
	if sess.markEnded(true) {
		s.releaseSession(sess, reason)
	}
}

// releaseSession finishes what markEnded began. The subscriptions leave the
// index before the session leaves the map, because a new session for the
// same client id is only made once this one is out of the map.
func (s *Server) releaseSession(sess Session, reason string) {
	if w := sess.takeWill(); w != nil {
		s.publishWill(w)
	}
	id := sess.ClientID()
	s.subs.RemoveClient(id)
	s.dropSession(sess)
	sess.end(reason)
	s.hooks.sessionTerminated(id, reason)
}

// dropSession takes sess out of the session table, if it is still there, and
// wakes the CONNECTs waiting for it to go (awaitRelease).
func (s *Server) dropSession(sess Session) {
	id := sess.ClientID()
	s.mu.Lock()
	if s.mu.sessions[id] == sess {
		delete(s.mu.sessions, id)
		s.sessionLeft.Broadcast()
	}
	s.mu.Unlock()
}

// awaitRelease waits until sess, which ended (Session.isEnded), is no longer
// the session of its client id in the table: whoever ended it releases it
// (releaseSession), and its subscriptions have then left the index.
func (s *Server) awaitRelease(sess Session) {
	id := sess.ClientID()
	s.mu.Lock()
	for s.mu.sessions[id] == sess {
		s.sessionLeft.Wait()
	}
	s.mu.Unlock()
}

// expireSession ends a session whose expiry interval passed while offline
// [MQTT-4.1.0-2] v5.
func (s *Server) expireSession(sess Session) {
	s.connectMu.Lock()
	defer s.connectMu.Unlock()
	s.endIdleSession(sess, "expired")
}

// Publish routes a message from the broker itself (no client publisher):
// $SYS, the API, embedding programs. It returns the number of sessions that
// received it.
func (s *Server) Publish(topicName string, payload []byte, qos mqtt.QoS, retain bool) (int, error) {
	if err := s.topics.ValidateName(topicName); err != nil {
		return 0, err
	}
	if qos > mqtt.QoS2 {
		return 0, fmt.Errorf("server: QoS %d", qos)
	}
	m := &Message{Topic: topicName, Payload: payload, QoS: qos, Retain: retain, Created: timeNow()}
	return s.publishStored(m), nil
}

// publishStored routes a message the broker publishes itself, once it is
// stored when a durable subscription matches.
func (s *Server) publishStored(m *Message) int {
	rt := s.match(m)
	s.persistBrokerMessage(m, &rt)
	n, _ := s.routeFlow(m, &rt)
	return n
}

// dropped counts a message that will not reach clientID and tells hooks.
func (s *Server) dropped(clientID string, m *Message, r DropReason) {
	s.stats.dropped[r].Add(1)
	s.hooks.messageDropped(clientID, m, r)
}

// acked counts a completed QoS 1/2 delivery and tells hooks.
func (s *Server) acked(clientID string, m *Message) {
	s.stats.messagesAcked.Add(1)
	s.hooks.messageAcked(clientID, m)
}

// Metrics returns a snapshot of the broker's counters and sizes.
func (s *Server) Metrics() Metrics {
	var m Metrics
	s.stats.snapshot(&m)
	s.mu.RLock()
	m.Sessions.Total = int64(len(s.mu.sessions))
	if s.durable != nil {
		m.Sessions.Total += int64(s.durable.store.OfflineLen())
	}
	sessions := make([]Session, 0, len(s.mu.sessions))
	for _, sess := range s.mu.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.RUnlock()
	for _, sess := range sessions {
		if sess.online() {
			m.Sessions.Online++
		}
	}
	m.Subscriptions = int64(s.subs.Len())
	m.Retained = int64(s.opts.Retained.Len())
	if s.mem.high.Load() {
		m.Alarms.MemoryHigh = 1
	}
	m.Alarms.MemoryHighRaised = s.mem.raised.Load()
	return m
}

// Close stops the broker: listeners stop accepting, every v5 client gets
// DISCONNECT 0x8B (Server shutting down), every connection is closed, and
// Close returns when all connection goroutines are done or ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	close(s.closing)
	ls := s.mu.listeners
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, l := range ls {
		if err := l.Close(); err != nil {
			s.log.Warn("closing listener", "listener", l.ID(), "err", err)
		}
	}
	for _, c := range conns {
		c.disconnect(CauseShutdown, mqtt.ServerShuttingDown)
	}
	// Offline sessions' Will and expiry timers must not fire into a
	// stopped broker.
	s.mu.RLock()
	for _, sess := range s.mu.sessions {
		sess.stopTimers()
	}
	s.mu.RUnlock()
	defer s.closeDurable() // after the connections let go of their sessions, and the alarms stopped
	defer s.mem.stop()     // it publishes alarms, which are stored
	defer s.stopTraces()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.close(CauseShutdown)
		}
		return ctx.Err()
	}
	return nil
}

// defaultNodeName is "mqttds@<hostname>".
func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return "mqttds@" + h
}

// timeNow is time.Now, named so tests read clearly where time matters.
func timeNow() time.Time { return time.Now() }
