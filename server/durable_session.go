package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/durable"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// durableSession is the Session whose state lives in storage: the packet ids and messages in
// a durable.Session, its connection, expiry and Will under its own lock. It runs a delivery
// loop while a connection is attached: it reads new messages from storage when one for it has
// been stored (routing pokes it after the commit), when an acknowledgement frees the window,
// and on a slow fallback timer, never more than the window allows [MQTT-3.3.4-9]. An idle
// session is never woken by other sessions' traffic.
//
// Messages that are not read from the session's own streams (retained messages on SUBSCRIBE,
// messages of durable shared groups) are "transient": they take packet ids from the same
// table, so ids never collide, but are not re-sent after a restart. A shared group keeps its
// own durable record of what it handed out (durable_shared.go).
type durableSession struct {
	b       *durableBroker
	id      string
	created time.Time
	ds      *durable.Session
	wake    chan struct{}

	// fetchMu is held while messages are read and handed to a connection, and while a resumed
	// connection gets its re-sends, so that the two never interleave and every message read
	// is either sent on the current connection or re-sent on the next. Lock order: fetchMu,
	// then mu.
	fetchMu sync.Mutex
	// sendBuf is reused by sendWindow for the deliveries of one window; guarded by fetchMu.
	sendBuf []delivery

	mu struct {
		sync.Mutex
		sessionLife
		quota int
		// catchUp is the window while behind (DurableOptions.CatchUpWindow, within the
		// client's Receive Maximum); behind is set when the last read filled the window.
		catchUp int
		behind  bool
		stop    chan struct{}
		// inflight are the deliveries this process sent and awaits acknowledgements for,
		// by packet id. Invariant: a subset of ds's in-flight table.
		inflight map[uint16]delivery
		// queue holds transient deliveries waiting for the window or a connection.
		queue []delivery
		// shared are the in-flight deliveries a durable shared group handed out, by this
		// session's packet id (durable_shared.go): acknowledged, they end the group's entry;
		// when the connection leaves, they go back to the group.
		shared map[uint16]sharedRef
		// stored is the configuration its storage was created with (durableFor), online: the
		// first attach, with that configuration, has nothing more to record.
		stored *sessionConfig
	}
}

var _ Session = (*durableSession)(nil)

func newDurableSession(b *durableBroker, st *durable.Session) *durableSession {
	d := &durableSession{b: b, id: st.ClientID(), created: time.Now(), ds: st, wake: make(chan struct{}, 1)}
	d.mu.inflight = make(map[uint16]delivery)
	d.mu.shared = make(map[uint16]sharedRef)
	return d
}

func (d *durableSession) ClientID() string { return d.id }

// Info implements Session.
func (d *durableSession) Info() SessionInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return SessionInfo{ClientID: d.id, Online: d.mu.conn != nil, Expiry: d.mu.expiry, Inflight: d.ds.InflightLen(),
		Queued: len(d.mu.queue), Created: d.created, Durable: true}
}

// poke wakes the delivery loop without blocking.
func (d *durableSession) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// attach implements Session: it starts serving c, first with the re-sends of a resumed
// session in their original order (PUBREL for released QoS 2, PUBLISH with DUP otherwise)
// [MQTT-4.4.0-1], then with new messages. The expiry and Will of cfg are recorded in storage
// in the same step as in memory, and are durable before the CONNACK goes out (the
// connection's writes are held until then).
func (d *durableSession) attach(c *conn, _ bool, connack *mqtt.Packet, cfg sessionConfig) bool {
	d.fetchMu.Lock()
	defer d.fetchMu.Unlock()
	d.mu.Lock()
	if !d.mu.attachLocked(c, connack, cfg) {
		d.mu.Unlock()
		return false
	}
	if d.mu.stored == nil || *d.mu.stored != cfg {
		d.ds.SetConfig(durableExpiry(cfg.expiry), durableWill(cfg))
		d.ds.SetOnline(true)
	}
	d.mu.stored = nil
	d.stopLocked()
	quota := int(min(c.clientReceiveMax, d.b.srv.opts.MaxInflight))
	d.mu.quota = quota
	d.mu.catchUp = max(quota, min(int(c.clientReceiveMax), d.b.opts.CatchUpWindow))
	d.mu.behind = true // a resumed session may have a backlog; the first short read says no
	stop := make(chan struct{})
	d.mu.stop = stop
	d.mu.Unlock()
	if err := d.ds.Flush(); err != nil {
		d.b.srv.log.Error("storing a durable session failed", "client", d.id, "err", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rep, err := d.ds.Replay(ctx)
	if err != nil {
		d.b.srv.log.Error("reading in-flight messages failed", "client", d.id, "err", err)
		c.close(CauseNetwork)
		return true
	}
	for _, x := range rep {
		switch {
		case x.Released:
			c.sendAck(mqtt.TypePubrel, x.PID, mqtt.Success)
		case x.Transient:
			d.mu.Lock()
			del, ok := d.mu.inflight[x.PID]
			d.mu.Unlock()
			if ok {
				c.sendPublish(del, true)
			} else {
				d.ds.Complete(x.PID)
			}
		default:
			del := d.delivery(&x)
			d.mu.Lock()
			d.mu.inflight[x.PID] = del
			d.mu.Unlock()
			c.sendPublish(del, true)
		}
	}
	go d.run(stop)
	d.b.pokeGroups(d.ds) // this member may take a share now
	return true
}

// detach implements Session: it stops the delivery loop; what is in flight stays for the
// next connection, except the QoS 1 messages of durable shared groups, which go back to their
// group for another member. A QoS 2 one stays with this member [MQTT-4.8.2-4] v5. The session
// is made compact in storage later, unless it is needed again first.
func (d *durableSession) detach(c *conn) (will *Message, end bool) {
	d.mu.Lock()
	if !d.mu.detachLocked(c) {
		d.mu.Unlock()
		return nil, false
	}
	back := d.offlineLocked()
	will, end, evict := d.mu.leftLocked(d.b.srv, d.willTimerFired, d.expiryTimerFired)
	if will != nil {
		d.ds.TakeWill()
	}
	d.ds.SetOnline(false)
	d.mu.Unlock()
	d.giveBack(back)
	if evict {
		d.b.timers.evictLater(d, c)
	}
	return will, end
}

// offlineLocked stops the delivery loop and takes the QoS 1 messages of durable shared groups
// out of the in-flight table, for giveBack.
func (d *durableSession) offlineLocked() map[uint16]sharedRef {
	d.stopLocked()
	d.mu.conn = nil
	back := map[uint16]sharedRef{}
	for pid, ref := range d.mu.shared {
		if x, ok := d.mu.inflight[pid]; ok && x.qos == mqtt.QoS2 {
			continue
		}
		back[pid] = ref
		delete(d.mu.shared, pid)
		delete(d.mu.inflight, pid)
		d.ds.Complete(pid)
	}
	return back
}

// giveBack returns shared group messages to their groups, for another member.
func (d *durableSession) giveBack(back map[uint16]sharedRef) {
	for pid, ref := range back {
		ref.g.giveBack(ref.pid, d.id, pid)
	}
}

// online implements Session.
func (d *durableSession) online() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.conn != nil
}

func (d *durableSession) currentConn() *conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.conn
}

func (d *durableSession) isEnded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.ended
}

func (d *durableSession) expiry() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.expiry
}

// setExpiry implements Session; the new interval is recorded in storage.
func (d *durableSession) setExpiry(e time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.expiry = e
	d.ds.SetExpiry(durableExpiry(e))
}

// expired implements Session: the stored expiry passed at now.
func (d *durableSession) expired(now time.Time) bool { return d.ds.Expired(now) }

// takeWill implements Session; the Will leaves storage too.
func (d *durableSession) takeWill() *Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.mu.takeWillLocked()
	if w != nil {
		d.ds.TakeWill()
	}
	return w
}

// willTimerFired publishes the Will once its delay passed offline. It leaves storage in the
// same step as memory, under the session lock: a reconnect then either comes first and
// cancels the Will (the timer finds a connection) [MQTT-3.1.3-9] v5, or comes after and
// stores its own Will, which this timer can no longer erase.
func (d *durableSession) willTimerFired(gen uint64) {
	d.mu.Lock()
	w := d.mu.timedWillLocked(gen)
	if w != nil {
		d.ds.TakeWill()
	}
	d.mu.Unlock()
	if w != nil {
		d.b.srv.publishWill(w)
	}
}

func (d *durableSession) expiryTimerFired() { d.b.srv.expireSession(d) }

func (d *durableSession) stopTimers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.stopTimersLocked()
}

// markEnded implements Session.
func (d *durableSession) markEnded(idleOnly bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.markEndedLocked(idleOnly)
}

// room returns how many more QoS 1/2 messages the connection's window takes (0 offline).
func (d *durableSession) room() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.conn == nil {
		return 0
	}
	return d.mu.quota - d.ds.InflightLen()
}

// sendShared sends a message of durable shared group g (its packet id gpid) on the attached
// connection, under a packet id of this session; hold is called with that packet id (0 for QoS
// 0) before the PUBLISH is queued. ok is false when no connection is attached or no packet id
// is free.
func (d *durableSession) sendShared(x delivery, gpid uint16, g *sharedGroup, hold func(pid uint16)) (ok bool) {
	d.mu.Lock()
	c := d.mu.conn
	if c == nil {
		d.mu.Unlock()
		return false
	}
	if x.qos > mqtt.QoS0 {
		pid, ok := d.ds.AddTransient(byte(x.qos))
		if !ok {
			d.mu.Unlock()
			return false
		}
		x.pid, x.state = pid, stateSent
		d.mu.inflight[pid] = x
		if gpid != 0 {
			d.mu.shared[pid] = sharedRef{g: g, pid: gpid}
		}
	}
	d.mu.Unlock()
	hold(x.pid)
	c.sendPublish(x, false)
	return true
}

// sharedDone tells the group of a shared message held as pid that the member has it.
func (d *durableSession) sharedDone(pid uint16) {
	d.mu.Lock()
	ref, ok := d.mu.shared[pid]
	delete(d.mu.shared, pid)
	d.mu.Unlock()
	if ok {
		ref.g.acked(ref.pid, d.id, pid)
	}
}

func (d *durableSession) stopLocked() {
	if d.mu.stop != nil {
		close(d.mu.stop)
		d.mu.stop = nil
	}
}

// end implements Session: it deletes the session's state and leaves its durable shared
// groups. A shared QoS 2 message it still holds is not offered to another member
// [MQTT-4.8.2-5] v5.
func (d *durableSession) end(string) {
	d.mu.Lock()
	back := d.offlineLocked()
	d.mu.Unlock()
	d.ds.SetOnline(false)
	d.giveBack(back)
	d.mu.Lock()
	kept := d.mu.shared
	d.mu.shared = map[uint16]sharedRef{}
	d.mu.Unlock()
	for pid, ref := range kept {
		ref.g.acked(ref.pid, d.id, pid)
	}
	for _, sub := range d.ds.Subscriptions() {
		if durable.IsShared(sub.Filter) {
			d.b.leaveGroup(sub.Filter, d.id)
		}
	}
	d.mu.Lock()
	for _, x := range d.mu.queue {
		d.b.srv.dropped(d.id, x.msg, DropSessionEnded)
	}
	d.mu.queue, d.mu.inflight = nil, nil
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.ds.Delete(ctx); err != nil {
		d.b.srv.log.Error("deleting a durable session failed", "client", d.id, "err", err)
	}
}

// run is the delivery loop of one attached connection.
//
// When a read found nothing while the stream list may be stale (commits since the last
// renewal, which Fetch spaces out), it looks again shortly even if no wake comes; otherwise
// the fallback timer makes it look at every stream.
func (d *durableSession) run(stop chan struct{}) {
	t := time.NewTimer(d.b.opts.IdlePollInterval)
	defer t.Stop()
	for {
		renew := d.fill()
		wait := d.b.opts.IdlePollInterval
		if renew {
			wait = renewRetry
		}
		t.Reset(wait)
		select {
		case <-stop:
			return
		case <-d.wake:
		case <-t.C:
			if !renew {
				d.ds.Touch()
			}
		}
	}
}

// fill sends what the window allows: queued transient deliveries first, then messages read
// from storage, until the window is full or nothing is left. renew reports that storage had
// nothing while the stream list may be stale.
//
// Reading is pipelined: a fetched window is sent once its records are durable (a message goes
// out only when a crash would re-send it with DUP and the same packet id), and meanwhile the
// next window is read, so the loop does not stop for every commit. Windows are sent in the
// order they were read. Fetched windows hold packet ids, so the client's window is never
// exceeded [MQTT-3.3.4-9]; those not sent when the connection leaves are in the session's
// in-flight table and re-sent on the next one.
func (d *durableSession) fill() (renew bool) {
	d.fetchMu.Lock()
	defer d.fetchMu.Unlock()
	var pending []*durable.Window // fetched, not yet sent, oldest first
	var empty bool                // storage had nothing the last time it was asked
	for {
		d.mu.Lock()
		c := d.mu.conn
		if c == nil {
			d.mu.Unlock()
			return false
		}
		window := d.mu.quota
		if d.mu.behind {
			window = d.mu.catchUp
		}
		room := window - d.ds.InflightLen()
		sends := d.takeQueuedLocked(&room)
		d.mu.Unlock()
		for _, x := range sends {
			c.sendPublish(x, false)
		}
		for len(pending) > 0 && pending[0].Durable() {
			if !d.sendWindow(c, pending[0]) {
				return false
			}
			pending = pending[1:]
		}
		if room > 0 && !empty {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			w, err := d.ds.FetchWindow(ctx, room)
			cancel()
			if err != nil {
				d.fetchFailed(c, err)
				return false
			}
			d.mu.Lock()
			d.mu.behind = len(w.Deliveries) >= room
			d.mu.Unlock()
			if len(w.Deliveries) > 0 {
				pending = append(pending, w)
				continue
			}
			w.Release()
			empty, renew = true, d.ds.RenewPending()
		}
		if len(pending) == 0 {
			return renew
		}
		if !d.sendWindow(c, pending[0]) {
			return false
		}
		pending = pending[1:]
	}
}

// sendWindow waits until w is durable and sends it on c; false when the commit failed (the
// connection is then closed).
func (d *durableSession) sendWindow(c *conn, w *durable.Window) bool {
	if err := w.Wait(); err != nil {
		d.fetchFailed(c, err)
		return false
	}
	sends := slices.Grow(d.sendBuf[:0], len(w.Deliveries))[:len(w.Deliveries)]
	d.mu.Lock()
	for i := range w.Deliveries {
		sends[i] = d.delivery(&w.Deliveries[i])
		if sends[i].qos > 0 && d.mu.inflight != nil {
			d.mu.inflight[sends[i].pid] = sends[i]
		}
	}
	d.mu.Unlock()
	w.Release() // sends hold all that is needed of the deliveries
	c.sendPublishes(sends)
	clear(sends) // drop the messages: the buffer outlives them
	d.sendBuf = sends[:0]
	return true
}

// fetchFailed closes c after a storage error, unless the session ended meanwhile.
func (d *durableSession) fetchFailed(c *conn, err error) {
	if !errors.Is(err, durable.ErrSessionEnded) {
		d.b.srv.log.Error("reading messages for a durable session failed", "client", d.id, "err", err)
		c.close(CauseNetwork)
	}
}

// takeQueuedLocked takes the queued transient deliveries that fit in room, giving QoS 1/2
// ones a packet id. QoS 0 may pass while the window is full, but not ahead of a waiting QoS 1/2
// message (order).
func (d *durableSession) takeQueuedLocked(room *int) []delivery {
	var out []delivery
	now := time.Now()
	n := 0
	for ; n < len(d.mu.queue); n++ {
		x := d.mu.queue[n]
		if x.qos > mqtt.QoS0 && *room <= 0 {
			break
		}
		d.mu.queue[n] = delivery{}
		if x.msg.expired(now) {
			d.b.srv.dropped(d.id, x.msg, DropExpired)
			continue
		}
		if x.qos > mqtt.QoS0 {
			pid, ok := d.ds.AddTransient(byte(x.qos))
			if !ok {
				break
			}
			x.pid, x.state = pid, stateSent
			d.mu.inflight[pid] = x
			*room--
		}
		out = append(out, x)
	}
	d.mu.queue = d.mu.queue[n:]
	return out
}

// delivery turns a stored message into the broker's delivery.
func (d *durableSession) delivery(x *durable.Delivery) delivery {
	created := time.UnixMicro(int64(x.Message.Timestamp))
	return delivery{msg: messageFromDS(&x.Message.Message, created), qos: mqtt.QoS(x.QoS), retain: x.Retain,
		subIDs: x.SubIDs, pid: x.PID, state: stateSent}
}

// routed implements Session: the message is in storage already; the delivery loop reads it.
func (d *durableSession) routed(*Message, *subscriptions.Subscriber, bool) bool {
	d.poke()
	return false
}

// awaitDrain implements Session: a durable session's backlog waits in storage, not in
// memory, so publishers never wait for it.
func (d *durableSession) awaitDrain() bool { return false }

func (d *durableSession) flowProgress() {}

// deliver implements Session for a transient delivery (not read from storage).
func (d *durableSession) deliver(x delivery) bool {
	srv := d.b.srv
	d.mu.Lock()
	if x.qos == mqtt.QoS0 && d.mu.conn != nil && len(d.mu.queue) == 0 {
		c := d.mu.conn
		d.mu.Unlock()
		c.sendPublish(x, false)
		return false
	}
	if x.qos == mqtt.QoS0 && d.mu.conn == nil && !srv.opts.QueueQoS0 {
		d.mu.Unlock()
		srv.dropped(d.id, x.msg, DropOfflineQoS0)
		return false
	}
	if len(d.mu.queue) >= srv.opts.MaxQueued {
		if srv.opts.DropPolicy == DropNewest || len(d.mu.queue) == 0 {
			d.mu.Unlock()
			srv.dropped(d.id, x.msg, DropQueueFull)
			return false
		}
		srv.dropped(d.id, d.mu.queue[0].msg, DropQueueFull)
		d.mu.queue = d.mu.queue[1:]
	}
	d.mu.queue = append(d.mu.queue, x)
	d.mu.Unlock()
	d.poke()
	return false
}

// complete ends the delivery holding pid if it has the QoS and state the acknowledgement
// expects, and refills the window.
func (d *durableSession) complete(pid uint16, qos mqtt.QoS, released, acked bool) bool {
	state, q, ok := d.ds.InflightState(pid)
	if !ok || mqtt.QoS(q) != qos || (released && state != durable.StateReleased) {
		return false
	}
	d.ds.Complete(pid)
	d.sharedDone(pid)
	d.mu.Lock()
	x, had := d.mu.inflight[pid]
	delete(d.mu.inflight, pid)
	d.mu.Unlock()
	if acked && had {
		d.b.srv.acked(d.id, x.msg)
	}
	d.poke()
	return true
}

// puback: QoS 1 done [MQTT-4.3.2-3]; a failure code ends the wait too [MQTT-4.4.0-2].
func (d *durableSession) puback(pid uint16, code mqtt.ReasonCode) {
	d.complete(pid, mqtt.QoS1, false, !code.IsError())
}

// pubrec: the QoS 2 message is received; its release is durable before PUBREL goes out.
func (d *durableSession) pubrec(pid uint16, code mqtt.ReasonCode) bool {
	if code.IsError() {
		return d.complete(pid, mqtt.QoS2, false, false)
	}
	_, q, ok := d.ds.InflightState(pid)
	if !ok || q != 2 {
		return false
	}
	known, err := d.ds.Pubrec(pid)
	if known && err == nil {
		d.sharedDone(pid) // from now on it stays with this member [MQTT-4.8.2-4] v5
	}
	if err != nil {
		d.b.srv.log.Error("storing PUBREC failed", "client", d.id, "err", err)
		if c := d.currentConn(); c != nil {
			c.close(CauseNetwork)
		}
	}
	return known
}

// pubcomp: QoS 2 done [MQTT-4.3.3-5].
func (d *durableSession) pubcomp(pid uint16) {
	d.complete(pid, mqtt.QoS2, true, true)
}

// dropInflight forgets a delivery too large for the client, as if delivered [MQTT-3.1.2-25].
func (d *durableSession) dropInflight(pid uint16) {
	if _, q, ok := d.ds.InflightState(pid); ok {
		d.complete(pid, mqtt.QoS(q), false, false)
	}
}

// received: inbound QoS 2 de-duplication [MQTT-4.3.3-10], durable with the message.
func (d *durableSession) received(pid uint16, limit int) (dup, full bool) {
	o := d.b.srv.opts
	if d.ds.AwaitingRelLen() >= o.MaxAwaitingRel/2 {
		d.ds.ExpireInbound(time.Now().Add(-o.AwaitRelTimeout))
	}
	return d.ds.Received(pid, limit)
}

// release implements Session: PUBREL frees the packet id [MQTT-4.3.3-11] v5.
func (d *durableSession) release(pid uint16) bool { return d.ds.ReleaseInbound(pid) }

func (d *durableSession) awaitingRelLen() int { return d.ds.AwaitingRelLen() }

// subscribed implements Session: the subscription is recorded durably, before the SUBACK. A
// shared subscription is recorded under its canonical shared filter and makes the session a
// member of the durable group (durable_shared.go).
func (d *durableSession) subscribed(f topic.Filter, o subscriptions.Options) error {
	sub := durable.Subscription{Filter: f.String(), QoS: o.QoS, NoLocal: o.NoLocal,
		RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling, SubscriptionID: o.SubscriptionID}
	_, err := d.ds.Subscribe(sub)
	if err == nil && f.Shared() {
		err = d.b.joinGroup(f, memberOf(d.id, sub))
	}
	if err == nil {
		d.poke()
	}
	return err
}

// unsubscribed implements Session: the durable subscription goes (and a shared one's group
// membership).
func (d *durableSession) unsubscribed(filter string) {
	f, err := topic.ParseFilter(filter)
	if err == nil {
		filter = f.String()
	}
	if _, err := d.ds.Unsubscribe(filter); err != nil {
		d.b.srv.log.Error("removing a durable subscription", "client", d.id, "filter", filter, "err", err)
	}
	if durable.IsShared(filter) {
		d.b.leaveGroup(filter, d.id)
	}
}

// evictableLocked reports that the session holds nothing in memory alone: no connection, no
// queued transient delivery, no message of a shared group; and that it outlives connections.
func (d *durableSession) evictableLocked() bool {
	return d.mu.conn == nil && !d.mu.ended && d.mu.expiry != 0 && len(d.mu.queue) == 0 && len(d.mu.shared) == 0
}
