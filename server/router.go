package server

import (
	"sync"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// subscriberBufs recycles Match result slices: routing is the hot path and
// one slice per PUBLISH would be most of its garbage.
var subscriberBufs = sync.Pool{New: func() any { s := make([]subscriptions.Subscriber, 0, 16); return &s }}

// routes is where one PUBLISH goes, decided once when it arrives and handed
// down: to durable storage, which stores the message when a durable
// subscription matches, and to routing, which offers it to the sessions
// whose subscriptions match.
type routes struct {
	// subs are the matching subscriptions, in a pooled buffer that
	// routeFlow gives back (release, if the message is not routed).
	subs []subscriptions.Subscriber
	buf  *[]subscriptions.Subscriber
	// durable reports that a durable subscription matches, in the route
	// index of durable storage: that of a compact session too, which the
	// subscription index does not hold.
	durable bool
	// fromPeer marks a message another broker of the cluster published and forwarded
	// (DeliverFromPeer): it is neither retained nor forwarded again; it goes to the
	// non-shared subscribers if plain, and to the shared groups in groups.
	fromPeer bool
	plain    bool
	groups   []string
}

// match computes m's routes.
func (s *Server) match(m *Message) routes {
	buf := subscriberBufs.Get().(*[]subscriptions.Subscriber)
	rt := routes{subs: s.subs.Match(m.Topic, m.Publisher, (*buf)[:0]), buf: buf}
	if s.durable != nil {
		rt.durable = s.durable.store.Routes().Match(m.Topic)
	}
	return rt
}

// release gives the subscriptions' buffer back.
func (rt *routes) release() {
	if rt.buf == nil {
		return
	}
	clear(rt.subs)
	*rt.buf = rt.subs[:0]
	subscriberBufs.Put(rt.buf)
	rt.subs, rt.buf = nil, nil
}

// routeFlow hands m to every session of its routes and returns how many
// received it (at least one when it was stored for compact durable sessions
// only), and a recipient session now backed up beyond the flow-control high
// watermark (nil if none), for a publishing client to wait on (flow.go). It
// never blocks on a network write: each session queues what its connection
// cannot take yet. It releases rt.
func (s *Server) routeFlow(m *Message, rt *routes) (n int, backed Session) {
	defer rt.release()
	if m.Retain && !rt.fromPeer {
		s.retain(m)
	}
	elsewhere, shared := s.forwardToPeers(m, rt)
	subs := rt.subs
	shed := m.QoS == mqtt.QoS0 && s.memoryHigh()
	for i := range subs {
		sub := &subs[i]
		if sub.Shared() {
			if (rt.fromPeer || elsewhere != nil) && !s.sharedHere(sharedFilter(subs, i, shared), rt, elsewhere) {
				continue
			}
			if ok, congested := s.deliverShared(m, sub, ""); ok {
				n++
				if congested != nil && backed == nil {
					backed = congested
				}
			}
			continue
		}
		if rt.fromPeer && !rt.plain {
			continue
		}
		sess := s.session(sub.ClientID)
		if sess == nil {
			continue
		}
		n++
		if sess.routed(m, sub, shed) && backed == nil {
			backed = sess
		}
	}
	if n == 0 && rt.durable {
		// Stored for compact durable sessions only: they are in neither the broker's table
		// nor the index above, and read the message when their client returns. The route
		// index knows that one matches, not how many: count one.
		n = 1
	}
	if n == 0 {
		s.stats.messagesNoSubscribers.Add(1)
	}
	return n, backed
}

// deliverShared gives the message to one member of a shared subscription,
// preferring online members; when none is online it is queued for an
// offline one. except names a member to skip (one that just left). It
// reports whether a member took the message and, if that member is now
// backed up (flow.go), which.
func (s *Server) deliverShared(m *Message, sub *subscriptions.Subscriber, except string) (bool, Session) {
	if s.durable != nil && s.durable.routeShared(sub, m.Topic) {
		return true, nil // a durable group: stored already, its loop hands it out
	}
	online := func(id string) bool {
		if id == except {
			return false
		}
		sess := s.session(id)
		return sess != nil && sess.online()
	}
	member, ok := sub.Pick(s.strategy, m.Publisher, online)
	if !ok {
		member, ok = sub.Pick(s.strategy, m.Publisher, func(id string) bool { return id != except && s.session(id) != nil })
	}
	if !ok {
		return false, nil
	}
	sess := s.session(member.ClientID)
	if sess == nil {
		return false, nil
	}
	var ids []uint32
	if member.SubscriptionID != 0 {
		ids = []uint32{member.SubscriptionID} // only the member's own (MQTT5 §4.8.2)
	}
	congested := sess.deliver(delivery{
		msg:    m,
		qos:    min(m.QoS, mqtt.QoS(member.QoS)), // [MQTT-4.8.2-3] v5
		retain: m.Retain && member.RetainAsPublished,
		subIDs: ids,
		group:  sub.Group,
	})
	if congested {
		return true, sess
	}
	return true, nil
}

// redispatch offers messages that a departing shared-subscription member
// did not finish to another member of the same group. A message with no
// other member to go to is dropped and counted.
func (s *Server) redispatch(from string, ds []delivery) {
	for _, d := range ds {
		done := false
		if !d.msg.expired(timeNow()) {
			subs := s.subs.Match(d.msg.Topic, d.msg.Publisher, nil)
			for i := range subs {
				if subs[i].Shared() && subs[i].Group == d.group {
					done, _ = s.deliverShared(d.msg, &subs[i], from)
					break
				}
			}
		}
		if !done {
			s.dropped(from, d.msg, DropSessionEnded)
		}
	}
}
