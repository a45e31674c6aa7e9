package server

import (
	"errors"
	"strings"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// onSubscribe handles SUBSCRIBE: each filter is processed as if it came in
// its own SUBSCRIBE, and one SUBACK answers them all [MQTT-3.8.4-5] v5. The
// retained messages the new subscriptions ask for follow the SUBACK.
func (c *conn) onSubscribe(p *mqtt.Packet) error {
	c.srv.hooks.clientSubscribe(c.info(), p.Subscriptions)
	var subID uint32
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		subID = ids[0]
	}
	codes := make([]mqtt.ReasonCode, len(p.Subscriptions))
	var retained []delivery
	for i, sub := range p.Subscriptions {
		code, r, err := c.subscribe(sub, subID)
		if err != nil {
			return err
		}
		codes[i] = code
		retained = append(retained, r...)
	}
	// [MQTT-3.8.4-1], [MQTT-3.8.4-2], [MQTT-3.8.4-6] v5
	c.sendPacket(&mqtt.Packet{Type: mqtt.TypeSuback, PacketID: p.PacketID, ReasonCodes: codes}, false)
	for _, d := range retained {
		c.sess.deliver(d)
	}
	return nil
}

// subscribe adds one subscription and returns the SUBACK code and the
// retained messages to send for it. An error is a protocol error that ends
// the connection.
func (c *conn) subscribe(sub mqtt.Subscription, subID uint32) (mqtt.ReasonCode, []delivery, error) {
	s := c.srv
	fail := func(code mqtt.ReasonCode) (mqtt.ReasonCode, []delivery, error) {
		if c.version != mqtt.V5 {
			code = mqtt.UnspecifiedError // 3.1.1 has one failure code, 0x80
		}
		return code, nil, nil
	}
	// 1. The filter and what this broker supports.
	f, err := s.topics.ParseFilter(sub.Filter)
	switch {
	case err != nil:
		return fail(mqtt.TopicFilterInvalid)
	case s.opts.WildcardNotAvailable && topic.HasWildcard(f.Filter):
		return fail(mqtt.WildcardSubscriptionsNotSupported) // [MQTT-3.8.3-2] v3.1.1
	case s.opts.SharedNotAvailable && f.Shared():
		return fail(mqtt.SharedSubscriptionsNotSupported)
	}
	// 2. Limits and authorization.
	if s.subscriptionLimitReached(c.clientID, f.String()) {
		return fail(mqtt.QuotaExceeded)
	}
	if !c.authorize(auth.Subscribe, f.Filter) {
		s.log.Info("subscribe denied", "client", c.clientID, "user", c.username, "filter", sub.Filter)
		return fail(mqtt.NotAuthorized)
	}
	// 3. The index. An identical filter replaces the old subscription
	// [MQTT-3.8.4-3] v5.
	opts := subscriptions.Options{QoS: byte(sub.QoS), NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
		RetainHandling: sub.RetainHandling, SubscriptionID: subID}
	replaced, err := s.subs.Add(c.clientID, sub.Filter, opts)
	if err != nil {
		if errors.Is(err, subscriptions.ErrNoLocalShared) {
			return 0, nil, &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT-3.8.3-4", Version: c.version,
				Type: mqtt.TypeSubscribe, Detail: "no local on a shared subscription"}
		}
		return fail(mqtt.TopicFilterInvalid)
	}
	if err := c.sess.subscribed(f, opts); err != nil {
		s.log.Error("storing a durable subscription failed", "client", c.clientID, "filter", sub.Filter, "err", err)
		s.subs.Remove(c.clientID, sub.Filter)
		return fail(mqtt.ImplementationSpecificError)
	}
	s.hooks.sessionSubscribed(c.clientID, sub)
	// 4. Retained messages: none for a shared subscription (MQTT5 §4.8.2);
	// otherwise per Retain Handling [MQTT-3.3.1-9..11] v5. 3.1.1 always
	// sends them [MQTT-3.3.1-6] v3.1.1.
	if f.Shared() || s.opts.RetainNotAvailable || sub.RetainHandling == 2 || (sub.RetainHandling == 1 && replaced) {
		return mqtt.ReasonCode(sub.QoS), nil, nil
	}
	return mqtt.ReasonCode(sub.QoS), s.retainedFor(f.Filter, sub.QoS, subID), nil
}

// retainedFor returns deliveries of the retained messages matching filter,
// with RETAIN set [MQTT-3.3.1-8] v3.1.1 and the subscription's identifier.
func (s *Server) retainedFor(filter string, granted mqtt.QoS, subID uint32) []delivery {
	msgs, err := s.opts.Retained.Match(filter, time.Now(), nil)
	if err != nil {
		s.log.Error("retained store failed", "filter", filter, "err", err)
		return nil
	}
	var ids []uint32
	if subID != 0 {
		ids = []uint32{subID}
	}
	out := make([]delivery, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, delivery{msg: m, qos: min(m.QoS, granted), retain: true, subIDs: ids})
	}
	return out
}

// onUnsubscribe removes subscriptions; UNSUBACK says for each whether it
// existed (MQTT5 §3.11.3).
func (c *conn) onUnsubscribe(p *mqtt.Packet) error {
	c.srv.hooks.clientUnsubscribe(c.info(), p.Filters)
	codes := make([]mqtt.ReasonCode, len(p.Filters))
	for i, f := range p.Filters {
		if c.srv.subs.Remove(c.clientID, f) {
			c.sess.unsubscribed(f)
			c.srv.hooks.sessionUnsubscribed(c.clientID, f)
		} else {
			codes[i] = mqtt.NoSubscriptionExisted
		}
	}
	c.sendPacket(&mqtt.Packet{Type: mqtt.TypeUnsuback, PacketID: p.PacketID, ReasonCodes: codes}, false)
	return nil
}

// autoSubscribe makes the configured subscriptions for this client, with
// %c replaced by the client id and %u by the username. An entry whose
// placeholder would be empty is skipped, so an anonymous client never gets a
// subscription meant for a named user.
func (c *conn) autoSubscribe() {
	for _, a := range c.srv.opts.AutoSubscriptions {
		filter := a.Filter
		if strings.Contains(filter, "%u") {
			if c.username == "" {
				continue
			}
			filter = strings.ReplaceAll(filter, "%u", c.username)
		}
		filter = strings.ReplaceAll(filter, "%c", c.clientID)
		code, retained, err := c.subscribe(mqtt.Subscription{Filter: filter, QoS: mqtt.QoS(a.QoS)}, 0)
		if err != nil || code.IsError() {
			c.srv.log.Warn("auto subscription refused", "client", c.clientID, "filter", filter, "code", code.String())
			continue
		}
		for _, d := range retained {
			c.sess.deliver(d)
		}
	}
}

// subscriptionLimitReached reports whether a new filter would take clientID
// past MaxSubscriptions; replacing an existing one is always allowed.
func (s *Server) subscriptionLimitReached(clientID, filter string) bool {
	max := s.opts.MaxSubscriptions
	if max <= 0 {
		return false
	}
	subs := s.subs.ClientSubscriptions(clientID, nil)
	if len(subs) < max {
		return false
	}
	for _, x := range subs {
		if x.Filter == filter {
			return false
		}
	}
	return true
}
