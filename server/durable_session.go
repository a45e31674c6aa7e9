package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/durable"
)

// durableSession is the durable side of a memSession whose state lives in storage. The
// memSession keeps what belongs to the connection (its conn, expiry and Will timers, take-over);
// the durableSession keeps the packet ids and messages, in a durable.Session, and runs a
// delivery loop while a connection is attached: it reads new messages from storage when one
// for it has been stored (routing pokes it after the commit), when an acknowledgement frees the
// window, and on a slow fallback timer, never more than the window allows [MQTT-3.3.4-9]. An
// idle session is never woken by other sessions' traffic.
//
// Messages that are not read from the session's own streams (retained messages on SUBSCRIBE,
// messages of durable shared groups) are "transient": they take packet ids from the same
// table, so ids never collide, but are not re-sent after a restart. A shared group keeps its
// own durable record of what it handed out (durable_shared.go).
type durableSession struct {
	b    *durableBroker
	mem  *memSession
	ds   *durable.Session
	wake chan struct{}

	// fetchMu is held while messages are read and handed to a connection, and while a resumed
	// connection gets its re-sends, so that the two never interleave and every message read
	// is either sent on the current connection or re-sent on the next.
	fetchMu sync.Mutex
	// sendBuf is reused by sendWindow for the deliveries of one window; guarded by fetchMu.
	sendBuf []delivery

	mu struct {
		sync.Mutex
		conn  *conn
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
	}
}

func newDurableSession(b *durableBroker, mem *memSession, st *durable.Session) *durableSession {
	d := &durableSession{b: b, mem: mem, ds: st, wake: make(chan struct{}, 1)}
	d.mu.inflight = make(map[uint16]delivery)
	d.mu.shared = make(map[uint16]sharedRef)
	return d
}

// poke wakes the delivery loop without blocking.
func (d *durableSession) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// attach starts serving c: first the re-sends of a resumed session in their original order
// (PUBREL for released QoS 2, PUBLISH with DUP otherwise) [MQTT-4.4.0-1], then new messages.
func (d *durableSession) attach(c *conn, quota int) {
	d.fetchMu.Lock()
	defer d.fetchMu.Unlock()
	d.mu.Lock()
	d.stopLocked()
	d.mu.conn, d.mu.quota = c, quota
	d.mu.catchUp = max(quota, min(int(c.clientReceiveMax), d.b.opts.CatchUpWindow))
	d.mu.behind = true // a resumed session may have a backlog; the first short read says no
	stop := make(chan struct{})
	d.mu.stop = stop
	d.mu.Unlock()
	d.ds.SetOnline(true)

	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rep, err := d.ds.Replay(ctx)
	if err != nil {
		d.b.srv.log.Error("reading in-flight messages failed", "client", d.mem.id, "err", err)
		c.close(CauseNetwork)
		return
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
}

// detach stops the delivery loop; what is in flight stays for the next connection, except
// the QoS 1 messages of durable shared groups, which go back to their group for another
// member. A QoS 2 one stays with this member [MQTT-4.8.2-4] v5.
func (d *durableSession) detach() {
	d.mu.Lock()
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
	d.mu.Unlock()
	d.ds.SetOnline(false)
	for pid, ref := range back {
		ref.g.giveBack(ref.pid, d.mem.id, pid)
	}
}

// attached reports whether a connection is attached.
func (d *durableSession) attached() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.conn != nil
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
		ref.g.acked(ref.pid, d.mem.id, pid)
	}
}

func (d *durableSession) stopLocked() {
	if d.mu.stop != nil {
		close(d.mu.stop)
		d.mu.stop = nil
	}
}

// end deletes the session's state and leaves its durable shared groups. A shared QoS 2
// message it still holds is not offered to another member [MQTT-4.8.2-5] v5.
func (d *durableSession) end() {
	d.detach()
	d.mu.Lock()
	kept := d.mu.shared
	d.mu.shared = map[uint16]sharedRef{}
	d.mu.Unlock()
	for pid, ref := range kept {
		ref.g.acked(ref.pid, d.mem.id, pid)
	}
	for _, sub := range d.ds.Subscriptions() {
		if durable.IsShared(sub.Filter) {
			d.b.leaveGroup(sub.Filter, d.mem.id)
		}
	}
	d.mu.Lock()
	for _, x := range d.mu.queue {
		d.b.srv.dropped(d.mem.id, x.msg, DropSessionEnded)
	}
	d.mu.queue, d.mu.inflight = nil, nil
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.ds.Delete(ctx); err != nil {
		d.b.srv.log.Error("deleting a durable session failed", "client", d.mem.id, "err", err)
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
		d.b.srv.log.Error("reading messages for a durable session failed", "client", d.mem.id, "err", err)
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
			d.b.srv.dropped(d.mem.id, x.msg, DropExpired)
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

// deliver takes a transient delivery (not read from storage).
func (d *durableSession) deliver(x delivery) {
	srv := d.b.srv
	d.mu.Lock()
	if x.qos == mqtt.QoS0 && d.mu.conn != nil && len(d.mu.queue) == 0 {
		c := d.mu.conn
		d.mu.Unlock()
		c.sendPublish(x, false)
		return
	}
	if x.qos == mqtt.QoS0 && d.mu.conn == nil && !srv.opts.QueueQoS0 {
		d.mu.Unlock()
		srv.dropped(d.mem.id, x.msg, DropOfflineQoS0)
		return
	}
	if len(d.mu.queue) >= srv.opts.MaxQueued {
		if srv.opts.DropPolicy == DropNewest || len(d.mu.queue) == 0 {
			d.mu.Unlock()
			srv.dropped(d.mem.id, x.msg, DropQueueFull)
			return
		}
		srv.dropped(d.mem.id, d.mu.queue[0].msg, DropQueueFull)
		d.mu.queue = d.mu.queue[1:]
	}
	d.mu.queue = append(d.mu.queue, x)
	d.mu.Unlock()
	d.poke()
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
		d.b.srv.acked(d.mem.id, x.msg)
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
		d.b.srv.log.Error("storing PUBREC failed", "client", d.mem.id, "err", err)
		if c := d.mem.currentConn(); c != nil {
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

// info completes a session's API description.
func (d *durableSession) info(i *SessionInfo) {
	i.Durable = true
	i.Inflight = d.ds.InflightLen()
	d.mu.Lock()
	i.Queued = len(d.mu.queue)
	d.mu.Unlock()
}
