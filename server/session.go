package server

import (
	"slices"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// Session is the state MQTT keeps for one client id across network
// connections (MQTT5 §4.1): the subscriptions (held in the broker's index),
// the outbound QoS 1/2 messages not yet acknowledged, the messages queued
// while the client is away or its window is full, the inbound QoS 2 packet
// ids awaiting PUBREL, and the Will.
//
// This is the seam for durable sessions: the in-memory implementation
// (memSession) keeps all of it in RAM and loses it when the process stops;
// durableSession keeps the same state in ds and reads messages from the
// topic log instead of copying them per session. The broker reaches a
// session only through these methods; a session's kind is decided when it
// is made and never changes (durableFor replaces a session instead).
type Session interface {
	// ClientID is the session's key [MQTT-3.1.3-2] v5.
	ClientID() string
	// Info is a snapshot for the API and $SYS.
	Info() SessionInfo

	// attach binds a connection that just completed CONNECT, with what
	// its CONNECT decided (cfg: the expiry interval, the Will and its
	// delay), queues its CONNACK and re-sends the unacknowledged messages
	// of a resumed session [MQTT-4.4.0-1] v5; false, changing nothing, if
	// the session ended meanwhile or another connection owns it.
	attach(c *conn, resumed bool, connack *mqtt.Packet, cfg sessionConfig) bool
	// detach unbinds c (if it is still the attached connection), in one
	// step with what its leaving decides: the Will to publish now (nil
	// if none, or if it waits for its delay) and, with an expiry interval
	// of 0, the session's end (end: the caller releases the session);
	// otherwise the Will delay and expiry clocks start.
	detach(c *conn) (will *Message, end bool)
	// online, currentConn and isEnded look at the session's connection and
	// whether it ended.
	online() bool
	currentConn() *conn
	isEnded() bool
	// expiry is the session expiry interval in force; setExpiry changes it
	// (DISCONNECT) [MQTT-3.14.2-2] v5. expired reports a session whose
	// expiry passed at now while its timer has not ended it yet.
	expiry() time.Duration
	setExpiry(e time.Duration)
	expired(now time.Time) bool
	// takeWill removes and returns the Will, so that it is published once.
	takeWill() *Message
	// stopTimers stops the Will delay and expiry timers (broker close).
	stopTimers()

	// routed offers a message that routing matched to sub; shed asks a
	// session that copies messages to drop a QoS 0 one (memory pressure).
	// A session that reads its messages from storage only wakes: routing
	// runs after the message was stored. congested reports a backlog above
	// the flow-control high watermark (flow.go).
	routed(m *Message, sub *subscriptions.Subscriber, shed bool) (congested bool)
	// deliver offers one message that is not in storage (retained on
	// SUBSCRIBE, a shared group's redispatch); it never blocks on the
	// network [MQTT-4.5.0-1] v5.
	deliver(d delivery) (congested bool)
	// awaitDrain pauses a publisher until the session's backlog drained
	// (flow.go); flowProgress is the writer's report that it shrank.
	awaitDrain() bool
	flowProgress()
	// acknowledgements from the client for our outbound PUBLISHes
	puback(pid uint16, code mqtt.ReasonCode)
	pubrec(pid uint16, code mqtt.ReasonCode) (known bool)
	pubcomp(pid uint16)
	// dropInflight finishes a delivery too large for the client, as if it
	// had been delivered [MQTT-3.1.2-25] v5.
	dropInflight(pid uint16)
	// inbound QoS 2: received reports whether pid is already waiting for
	// PUBREL (a re-sent PUBLISH); release forgets it on PUBREL;
	// awaitingRelLen counts the ids waiting.
	received(pid uint16, limit int) (dup bool, full bool)
	release(pid uint16) (known bool)
	awaitingRelLen() int

	// subscribed and unsubscribed follow the subscription index: a session
	// kept in storage records its subscriptions there, before the SUBACK.
	subscribed(f topic.Filter, o subscriptions.Options) error
	unsubscribed(filter string)

	// markEnded and end discard the session's state; queued messages are
	// counted as dropped (or redispatched to another shared-group member).
	markEnded(idleOnly bool) bool
	end(reason string)
}

// SessionInfo describes a session for the REST API.
type SessionInfo struct {
	ClientID string        `json:"client_id"`
	Online   bool          `json:"online"`
	Expiry   time.Duration `json:"expiry_ns"`
	Inflight int           `json:"inflight"`
	Queued   int           `json:"queued"`
	Created  time.Time     `json:"created"`
	Durable  bool          `json:"durable"`
}

// deliveryState is where an outbound message stands.
type deliveryState uint8

const (
	stateQueued   deliveryState = iota // not yet sent on this session
	stateSent                          // PUBLISH sent, waiting for PUBACK (QoS 1) or PUBREC (QoS 2)
	stateReleased                      // PUBREL sent, waiting for PUBCOMP
)

// delivery is one message on its way to one session: the shared message
// plus what is particular to this subscriber.
type delivery struct {
	msg    *Message
	qos    mqtt.QoS // the lower of published and granted QoS [MQTT-3.8.4-8] v5
	retain bool     // the RETAIN flag this subscriber sees
	subIDs []uint32
	// group is the shared subscription ("$share/g/filter") that chose this
	// session, so the message can go to another member if this one leaves
	// before acknowledging it.
	group string
	pid   uint16
	state deliveryState
}

// sessionConfig is what a CONNECT decides for the session it attaches to:
// the expiry interval, and the Will (nil for none) with its delay.
type sessionConfig struct {
	expiry    time.Duration
	will      *Message
	willDelay time.Duration
}

// sessionLife is what every Session keeps about its connections: the
// attached one, the expiry interval, the Will and their timers, and whether
// the session ended. It is guarded by its session's mutex: the methods
// ending in Locked run with that held.
type sessionLife struct {
	// conn is the attached connection; nil while offline.
	conn *conn
	// expiry is how long the session outlives its connection; neverExpire
	// for 0xFFFFFFFF [MQTT-3.1.2-23] v5.
	expiry time.Duration
	// will is the Will of the attached (or last) connection.
	will      *Message
	willDelay time.Duration
	// timers run the will delay and the session expiry while offline.
	willTimer, expiryTimer *time.Timer
	// willGen numbers the Will timers: a timer acts only if it is the
	// last one started and not stopped since (Stop does not stop a timer
	// whose function has begun).
	willGen uint64
	ended   bool
}

// neverExpire is the session expiry of 0xFFFFFFFF seconds.
const neverExpire = time.Duration(1<<63 - 1)

// attachLocked queues c's CONNACK and binds c with cfg, cancelling the
// timers: a reconnect within the will delay cancels the Will
// [MQTT-3.1.3-9] v5, in the same step as the new connection's Will takes
// its place, so a Will timer firing meanwhile publishes the old Will
// (its delay passed first) or nothing, never the new one. It reports
// false, changing nothing, once the session ended, or while another
// connection owns it (the caller's CONNECT then takes it over
// [MQTT-3.1.4-3] v5: a session has one connection at a time).
func (l *sessionLife) attachLocked(c *conn, connack *mqtt.Packet, cfg sessionConfig) bool {
	if l.ended || (l.conn != nil && l.conn != c) {
		return false
	}
	c.sendPacket(connack, false)
	l.stopTimersLocked()
	l.expiry, l.will, l.willDelay = cfg.expiry, cfg.will, cfg.willDelay
	l.conn = c
	return true
}

// detachLocked unbinds c; false when c is not the attached connection (or
// the session ended).
func (l *sessionLife) detachLocked(c *conn) bool {
	if l.conn != c || l.ended {
		return false
	}
	l.conn = nil
	return true
}

// leftLocked decides what the connection that just left (detachLocked)
// leaves behind, in the same step: the Will to publish now, unless it
// waits for its delay [MQTT-3.1.2-8] v5; the end of a session that
// outlives no connection (expiry 0; end: the caller releases it, and no
// CONNECT can resume it meanwhile); otherwise the Will delay and expiry
// clocks (timers: false when the broker is stopping, which gets no timers).
func (l *sessionLife) leftLocked(srv *Server, willFired func(gen uint64), expiryFired func()) (will *Message, end, timers bool) {
	if !l.willDelayedLocked() {
		will, l.will = l.will, nil
	}
	if l.expiry == 0 {
		l.ended = true
		l.stopTimersLocked()
		return will, true, false
	}
	return will, false, l.startTimersLocked(srv, willFired, expiryFired)
}

// startTimersLocked starts the Will delay and expiry clocks of an offline
// session (the Will timer only while the Will would come before the
// session's end, which publishes it too); false when the broker is
// stopping (no timers into a stopping broker).
func (l *sessionLife) startTimersLocked(srv *Server, willFired func(gen uint64), expiryFired func()) bool {
	select {
	case <-srv.closing:
		return false
	default:
	}
	if l.will != nil && l.willDelay > 0 && l.willDelay < l.expiry {
		l.startWillTimerLocked(l.willDelay, willFired)
	}
	if l.expiry != neverExpire {
		l.expiryTimer = time.AfterFunc(l.expiry, expiryFired)
	}
	return true
}

// startWillTimerLocked starts the Will timer, the only one that acts from
// now on (timedWillLocked).
func (l *sessionLife) startWillTimerLocked(after time.Duration, fired func(gen uint64)) {
	l.willGen++
	gen := l.willGen
	l.willTimer = time.AfterFunc(after, func() { fired(gen) })
}

// willDelayedLocked reports whether the Will must wait (delay > 0 and the
// session outlives the connection): until the delay passes (the Will timer)
// or the session ends (releaseSession), whichever comes first
// [MQTT-3.1.3-9] v5.
func (l *sessionLife) willDelayedLocked() bool {
	return l.will != nil && l.willDelay > 0 && l.expiry > 0
}

// takeWillLocked removes and returns the Will.
func (l *sessionLife) takeWillLocked() *Message {
	w := l.will
	l.will = nil
	return w
}

// timedWillLocked is takeWillLocked for Will timer gen: nothing unless it
// is the running timer of an offline session (a connection attached or the
// session ended since it was started: the Will is cancelled, or published
// by the end).
func (l *sessionLife) timedWillLocked(gen uint64) *Message {
	if l.conn != nil || l.ended || gen != l.willGen || l.willTimer == nil {
		return nil
	}
	l.willTimer = nil
	return l.takeWillLocked()
}

// markEndedLocked is the first step of ending a session: from then on
// attach refuses it. With idleOnly it does nothing while a connection is
// attached, which makes "end the session if its connection is gone" one
// atomic step. It reports whether it ended the session.
func (l *sessionLife) markEndedLocked(idleOnly bool) bool {
	if l.ended || (idleOnly && l.conn != nil) {
		return false
	}
	l.ended = true
	l.stopTimersLocked()
	return true
}

func (l *sessionLife) stopTimersLocked() {
	if l.willTimer != nil {
		l.willTimer.Stop()
		l.willTimer = nil
	}
	l.willGen++
	if l.expiryTimer != nil {
		l.expiryTimer.Stop()
		l.expiryTimer = nil
	}
}

// memSession is the in-memory Session.
type memSession struct {
	srv     *Server
	id      string
	created time.Time
	// flow is where publishers wait while this session is backed up (flow.go).
	flow flowGate

	mu struct {
		sync.Mutex
		sessionLife
		// quota is our send window on conn: the client's Receive Maximum
		// capped by Options.MaxInflight [MQTT-3.3.4-9] v5.
		quota int
		// inflight holds sent, unacknowledged deliveries in send order, so
		// a resume re-sends them in their original order [MQTT-4.6.0-1] v5.
		// Invariant: len(inflight) is small (≤ quota, except right after a
		// resume on a connection with a smaller window).
		inflight []delivery
		// queue holds deliveries not yet sent. Invariant: len ≤ MaxQueued.
		queue []delivery
		// nextPID is where the next packet id search starts.
		nextPID uint16
		// awaitingRel: inbound QoS 2 packet ids answered with PUBREC and not
		// yet released, with when they arrived (for AwaitRelTimeout).
		awaitingRel map[uint16]time.Time
	}
}

var _ Session = (*memSession)(nil)

func newMemSession(srv *Server, id string) *memSession {
	return &memSession{srv: srv, id: id, created: time.Now()}
}

func (s *memSession) ClientID() string { return s.id }

func (s *memSession) Info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{ClientID: s.id, Online: s.mu.conn != nil, Expiry: s.mu.expiry,
		Inflight: len(s.mu.inflight), Queued: len(s.mu.queue), Created: s.created}
}

// online reports whether a connection is attached.
func (s *memSession) online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.conn != nil
}

// attach implements Session.
//
// The CONNACK is queued here, under the session lock, so that it goes out
// before anything the session sends [MQTT-3.2.0-1] v5. attach reports false,
// sending nothing, when the session ended meanwhile (its last connection's
// end raced this CONNECT); the caller then starts a new session.
func (s *memSession) attach(c *conn, resumed bool, connack *mqtt.Packet, cfg sessionConfig) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.attachLocked(c, connack, cfg) {
		return false
	}
	s.mu.quota = int(min(c.clientReceiveMax, s.srv.opts.MaxInflight))
	if resumed {
		// Re-send what the client has not acknowledged, in order, with the
		// original packet ids: PUBLISH with DUP for those still waiting for
		// PUBACK/PUBREC, PUBREL for those waiting for PUBCOMP [MQTT-4.4.0-1] v5.
		for _, d := range s.mu.inflight {
			if d.state == stateReleased {
				c.sendAck(mqtt.TypePubrel, d.pid, mqtt.Success)
			} else {
				c.sendPublish(d, true)
			}
		}
	}
	s.fillLocked()
	return true
}

// detach implements Session.
func (s *memSession) detach(c *conn) (will *Message, end bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.detachLocked(c) {
		return nil, false
	}
	s.flow.open() // offline: nothing to wait for
	moved := s.takeSharedLocked()
	defer s.srv.redispatch(s.id, moved) // after the unlock: it locks other sessions
	will, end, _ = s.mu.leftLocked(s.srv, s.willTimerFired, s.expiryTimerFired)
	return will, end
}

// takeWill implements Session.
func (s *memSession) takeWill() *Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.takeWillLocked()
}

func (s *memSession) willTimerFired(gen uint64) {
	s.mu.Lock()
	w := s.mu.timedWillLocked(gen)
	s.mu.Unlock()
	if w != nil {
		s.srv.publishWill(w)
	}
}

func (s *memSession) expiryTimerFired() {
	s.srv.expireSession(s)
}

// markEnded implements Session: from now on attach refuses the session and
// deliver ignores it.
func (s *memSession) markEnded(idleOnly bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.markEndedLocked(idleOnly)
}

// end implements Session: it releases the state of a session that
// markEnded ended.
func (s *memSession) end(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := s.takeSharedLocked()
	defer s.srv.redispatch(s.id, moved) // after the unlock: it locks other sessions
	for _, d := range s.mu.inflight {
		s.srv.dropped(s.id, d.msg, DropSessionEnded)
	}
	for _, d := range s.mu.queue {
		s.srv.dropped(s.id, d.msg, DropSessionEnded)
	}
	s.mu.queue, s.mu.inflight, s.mu.awaitingRel = nil, nil, nil
	s.flow.open()
}

// routed implements Session: the session keeps its own copy of the
// delivery.
func (s *memSession) routed(m *Message, sub *subscriptions.Subscriber, shed bool) (congested bool) {
	if shed {
		s.srv.dropped(s.id, m, DropMemoryPressure)
		return false
	}
	return s.deliver(delivery{
		msg: m,
		qos: min(m.QoS, mqtt.QoS(sub.QoS)), // [MQTT-3.8.4-8] v5
		// Forwarded copies carry RETAIN only with Retain As Published
		// [MQTT-3.3.1-12], [MQTT-3.3.1-13] v5.
		retain: m.Retain && sub.RetainAsPublished,
		// Match reuses these arrays on the next call: copy.
		subIDs: slices.Clone(sub.SubscriptionIDs),
	})
}

// deliver implements Session; congested reports whether the session is now
// backed up beyond the flow-control high watermark, for the publisher to
// pause (flow.go).
func (s *memSession) deliver(d delivery) (congested bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ended {
		return false
	}
	s.deliverLocked(d)
	return s.congestedLocked()
}

func (s *memSession) deliverLocked(d delivery) {
	c := s.mu.conn
	if d.qos == mqtt.QoS0 {
		switch {
		case c != nil && len(s.mu.queue) == 0:
			c.sendPublish(d, false)
		case c == nil && !s.srv.opts.QueueQoS0:
			s.srv.dropped(s.id, d.msg, DropOfflineQoS0)
		default:
			s.enqueueLocked(d)
		}
		return
	}
	if c != nil && len(s.mu.queue) == 0 && len(s.mu.inflight) < s.mu.quota {
		s.sendLocked(c, d)
		return
	}
	s.enqueueLocked(d)
}

// enqueueLocked appends d to the queue, applying the drop policy when it is
// full. Every drop is counted and told to hooks.
func (s *memSession) enqueueLocked(d delivery) {
	if len(s.mu.queue) >= s.srv.opts.MaxQueued {
		if s.srv.opts.DropPolicy == DropNewest || len(s.mu.queue) == 0 {
			s.srv.dropped(s.id, d.msg, DropQueueFull)
			return
		}
		s.srv.dropped(s.id, s.mu.queue[0].msg, DropQueueFull)
		s.mu.queue[0] = delivery{}
		s.mu.queue = s.mu.queue[1:]
	}
	s.mu.queue = append(s.mu.queue, d)
}

// sendLocked starts delivering a QoS 1/2 message on c: it takes a packet id,
// enters the in-flight window and goes to the writer [MQTT-4.3.2-1] v5.
func (s *memSession) sendLocked(c *conn, d delivery) {
	d.pid = s.nextPIDLocked()
	d.state = stateSent
	s.mu.inflight = append(s.mu.inflight, d)
	c.sendPublish(d, false)
}

// fillLocked moves queued messages to the connection while the window has
// room. Expired messages are dropped here: delivery has not begun for them
// [MQTT-3.3.2-5] v5.
func (s *memSession) fillLocked() {
	c := s.mu.conn
	if c == nil {
		return
	}
	now := time.Now()
	n := 0
	for ; n < len(s.mu.queue); n++ {
		d := s.mu.queue[n]
		if d.qos > mqtt.QoS0 && len(s.mu.inflight) >= s.mu.quota {
			break // QoS 0 may still go, but not past a waiting QoS 1/2 (order)
		}
		s.mu.queue[n] = delivery{}
		if d.msg.expired(now) {
			s.srv.dropped(s.id, d.msg, DropExpired)
			continue
		}
		if d.qos == mqtt.QoS0 {
			c.sendPublish(d, false)
		} else {
			s.sendLocked(c, d)
		}
	}
	s.mu.queue = s.mu.queue[n:]
	if len(s.mu.queue) == 0 {
		s.mu.queue = nil // let a long queue's array go
	}
	if n > 0 {
		s.flowProgressLocked()
	}
}

// nextPIDLocked returns a packet id not used by any in-flight delivery
// [MQTT-2.2.1-3] v5. The window is small, so a scan is cheaper than a
// 8 KiB bitmap per session.
func (s *memSession) nextPIDLocked() uint16 {
	for {
		s.mu.nextPID++
		if s.mu.nextPID == 0 {
			s.mu.nextPID = 1
		}
		if s.inflightIndexLocked(s.mu.nextPID) < 0 {
			return s.mu.nextPID
		}
	}
}

func (s *memSession) inflightIndexLocked(pid uint16) int {
	for i := range s.mu.inflight {
		if s.mu.inflight[i].pid == pid {
			return i
		}
	}
	return -1
}

// completeLocked removes in-flight entry i and refills the window.
func (s *memSession) completeLocked(i int, acked bool) {
	d := s.mu.inflight[i]
	s.mu.inflight = append(s.mu.inflight[:i], s.mu.inflight[i+1:]...)
	if acked {
		s.srv.acked(s.id, d.msg)
	}
	s.fillLocked()
}

// puback implements Session: QoS 1 done [MQTT-4.3.2-3] v5. A failure code
// also ends the wait; the message is not re-sent [MQTT-4.4.0-2] v5.
func (s *memSession) puback(pid uint16, code mqtt.ReasonCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.inflightIndexLocked(pid); i >= 0 && s.mu.inflight[i].qos == mqtt.QoS1 {
		s.completeLocked(i, !code.IsError())
	}
}

// pubrec implements Session: QoS 2 first half. Below 0x80 we answer PUBREL
// and wait for PUBCOMP [MQTT-4.3.3-4] v5; 0x80 and above ends the exchange.
func (s *memSession) pubrec(pid uint16, code mqtt.ReasonCode) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.inflightIndexLocked(pid)
	if i < 0 || s.mu.inflight[i].qos != mqtt.QoS2 {
		return false
	}
	if code.IsError() {
		s.completeLocked(i, false)
		return true
	}
	s.mu.inflight[i].state = stateReleased
	return true
}

// pubcomp implements Session: QoS 2 done [MQTT-4.3.3-5] v5.
func (s *memSession) pubcomp(pid uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.inflightIndexLocked(pid); i >= 0 && s.mu.inflight[i].state == stateReleased {
		s.completeLocked(i, true)
	}
}

// dropInflight implements Session: the writer could not send the delivery
// because the packet exceeds the client's Maximum Packet Size.
func (s *memSession) dropInflight(pid uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.inflightIndexLocked(pid); i >= 0 {
		s.completeLocked(i, false)
	}
}

// received implements Session: inbound QoS 2 de-duplication
// [MQTT-4.3.3-10] v5. full reports that the client exceeded our Receive
// Maximum with unreleased QoS 2 messages.
func (s *memSession) received(pid uint16, limit int) (dup, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.awaitingRel[pid]; ok {
		return true, false
	}
	s.expireAwaitingRelLocked()
	if len(s.mu.awaitingRel) >= limit {
		return false, true
	}
	if s.mu.awaitingRel == nil {
		s.mu.awaitingRel = make(map[uint16]time.Time)
	}
	s.mu.awaitingRel[pid] = time.Now()
	return false, false
}

// expireAwaitingRelLocked forgets packet ids whose PUBREL never came within
// AwaitRelTimeout, so a client that lost them cannot fill the table forever.
func (s *memSession) expireAwaitingRelLocked() {
	if len(s.mu.awaitingRel) < s.srv.opts.MaxAwaitingRel/2 {
		return
	}
	limit := time.Now().Add(-s.srv.opts.AwaitRelTimeout)
	for pid, at := range s.mu.awaitingRel {
		if at.Before(limit) {
			delete(s.mu.awaitingRel, pid)
		}
	}
}

// release implements Session: PUBREL frees the packet id [MQTT-4.3.3-11] v5.
func (s *memSession) release(pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.mu.awaitingRel[pid]
	delete(s.mu.awaitingRel, pid)
	return ok
}

// takeSharedLocked removes and returns the messages this session got through
// a shared subscription and has not finished, for the caller to hand to
// other members of the group once the lock is released. Queued messages and
// QoS 1 in flight move; a QoS 2 already sent stays with this member, to be
// completed when it returns [MQTT-4.8.2-4] v5, and is not offered elsewhere
// if the session ends first [MQTT-4.8.2-5] v5.
func (s *memSession) takeSharedLocked() []delivery {
	var moved []delivery
	keep := s.mu.inflight[:0]
	for _, d := range s.mu.inflight {
		if d.group != "" && d.qos == mqtt.QoS1 {
			moved = append(moved, d)
			continue
		}
		keep = append(keep, d)
	}
	s.mu.inflight = keep
	keepQ := s.mu.queue[:0]
	for _, d := range s.mu.queue {
		if d.group != "" {
			moved = append(moved, d)
			continue
		}
		keepQ = append(keepQ, d)
	}
	s.mu.queue = keepQ
	return moved
}

func (s *memSession) expiry() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.expiry
}

func (s *memSession) setExpiry(e time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.expiry = e
}

func (s *memSession) currentConn() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.conn
}

// expired implements Session: an in-memory session ends by its timer alone.
func (s *memSession) expired(time.Time) bool { return false }

// awaitingRelLen implements Session.
func (s *memSession) awaitingRelLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.awaitingRel)
}

// subscribed implements Session: the index holds the subscriptions of a
// session kept in memory.
func (s *memSession) subscribed(topic.Filter, subscriptions.Options) error { return nil }

// unsubscribed implements Session.
func (s *memSession) unsubscribed(string) {}

// hasMemoryState reports whether the session holds subscriptions or messages
// (it is being resumed), which durable state created now would not have.
func (s *memSession) hasMemoryState() bool {
	if len(s.srv.subs.ClientSubscriptions(s.id, nil)) > 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.inflight) > 0 || len(s.mu.queue) > 0 || len(s.mu.awaitingRel) > 0
}

// sharedRoom is how many messages the session, online, takes from a durable
// shared group now: what its queue holds (MaxQueued) minus what it has
// queued or in flight, so that the group's backlog stays in storage rather
// than overflowing the queue. Its acknowledgements do not wake the group;
// routing and the group's timer do.
func (s *memSession) sharedRoom() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.conn == nil || s.mu.ended {
		return 0
	}
	return s.srv.opts.MaxQueued - len(s.mu.queue) - len(s.mu.inflight)
}

func (s *memSession) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.ended
}

func (s *memSession) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.stopTimersLocked()
}
