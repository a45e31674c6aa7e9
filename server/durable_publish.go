package server

// The durable publish path: a client's PUBLISH is written to storage when a durable
// subscription matches, and routed and acknowledged once the write is durable, in arrival
// order.

import (
	"context"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/durable"
)

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
