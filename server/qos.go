package server

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/auth"
)

// onPublish handles an inbound PUBLISH: resolve the topic alias, check the
// topic and the flow-control limits, authorize, route to every matching
// session, and only then acknowledge [MQTT-4.5.0-1] v5. Routing hands the
// message to each session synchronously, so a PUBACK or PUBREC never goes
// out before the message reached all of them.
func (c *conn) onPublish(p *mqtt.Packet) error {
	s := c.srv
	// 1. Topic alias [MQTT-3.3.2-12] v5.
	if err := c.resolveAlias(p); err != nil {
		return err
	}
	// 2. The topic and the properties a client may not send.
	if err := s.topics.ValidateName(p.Topic); err != nil {
		return &mqtt.Error{Code: mqtt.TopicNameInvalid, Rule: "MQTT-3.3.2-2", Version: c.version, Type: p.Type,
			Detail: err.Error()}
	}
	if len(p.Properties.SubscriptionIDs) > 0 {
		return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT-3.3.4-6", Version: c.version, Type: p.Type,
			Detail: "subscription identifier in a client PUBLISH"}
	}
	if p.Retain && s.opts.RetainNotAvailable {
		return &mqtt.Error{Code: mqtt.RetainNotSupported, Rule: "MQTT5 §3.3.1.3", Version: c.version, Type: p.Type,
			Detail: "retain is not available"}
	}
	// 3. A payload that says it is UTF-8 and is not (MQTT5 §3.3.2.3.2):
	// refused with 0x99, and not routed, so no subscriber receives a
	// Payload Format Indicator [MQTT-3.3.2-4] v5 its payload contradicts.
	// QoS 0 has no acknowledgement to carry the code, so it gets DISCONNECT.
	if !c.payloadFormatValid(p.Properties.PayloadFormat, p.Payload) {
		if p.QoS == mqtt.QoS0 {
			return &mqtt.Error{Code: mqtt.PayloadFormatInvalid, Rule: "MQTT5 §3.3.2.3.2", Version: c.version,
				Type: p.Type, Detail: "payload format indicator 1 with a payload that is not UTF-8"}
		}
		s.log.Info("publish refused: payload is not UTF-8", "client", c.clientID, "topic", p.Topic)
		c.ackPublish(p, mqtt.PayloadFormatInvalid)
		return nil
	}
	// 4. QoS 2: a re-sent PUBLISH still waiting for PUBREL is acknowledged
	// again but not routed again [MQTT-4.3.3-10] v5; more unreleased than
	// our Receive Maximum is an error (MQTT5 §3.3.4).
	if p.QoS == mqtt.QoS2 {
		limit := s.opts.MaxAwaitingRel
		if c.version == mqtt.V5 {
			limit = min(limit, int(s.opts.ReceiveMaximum))
		}
		dup, full := c.sess.received(p.PacketID, limit)
		if full {
			return &mqtt.Error{Code: mqtt.ReceiveMaximumExceeded, Rule: "MQTT5 §3.3.4", Version: c.version,
				Type: p.Type, Detail: "more QoS 2 messages awaiting PUBREL than the Receive Maximum"}
		}
		if dup {
			c.sendAck(mqtt.TypePubrec, p.PacketID, mqtt.Success)
			return nil
		}
	}
	// 5. Authorization. Refused: QoS 0 is dropped and logged, QoS 1/2 get
	// 0x87 (v5). A 3.x client cannot be told [MQTT-3.3.5-2] v3.1.1, so it
	// gets a normal acknowledgement and the message goes nowhere.
	if !c.mayPublish(p.Topic) {
		s.log.Info("publish denied", "client", c.clientID, "user", c.username, "topic", p.Topic)
		m := messageFromPublish(p, c.clientID, time.Now())
		s.dropped(c.clientID, m, DropNotAuthorized)
		c.ackPublish(p, mqtt.NotAuthorized)
		return nil
	}
	// 6. Store (for durable subscribers), route, then acknowledge. A message
	// being stored is routed and acknowledged when its write is durable.
	m := messageFromPublish(p, c.clientID, time.Now())
	rt := s.match(m)
	if done, err := c.persistDurable(m, p, &rt); done || err != nil {
		return err
	}
	c.routeAndAck(m, p, &rt)
	return nil
}

// routeAndAck routes an accepted PUBLISH along rt and acknowledges it. Should a
// recipient be backed up, it first waits for that session to drain
// (flow.go): on the reader goroutine the acknowledgement and the next read
// wait with it, which is what pushes back on the publisher.
func (c *conn) routeAndAck(m *Message, p *mqtt.Packet, rt *routes) {
	s := c.srv
	s.stats.messagesReceived.Add(1)
	s.hooks.messagePublish(c.info(), m)
	code := mqtt.Success
	n, backed := s.routeFlow(m, rt)
	if n == 0 && c.version == mqtt.V5 {
		code = mqtt.NoMatchingSubscribers
	}
	c.throttle(backed)
	c.ackPublish(p, code)
}

// ackPublish answers a PUBLISH as its QoS requires [MQTT-3.3.4-1] v5.
func (c *conn) ackPublish(p *mqtt.Packet, code mqtt.ReasonCode) {
	if c.version != mqtt.V5 && code.IsError() {
		code = mqtt.Success
	}
	switch p.QoS {
	case mqtt.QoS1:
		c.sendAck(mqtt.TypePuback, p.PacketID, code) // [MQTT-4.3.2-4] v5
	case mqtt.QoS2:
		if code.IsError() {
			// After a failing PUBREC the id is free again [MQTT-4.3.3-9] v5.
			c.sess.release(p.PacketID)
		}
		c.sendAck(mqtt.TypePubrec, p.PacketID, code) // [MQTT-4.3.3-8] v5
	}
}

// payloadFormatValid reports whether a payload agrees with its Payload
// Format Indicator: with indicator 1 it must be UTF-8 (MQTT5 §3.3.2.3.2),
// unless NoPayloadFormatCheck is set. Only MQTT 5 packets carry one.
func (c *conn) payloadFormatValid(indicator byte, payload []byte) bool {
	return indicator != 1 || c.srv.opts.NoPayloadFormatCheck || utf8.Valid(payload)
}

// mayPublish asks the Authorizer. Clients never publish into $SYS: those
// topics are the broker's own (MQTT5 §4.7.2 recommends it).
func (c *conn) mayPublish(name string) bool {
	if strings.HasPrefix(name, "$SYS/") || name == "$SYS" {
		return false
	}
	return c.authorize(auth.Publish, name)
}

// authorize asks the configured Authorizer; an error refuses.
func (c *conn) authorize(act auth.Action, topicOrFilter string) bool {
	az := c.srv.opts.Authorizer
	if az == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id := auth.Identity{ClientID: c.clientID, Username: c.username, Addr: addrPort(c.remote).Addr()}
	ok, err := az.Authorize(ctx, id, act, topicOrFilter)
	if err != nil {
		c.srv.log.Error("authorization backend failed", "client", c.clientID, "err", err)
		return false
	}
	return ok
}

// resolveAlias maps an inbound Topic Alias to its topic, or records a new
// mapping. Aliases belong to this connection only [MQTT-3.3.2-7] v5.
func (c *conn) resolveAlias(p *mqtt.Packet) error {
	a := p.Properties.TopicAlias
	if a == 0 {
		return nil
	}
	if max := c.srv.opts.TopicAliasMaximum; max <= 0 || int(a) > max {
		return &mqtt.Error{Code: mqtt.TopicAliasInvalid, Rule: "MQTT-3.2.2-17", Version: c.version, Type: p.Type,
			Detail: "topic alias above the server's Topic Alias Maximum"}
	}
	if p.Topic != "" {
		if c.aliasIn == nil {
			c.aliasIn = make(map[uint16]string)
		}
		c.aliasIn[a] = p.Topic
		return nil
	}
	t, ok := c.aliasIn[a]
	if !ok {
		return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT5 §3.3.2.3.4", Version: c.version, Type: p.Type,
			Detail: "topic alias with no topic mapped"}
	}
	p.Topic = t
	return nil
}

// onPubrec: the client received our QoS 2 PUBLISH; release it with PUBREL
// [MQTT-4.3.3-4] v5, or 0x92 if we know no such packet id.
func (c *conn) onPubrec(p *mqtt.Packet) {
	known := c.sess.pubrec(p.PacketID, p.ReasonCode)
	switch {
	case p.ReasonCode.IsError():
		// The exchange ends here [MQTT-4.4.0-2] v5.
	case known || c.version != mqtt.V5:
		c.sendAck(mqtt.TypePubrel, p.PacketID, mqtt.Success)
	default:
		c.sendAck(mqtt.TypePubrel, p.PacketID, mqtt.PacketIdentifierNotFound)
	}
}

// onPubrel: the client releases a QoS 2 message; answer PUBCOMP
// [MQTT-4.3.3-11] v5, with 0x92 for an id we do not hold.
func (c *conn) onPubrel(p *mqtt.Packet) {
	code := mqtt.Success
	if !c.sess.release(p.PacketID) && c.version == mqtt.V5 {
		code = mqtt.PacketIdentifierNotFound
	}
	c.sendAck(mqtt.TypePubcomp, p.PacketID, code)
}
