package server

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

// deliveryModel is what MQTT's delivery rules let a subscriber see, kept without any of the
// broker's machinery: the messages published, and per client id the session's subscriptions,
// what matched each message when it was published, what arrived and what is in flight. The
// random walk (durable_model_test.go) tells it every packet sent and received; each call that
// takes a received packet returns the rule it breaks, if any.
//
// A message is owed to a session when, at its publication, a subscription of the session
// matched it, that subscription has lasted since (no UNSUBSCRIBE, no new session), the
// publisher had it acknowledged, and min(publish QoS, subscription QoS) is at least 1
// [MQTT-3.8.4-8]; a SUBSCRIBE that changed the subscription's QoS since may apply to the
// messages not sent yet or not, so the model asks nothing of them.
//
// A broker may send one copy per matching subscription (MQTT 5 §3.3.4 allows it; durable
// sessions do) or one copy carrying every Subscription Identifier [MQTT-3.3.4-2] (in-memory
// sessions); the model accepts either and counts copies per Subscription Identifier.
type deliveryModel struct {
	disk     bool       // the broker keeps sessions with an expiry on disk
	msgs     []modelMsg // by seq
	sessions map[string]*modelSession
	gen      int // the last subscription generation handed out
}

// modelMsg is one published message; its payload is its seq.
type modelMsg struct {
	topic string
	qos   mqtt.QoS
	acked bool // PUBACK/PUBREC below 0x80 received by the publisher
}

// modelSub is a subscription; gen names it from SUBSCRIBE to UNSUBSCRIBE (a SUBSCRIBE that
// replaces it keeps its gen: the flow of messages goes on [MQTT-3.8.4-3]) and changes counts
// the SUBSCRIBEs that changed its QoS.
type modelSub struct {
	qos     mqtt.QoS
	gen     int
	changes int
}

// modelMatch is a subscription that matched a message at its publication.
type modelMatch struct {
	filter string
	id     uint32 // Subscription Identifier
	sub    modelSub
}

// modelInflight is a message the client received and has not finished acknowledging.
type modelInflight struct {
	seq      int
	qos      mqtt.QoS
	released bool // PUBREC sent: only PUBREL may come for it [MQTT-4.3.3-6]
	order    int  // when it was first received, for the re-send order [MQTT-4.6.0-1]
	sent     bool // sent (first or again) on the current connection
	answered bool // PUBREC sent on the current connection: a PUBREL is its answer, not a re-send
	// maybe: the last acknowledgement went out right before the connection was dropped, so the
	// broker may or may not have taken it in; a resumed session shows which.
	maybe bool
}

// modelSession is one session of the model.
type modelSession struct {
	v5      bool
	durable bool   // kept on disk: survives a broker restart while its expiry is above 0
	expiry  uint32 // of the last connection
	online  bool

	subs      map[string]modelSub
	matched   map[int][]modelMatch // seq → subscriptions that matched at publication
	copies    map[int]int          // seq → copies received (3.1.1: no identifiers to tell them apart)
	copiesBy  map[int]map[uint32]bool
	delivered map[int]bool // seq → a copy at QoS ≥ 1 arrived
	inflight  map[uint16]*modelInflight
	last      map[string]int // order key → seq of the last first arrival
	received  int            // first arrivals so far, for modelInflight.order
	resent    int            // order of the last re-send on this connection
}

func newDeliveryModel(disk bool) *deliveryModel {
	return &deliveryModel{disk: disk, sessions: map[string]*modelSession{}}
}

func newModelSession(v5 bool) *modelSession {
	return &modelSession{v5: v5, subs: map[string]modelSub{}, matched: map[int][]modelMatch{},
		copies: map[int]int{}, copiesBy: map[int]map[uint32]bool{}, delivered: map[int]bool{},
		inflight: map[uint16]*modelInflight{}, last: map[string]int{}}
}

// connect records an accepted CONNECT and returns the Session Present flag it must get:
// 0 with Clean Start [MQTT-3.2.2-2], otherwise 1 exactly when a session exists
// [MQTT-3.2.2-3]. A new session is kept on disk when its expiry is above 0 (and the broker has
// durable sessions). Taking over a connection whose expiry is 0 ends its session first: it
// ends with its connection (MQTT5 §3.1.2.11.2).
func (m *deliveryModel) connect(id string, v5, clean bool, expiry uint32) (present bool) {
	s := m.sessions[id]
	if s != nil && s.online && s.expiry == 0 {
		s = nil
	}
	present = !clean && s != nil
	if !present {
		s = newModelSession(v5)
		s.durable = m.disk && expiry > 0
		m.sessions[id] = s
	}
	s.online, s.expiry, s.resent = true, expiry, 0
	for _, f := range s.inflight {
		f.sent, f.answered = false, false
	}
	return present
}

// disconnected records the end of a connection; a session with expiry 0 ends with it
// (MQTT5 §3.1.2.11.2).
func (m *deliveryModel) disconnected(id string) {
	s := m.sessions[id]
	if s == nil {
		return
	}
	s.online = false
	if s.expiry == 0 {
		delete(m.sessions, id)
	}
}

// restarted records a broker restart: connections are gone, and with them the sessions kept in
// memory and those whose expiry is 0.
func (m *deliveryModel) restarted() {
	for id, s := range m.sessions {
		s.online = false
		if !s.durable || s.expiry == 0 {
			delete(m.sessions, id)
		}
	}
}

// subscribe records a SUBSCRIBE sent (the walk checks that the SUBACK grants qos).
func (m *deliveryModel) subscribe(id, filter string, qos mqtt.QoS) {
	s := m.sessions[id]
	sub, ok := s.subs[filter]
	if !ok {
		m.gen++
		sub.gen = m.gen
	} else if sub.qos != qos {
		sub.changes++
	}
	sub.qos = qos
	s.subs[filter] = sub
}

// unsubscribe records an UNSUBSCRIBE sent.
func (m *deliveryModel) unsubscribe(id, filter string) {
	delete(m.sessions[id].subs, filter)
}

// publish records a PUBLISH reaching the broker and returns its seq; published records its
// acknowledgement.
func (m *deliveryModel) publish(topic string, qos mqtt.QoS) int {
	seq := len(m.msgs)
	m.msgs = append(m.msgs, modelMsg{topic: topic, qos: qos})
	for _, s := range m.sessions {
		for f, sub := range s.subs {
			if topictest.NaiveMatch(f, topic) {
				s.matched[seq] = append(s.matched[seq], modelMatch{filter: f, id: modelSubID(f), sub: sub})
			}
		}
	}
	return seq
}

func (m *deliveryModel) published(seq int) { m.msgs[seq].acked = true }

// receive checks a PUBLISH that carries message seq. A PUBLISH with DUP for a packet id in
// flight is a re-send; any other is a first arrival, which gets its own packet id
// [MQTT-2.2.1-4] and must be one the session asked for.
func (m *deliveryModel) receive(id string, p *mqtt.Packet, seq int, window int) error {
	s := m.sessions[id]
	if seq < 0 || seq >= len(m.msgs) {
		return fmt.Errorf("PUBLISH %s carries no published message", p)
	}
	msg := m.msgs[seq]
	if p.Topic != msg.topic {
		return fmt.Errorf("message %d published on %q arrived on %q", seq, msg.topic, p.Topic)
	}
	if p.QoS > msg.qos {
		return fmt.Errorf("message %d published at QoS %d arrived at QoS %d [MQTT-3.8.4-8]", seq, msg.qos, p.QoS)
	}
	if p.QoS == mqtt.QoS0 {
		if p.Dup {
			return fmt.Errorf("QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2]")
		}
		return m.arrived(s, p, seq)
	}
	if f, ok := s.inflight[p.PacketID]; ok && f.maybe && (!p.Dup || f.seq != seq) {
		delete(s.inflight, p.PacketID) // the acknowledgement was taken in: the id is free again
	}
	if f, ok := s.inflight[p.PacketID]; ok {
		return s.resend(p, f, seq)
	}
	if err := m.arrived(s, p, seq); err != nil {
		return err
	}
	s.received++
	s.inflight[p.PacketID] = &modelInflight{seq: seq, qos: p.QoS, order: s.received, sent: true}
	if n := s.unacked(); n > window {
		return fmt.Errorf("%d QoS 1/2 PUBLISHes unacknowledged, Receive Maximum is %d [MQTT-3.3.4-9]", n, window)
	}
	return nil
}

// unacked counts the packet ids in flight, leaving out those that may have been acknowledged.
func (s *modelSession) unacked() int {
	n := 0
	for _, f := range s.inflight {
		if !f.maybe {
			n++
		}
	}
	return n
}

// resend checks a PUBLISH for a packet id in flight: only a re-send with DUP, of the same
// message [MQTT-4.4.0-1], in the original order [MQTT-4.6.0-1], never after PUBREC
// [MQTT-4.3.3-6].
func (s *modelSession) resend(p *mqtt.Packet, f *modelInflight, seq int) error {
	switch {
	case !p.Dup:
		return fmt.Errorf("PUBLISH without DUP for packet id %d, which holds message %d in flight: a re-send needs DUP "+
			"[MQTT-3.3.1-1], a new message a free id [MQTT-2.2.1-4]", p.PacketID, f.seq)
	case f.seq != seq:
		return fmt.Errorf("re-send of packet id %d carries message %d, not %d [MQTT-4.4.0-1]", p.PacketID, seq, f.seq)
	case f.released:
		return fmt.Errorf("PUBLISH re-sent for packet id %d after PUBREC [MQTT-4.3.3-6]", p.PacketID)
	case f.qos != p.QoS:
		return fmt.Errorf("re-send of packet id %d at QoS %d, first sent at QoS %d", p.PacketID, p.QoS, f.qos)
	}
	f.maybe = false // the acknowledgement was lost
	return s.resentInOrder(f)
}

func (s *modelSession) resentInOrder(f *modelInflight) error {
	f.sent = true
	if f.order < s.resent {
		return fmt.Errorf("re-sends out of their original order (message %d) [MQTT-4.6.0-1]", f.seq)
	}
	s.resent = f.order
	return nil
}

// arrived checks the first arrival of a copy of message seq: the session subscribed to it when
// it was published, no more copies than matching subscriptions (a QoS 1 duplicate needs DUP
// and its packet id in flight; a QoS 2 message is never delivered twice, MQTT5 §4.3.3), the
// QoS granted [MQTT-3.8.4-8], and the order of one publisher's messages per topic and QoS
// [MQTT-4.6.0-5].
func (m *deliveryModel) arrived(s *modelSession, p *mqtt.Packet, seq int) error {
	msg := m.msgs[seq]
	matched := s.matched[seq]
	if len(matched) == 0 {
		return fmt.Errorf("message %d on %q arrived, but no subscription of the session matched it when it was published", seq, msg.topic)
	}
	s.copies[seq]++
	if s.copies[seq] > len(matched) {
		return fmt.Errorf("message %d arrived %d times (DUP %v), %d subscription(s) matched it", seq, s.copies[seq], p.Dup, len(matched))
	}
	if p.QoS > mqtt.QoS0 {
		s.delivered[seq] = true
	}
	key := fmt.Sprintf("%s|%d", msg.topic, msg.qos)
	if s.v5 {
		if err := s.arrivedV5(p, seq, msg, matched); err != nil {
			return err
		}
		key += fmt.Sprint(p.Properties.SubscriptionIDs)
	} else if len(matched) > 1 {
		return nil // copies of several subscriptions cannot be told apart: no order to check
	}
	if last, ok := s.last[key]; ok && last > seq {
		return fmt.Errorf("message %d arrived after message %d, both on %q at QoS %d [MQTT-4.6.0-5]", seq, last, msg.topic, msg.qos)
	}
	s.last[key] = seq
	return nil
}

// arrivedV5 checks a copy's Subscription Identifiers [MQTT-3.3.4-3]: each names a subscription
// that matched and appears in one copy only; the copy has the highest QoS they grant
// [MQTT-3.3.4-2] unless a subscription was replaced meanwhile.
func (s *modelSession) arrivedV5(p *mqtt.Packet, seq int, msg modelMsg, matched []modelMatch) error {
	ids := p.Properties.SubscriptionIDs
	if len(ids) == 0 {
		return fmt.Errorf("message %d arrived without the Subscription Identifier of its subscription [MQTT-3.3.4-3]", seq)
	}
	if s.copiesBy[seq] == nil {
		s.copiesBy[seq] = map[uint32]bool{}
	}
	want, exact := mqtt.QoS0, true
	for _, id := range ids {
		i := slices.IndexFunc(matched, func(x modelMatch) bool { return x.id == id })
		if i < 0 {
			return fmt.Errorf("message %d arrived for subscription %d, which did not match it at publication", seq, id)
		}
		if s.copiesBy[seq][id] {
			return fmt.Errorf("message %d arrived twice for subscription %d (DUP %v, QoS %d)", seq, id, p.Dup, p.QoS)
		}
		s.copiesBy[seq][id] = true
		x := matched[i]
		want = max(want, min(msg.qos, x.sub.qos))
		exact = exact && s.subs[x.filter] == x.sub
	}
	if exact && p.QoS != want {
		return fmt.Errorf("message %d (QoS %d) arrived at QoS %d for subscriptions %v, which grant %d [MQTT-3.3.4-2]", seq, msg.qos, p.QoS, ids, want)
	}
	return nil
}

// pubrel checks a PUBREL: its packet id holds a QoS 2 message the client has PUBREC'd.
func (m *deliveryModel) pubrel(id string, pid uint16) error {
	s := m.sessions[id]
	f, ok := s.inflight[pid]
	switch {
	case ok && f.maybe:
		f.released, f.maybe = true, false // the PUBREC was taken in, or the PUBCOMP lost
	case !ok || !f.released:
		return fmt.Errorf("PUBREL for packet id %d, which awaits no PUBCOMP", pid)
	}
	if f.answered {
		return nil
	}
	return s.resentInOrder(f)
}

// pubrec records a PUBREC sent; acked records a PUBACK or PUBCOMP sent: the packet id is free.
func (m *deliveryModel) pubrec(id string, pid uint16) {
	f := m.sessions[id].inflight[pid]
	f.released, f.answered = true, true
}

func (m *deliveryModel) acked(id string, pid uint16) { delete(m.sessions[id].inflight, pid) }

// maybeAcked records an acknowledgement sent right before the connection was dropped.
func (m *deliveryModel) maybeAcked(id string, pid uint16) { m.sessions[id].inflight[pid].maybe = true }

// owed returns, in order, the messages the session must still receive.
func (m *deliveryModel) owed(id string) []int {
	s := m.sessions[id]
	if s == nil {
		return nil
	}
	var out []int
	for seq, matched := range s.matched {
		if s.delivered[seq] || !m.msgs[seq].acked {
			continue
		}
		for _, x := range matched {
			if s.subs[x.filter] == x.sub && min(m.msgs[seq].qos, x.sub.qos) > mqtt.QoS0 {
				out = append(out, seq)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// inflightLen returns how many packet ids the session holds for sure.
func (m *deliveryModel) inflightLen(id string) int { return m.sessions[id].unacked() }

// resumed is called once a resumed session's re-sends have arrived: it returns the packet ids
// in flight that were not sent again [MQTT-4.4.0-1], and forgets those whose acknowledgement
// the broker had taken in after all.
func (m *deliveryModel) resumed(id string) (unsent []uint16) {
	s := m.sessions[id]
	for pid, f := range s.inflight {
		switch {
		case f.sent:
		case f.maybe:
			delete(s.inflight, pid)
		default:
			unsent = append(unsent, pid)
		}
	}
	slices.Sort(unsent)
	return unsent
}

// modelFilters are the filters the walk subscribes to; they overlap, and each has a fixed
// Subscription Identifier (its index + 1).
var modelFilters = []string{"m/a", "m/+", "m/#", "+/b", "n/+/x"}

// modelTopics are the topics the walk publishes to.
var modelTopics = []string{"m/a", "m/b", "m", "n/b", "n/q/x"}

func modelSubID(filter string) uint32 { return uint32(slices.Index(modelFilters, filter) + 1) }

// String lists the sessions, for failure messages.
func (m *deliveryModel) String() string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(m.sessions)) {
		s := m.sessions[id]
		fmt.Fprintf(&b, "  %s: durable=%v expiry=%d online=%v subs=%v inflight=%d owed=%v\n",
			id, s.durable, s.expiry, s.online, s.subs, len(s.inflight), m.owed(id))
	}
	return b.String()
}

func modelPublish(topic string, seq int, qos mqtt.QoS, dup bool, pid uint16, ids ...uint32) *mqtt.Packet {
	p := &mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, Payload: []byte(fmt.Sprint(seq)), QoS: qos, Dup: dup, PacketID: pid}
	p.Properties.SubscriptionIDs = ids
	return p
}

// Ensure that the model itself follows the delivery rules it is meant to check: what is owed,
// what counts as a duplicate, a re-send, a window overflow, a message out of order.
func TestDurableModel_Model(t *testing.T) {
	m := newDeliveryModel(true)
	require.False(t, m.connect("s", true, false, 60), "no session yet")
	m.subscribe("s", "m/+", mqtt.QoS1)
	m.subscribe("s", "m/#", mqtt.QoS2)

	a := m.publish("m/a", mqtt.QoS2)
	m.published(a)
	b := m.publish("n/b", mqtt.QoS1) // matches nothing
	m.published(b)
	c := m.publish("m/b", mqtt.QoS0)
	m.published(c)
	require.Equal(t, []int{a}, m.owed("s"), "QoS 0 and unmatched messages are not owed")

	// One copy per subscription, each at its own QoS, is allowed; a third copy is not.
	require.NoError(t, m.receive("s", modelPublish("m/a", a, mqtt.QoS1, false, 1, modelSubID("m/+")), a, 2))
	require.NoError(t, m.receive("s", modelPublish("m/a", a, mqtt.QoS2, false, 2, modelSubID("m/#")), a, 2))
	require.Empty(t, m.owed("s"))
	require.ErrorContains(t, m.receive("s", modelPublish("m/a", a, mqtt.QoS2, true, 3, modelSubID("m/#")), a, 3), "3 times")
	m.acked("s", 3)
	require.ErrorContains(t, m.receive("s", modelPublish("n/b", b, mqtt.QoS1, false, 4, 4), b, 3), "no subscription")

	// A re-send needs DUP and the same message; after PUBREC only PUBREL may come.
	require.ErrorContains(t, m.receive("s", modelPublish("m/a", a, mqtt.QoS1, false, 1, 2), a, 2), "without DUP")
	require.NoError(t, m.receive("s", modelPublish("m/a", a, mqtt.QoS1, true, 1, 2), a, 2))
	m.pubrec("s", 2)
	require.ErrorContains(t, m.receive("s", modelPublish("m/a", a, mqtt.QoS2, true, 2, 3), a, 2), "after PUBREC")
	require.NoError(t, m.pubrel("s", 2))
	require.ErrorContains(t, m.pubrel("s", 1), "awaits no PUBCOMP")
	m.acked("s", 1)
	m.maybeAcked("s", 2)
	k := m.publish("m/a", mqtt.QoS1)

	// Acknowledgements sent right before a dropped connection: a resumed session re-sends what
	// the broker did not take in.
	m.disconnected("s")
	require.True(t, m.connect("s", true, false, 60))
	require.NoError(t, m.pubrel("s", 2), "the PUBCOMP was lost")
	m.maybeAcked("s", 2)
	require.NoError(t, m.receive("s", modelPublish("m/a", k, mqtt.QoS1, false, 2, 2), k, 9), "the PUBCOMP was taken in")
	m.acked("s", 2)
	require.Empty(t, m.resumed("s"))

	// Receive Maximum, then order per topic and QoS.
	d := m.publish("m/b", mqtt.QoS1)
	e := m.publish("m/b", mqtt.QoS1)
	m.published(d)
	m.published(e)
	require.Equal(t, []int{d, e}, m.owed("s"))
	require.NoError(t, m.receive("s", modelPublish("m/b", d, mqtt.QoS1, false, 5, 2), d, 1))
	require.ErrorContains(t, m.receive("s", modelPublish("m/b", e, mqtt.QoS1, false, 6, 2), e, 1), "Receive Maximum")
	g := m.publish("m/b", mqtt.QoS1)
	h := m.publish("m/b", mqtt.QoS1)
	require.NoError(t, m.receive("s", modelPublish("m/b", h, mqtt.QoS1, false, 7, 2), h, 9))
	require.ErrorContains(t, m.receive("s", modelPublish("m/b", g, mqtt.QoS1, false, 8, 2), g, 9), "MQTT-4.6.0-5")

	// UNSUBSCRIBE ends what was owed through it; Clean Start and expiry 0 end the session.
	f := m.publish("m/a", mqtt.QoS1)
	m.published(f)
	m.unsubscribe("s", "m/#")
	require.Equal(t, []int{f}, m.owed("s"), "still owed through m/+")
	m.unsubscribe("s", "m/+")
	require.Empty(t, m.owed("s"))
	m.subscribe("s", "m/a", mqtt.QoS0)
	i := m.publish("m/a", mqtt.QoS2)
	m.published(i)
	m.subscribe("s", "m/a", mqtt.QoS1)
	require.Empty(t, m.owed("s"), "sent at QoS 0 when published")
	j := m.publish("m/a", mqtt.QoS2)
	m.published(j)
	m.subscribe("s", "m/a", mqtt.QoS0)
	m.subscribe("s", "m/a", mqtt.QoS1)
	require.Empty(t, m.owed("s"), "possibly sent at QoS 0 meanwhile")
	m.disconnected("s")
	require.True(t, m.connect("s", true, false, 0), "the session was kept")
	require.False(t, m.connect("s", true, false, 0), "taken over, expiry 0 ended it")
	m.disconnected("s")
	require.False(t, m.connect("s", true, false, 60), "expiry 0 ended it")
	m.restarted()
	require.True(t, m.connect("s", true, false, 60), "kept on disk")
	m.restarted()
	require.False(t, m.connect("s", false, true, 0))
	m.restarted()
	require.False(t, m.connect("s", false, false, 60), "a session in memory is gone after a restart")
}
