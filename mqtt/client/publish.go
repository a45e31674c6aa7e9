package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mqttds/mqttds/mqtt"
)

// Publish sends one message. It returns once the PUBLISH is queued for the writer (payload is
// copied, so the caller may reuse it at once). At QoS 1 and 2 it first waits, as long as ctx allows,
// for room in the in-flight window.
//
// done, if not nil, reports the outcome exactly once, on the reader goroutine: nil when the broker
// acknowledged the message (PUBACK, or PUBCOMP at QoS 2; at QoS 0, right after queueing), a
// reason-code error if it refused it, or the connection's error if the connection ended first. If
// Publish itself returns an error, the message was not sent and done is not called.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, qos mqtt.QoS, retain bool, done func(error)) error {
	p := mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, Payload: payload, QoS: qos, Retain: retain}
	if qos == mqtt.QoS0 {
		if err := c.send(ctx, &p); err != nil {
			return err
		}
		if done != nil {
			done(nil)
		}
		return nil
	}
	if qos > mqtt.QoS2 {
		return fmt.Errorf("client: QoS %d", qos)
	}
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
	kind := kindQoS1
	if qos == mqtt.QoS2 {
		kind = kindQoS2
	}
	id, err := c.out.add(pending{kind: kind, done: done})
	if err != nil {
		<-c.window
		return err
	}
	p.PacketID = id
	if err := c.send(ctx, &p); err != nil {
		if _, ok := c.out.take(id, kind); ok {
			<-c.window
			return err
		}
		// The connection ended and its cleanup already reported the message to done.
	}
	return nil
}

// acked settles a publish on PUBACK, PUBREC or PUBCOMP.
func (c *Client) acked(p *mqtt.Packet) error {
	switch p.Type {
	case mqtt.TypePuback:
		pd, ok := c.out.take(p.PacketID, kindQoS1)
		if !ok {
			return fmt.Errorf("client: PUBACK for packet id %d, which is not a QoS 1 publish in flight", p.PacketID)
		}
		c.finish(pd, p.ReasonCode)
	case mqtt.TypePubrec:
		if p.ReasonCode.IsError() {
			pd, ok := c.out.take(p.PacketID, kindQoS2)
			if !ok {
				return fmt.Errorf("client: PUBREC for packet id %d, which is not a QoS 2 publish in flight", p.PacketID)
			}
			c.finish(pd, p.ReasonCode)
			return nil
		}
		if !c.out.release(p.PacketID) {
			return fmt.Errorf("client: PUBREC for packet id %d, which is not a QoS 2 publish in flight", p.PacketID)
		}
		return c.sendControl(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: p.PacketID})
	case mqtt.TypePubcomp:
		pd, ok := c.out.take(p.PacketID, kindReleased)
		if !ok {
			return fmt.Errorf("client: PUBCOMP for packet id %d, which is not a released QoS 2 publish", p.PacketID)
		}
		c.finish(pd, p.ReasonCode)
	}
	return nil
}

// finish frees the window slot and reports the outcome.
func (c *Client) finish(pd pending, code mqtt.ReasonCode) {
	<-c.window
	if pd.done == nil {
		return
	}
	if code.IsError() {
		pd.done(fmt.Errorf("client: broker refused the message: %w", code))
		return
	}
	pd.done(nil)
}

// Subscribe sends one SUBSCRIBE with the given subscriptions and returns the SUBACK's reason codes,
// one per subscription (granted QoS, or a failure code: check each with IsError).
func (c *Client) Subscribe(ctx context.Context, subs ...mqtt.Subscription) ([]mqtt.ReasonCode, error) {
	if len(subs) == 0 {
		return nil, errors.New("client: Subscribe needs at least one subscription")
	}
	ack, err := c.request(ctx, &mqtt.Packet{Type: mqtt.TypeSubscribe, Subscriptions: subs})
	return ack.ReasonCodes, err
}

// Unsubscribe sends one UNSUBSCRIBE. In MQTT 5 it returns the UNSUBACK's reason codes; MQTT 3.1.1
// has none, and the result is nil.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) ([]mqtt.ReasonCode, error) {
	if len(filters) == 0 {
		return nil, errors.New("client: Unsubscribe needs at least one filter")
	}
	ack, err := c.request(ctx, &mqtt.Packet{Type: mqtt.TypeUnsubscribe, Filters: filters})
	return ack.ReasonCodes, err
}

// request sends a SUBSCRIBE or UNSUBSCRIBE and waits for its acknowledgement.
func (c *Client) request(ctx context.Context, p *mqtt.Packet) (mqtt.Packet, error) {
	reply := make(chan mqtt.Packet, 1)
	id, err := c.out.add(pending{kind: kindRequest, reply: reply})
	if err != nil {
		return mqtt.Packet{}, err
	}
	p.PacketID = id
	if err := c.send(ctx, p); err != nil {
		c.out.take(id, kindRequest)
		return mqtt.Packet{}, err
	}
	select {
	case ack := <-reply:
		return ack, nil
	case <-ctx.Done():
		c.out.take(id, kindRequest)
		return mqtt.Packet{}, ctx.Err()
	case <-c.done:
		return mqtt.Packet{}, c.Err()
	}
}

// settleRequest hands a SUBACK or UNSUBACK to its waiting request. The reason codes are copied: the
// packet aliases the reader's buffer.
func (c *Client) settleRequest(p *mqtt.Packet) error {
	pd, ok := c.out.take(p.PacketID, kindRequest)
	if !ok {
		// The request gave up (its context ended); the late answer is harmless.
		return nil
	}
	pd.reply <- mqtt.Packet{Type: p.Type, PacketID: p.PacketID, ReasonCodes: append([]mqtt.ReasonCode(nil), p.ReasonCodes...)}
	return nil
}

// pendingKind is the state of one packet id in use.
type pendingKind uint8

const (
	kindQoS1     pendingKind = iota + 1 // PUBLISH QoS 1 sent; waiting for PUBACK
	kindQoS2                            // PUBLISH QoS 2 sent; waiting for PUBREC
	kindReleased                        // PUBREL sent; waiting for PUBCOMP
	kindRequest                         // SUBSCRIBE or UNSUBSCRIBE sent; waiting for its ack
)

type pending struct {
	kind  pendingKind
	done  func(error)      // publishes
	reply chan mqtt.Packet // requests
}

// outbound is the packet-id table of everything the client sent and waits an answer for.
type outbound struct {
	mu struct {
		sync.Mutex
		// Invariant: every id in pending is in [1, 65535] and unique, so the broker never sees an
		// id reused while it is in flight [MQTT-2.2.1-3].
		pending map[uint16]pending // by value: no allocation per publish
		last    uint16             // the id handed out last; the search for a free one starts after it
		err     error              // set when the connection ended: no new ids
	}
}

func (o *outbound) init() { o.mu.pending = map[uint16]pending{} }

// add assigns a free packet id to pd.
func (o *outbound) add(pd pending) (uint16, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.mu.err != nil {
		return 0, o.mu.err
	}
	for range 65535 {
		o.mu.last++
		if o.mu.last == 0 {
			o.mu.last = 1
		}
		if _, used := o.mu.pending[o.mu.last]; !used {
			o.mu.pending[o.mu.last] = pd
			return o.mu.last, nil
		}
	}
	return 0, errors.New("client: all 65535 packet ids are in use")
}

// take removes and returns the entry for id if it is of the given kind.
func (o *outbound) take(id uint16, kind pendingKind) (pending, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	pd, ok := o.mu.pending[id]
	if !ok || pd.kind != kind {
		return pending{}, false
	}
	delete(o.mu.pending, id)
	return pd, true
}

// release moves a QoS 2 publish from "sent" to "released" (PUBREC received, PUBREL going out).
func (o *outbound) release(id uint16) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	pd, ok := o.mu.pending[id]
	if !ok || pd.kind != kindQoS2 {
		return false
	}
	pd.kind = kindReleased
	o.mu.pending[id] = pd
	return true
}

// failAll ends the table: every publish still waiting learns err, and no id is handed out again.
func (o *outbound) failAll(err error) {
	o.mu.Lock()
	o.mu.err = err
	all := o.mu.pending
	o.mu.pending = map[uint16]pending{}
	o.mu.Unlock()
	for _, pd := range all {
		if pd.done != nil {
			pd.done(err)
		}
	}
}
