package server

// Conformance tests for MQTT 5.0 against an independent client
// (paho.golang) over real loopback sockets. Each test names the normative
// statements it checks; conformance_test.go maps every statement to a test.
// What paho cannot send or observe (DUP, several Subscription Identifiers
// in one PUBLISH, topic aliases it does not resolve) is checked with the
// raw codec client of harness_test.go.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// conformanceDurable makes startConformance keep sessions that outlive
// their connection in durable storage, as `mqttds serve` does by default.
// Only TestConformance_DurableSessions sets it; no conformance test runs in
// parallel.
var conformanceDurable bool

// startConformance is startServer, with durable sessions while
// conformanceDurable is set.
func startConformance(t *testing.T, opts *Options) (*Server, string) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if conformanceDurable {
		opts.Durable = DurableOptions{Enable: true, Dir: t.TempDir(), Storage: &ds.Options{NumShards: 4}}
	}
	return startServer(t, opts)
}

// The tests whose sessions outlive a connection, again with those sessions
// in durable storage: their state and their deliveries take another code
// path there.
func TestConformance_DurableSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("repeats the conformance tests with durable sessions; the race run (-short) does without")
	}
	conformanceDurable = true
	defer func() { conformanceDurable = false }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"WillMessage", TestConformance_WillMessage},
		{"WillDelay", TestConformance_WillDelay},
		{"RedeliveryOnReconnect", TestConformance_RedeliveryOnReconnect},
		{"OfflineQueue", TestConformance_OfflineQueue},
		{"SessionExpiry", TestConformance_SessionExpiry},
		{"PropertiesForwarded", TestConformance_PropertiesForwarded},
		{"UnsubscribeFinishesInflight", TestConformance_UnsubscribeFinishesInflight},
		{"NoExpiryOnceSent", TestConformance_NoExpiryOnceSent},
		{"V311_OfflineQueue", TestConformanceV311_OfflineQueue},
		{"V311_Redelivery", TestConformanceV311_Redelivery},
		{"MessageExpiry", TestConformance_MessageExpiry},
		// Delivery to a durable session has its own window, aliases and
		// size check: these run with every subscriber's session persistent.
		{"RetainAsPublished", TestConformance_RetainAsPublished},
		{"RetainHandling", TestConformance_RetainHandling},
		{"OverlappingSubscriptions", TestConformance_OverlappingSubscriptions},
		{"ReceiveMaximum", TestConformance_ReceiveMaximum},
		{"SharedSubscriptions", TestConformance_SharedSubscriptions},
		{"TopicAliases", TestConformance_TopicAliases},
		{"MaximumPacketSize", TestConformance_MaximumPacketSize},
		{"NoLocal", TestConformance_NoLocal},
		{"PacketIdentifiers", TestConformance_PacketIdentifiers},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// pahoClient is a paho.golang connection with what it received.
type pahoClient struct {
	*paho.Client
	nc   net.Conn
	ack  *paho.Connack
	got  chan *paho.Publish
	gone chan *paho.Disconnect
}

// dialPaho connects a paho.golang client with the given CONNECT; cfg may
// adjust the client configuration first (manual acknowledgement, ...).
// The connection is closed at test end.
func dialPaho(t *testing.T, addr string, cp *paho.Connect, cfg func(*paho.ClientConfig)) *pahoClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	pc := &pahoClient{nc: nc, got: make(chan *paho.Publish, 1000), gone: make(chan *paho.Disconnect, 1)}
	cc := paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			pc.got <- r.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { pc.gone <- d },
		OnClientError:      func(error) {},
	}
	if cfg != nil {
		cfg(&cc)
	}
	pc.Client = paho.NewClient(cc)
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pc.ack, err = pc.Connect(ctx, cp)
	require.NoError(t, err)
	require.EqualValues(t, 0, pc.ack.ReasonCode)
	t.Cleanup(func() { nc.Close() })
	return pc
}

// pahoID connects a clean paho client with no Will, and no session expiry
// unless conformanceDurable asks for sessions that outlive the connection.
func pahoID(t *testing.T, addr, id string) *pahoClient {
	cp := &paho.Connect{ClientID: id, CleanStart: true}
	if conformanceDurable {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(60)}
	}
	return dialPaho(t, addr, cp, nil)
}

// persistent is a CONNECT option for the raw client: a session expiry of
// 60 s while conformanceDurable is set (so the session is a durable one),
// none otherwise.
func persistent() func(*mqtt.Packet) {
	if conformanceDurable {
		return sessionExpiry(60)
	}
	return func(*mqtt.Packet) {}
}

func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (pc *pahoClient) sub(t *testing.T, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	sa, err := pc.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: opts})
	require.NoError(t, err)
	return sa
}

func (pc *pahoClient) subID(t *testing.T, id int, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	sa, err := pc.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: opts,
		Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &id}})
	require.NoError(t, err)
	return sa
}

func (pc *pahoClient) pub(t *testing.T, p *paho.Publish) {
	t.Helper()
	_, err := pc.Publish(ctxT(t), p)
	require.NoError(t, err)
}

// next returns the next message received, or fails after testTimeout.
func (pc *pahoClient) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-pc.got:
		return p
	case <-time.After(testTimeout):
		t.Fatal("no message received")
		return nil
	}
}

// none checks that no message arrives within d. It is a check of absence,
// not a synchronisation: callers first wait for a positive signal.
func (pc *pahoClient) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-pc.got:
		t.Fatalf("unexpected message on %q: %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// marker publishes a QoS 1 message on topic and waits for sub to receive
// it: everything routed to sub before it has then arrived too (ordering
// [MQTT-4.6.0-5] v5), so a following none() checks real absence.
func marker(t *testing.T, pub, sub *pahoClient, topic string) {
	t.Helper()
	pub.pub(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("marker")})
	for {
		p := sub.next(t)
		if p.Topic == topic && string(p.Payload) == "marker" {
			return
		}
		t.Fatalf("unexpected message on %q: %q before the marker", p.Topic, p.Payload)
	}
}

// Retain As Published: 0 clears RETAIN on forwarded copies, 1 keeps it
// [MQTT-3.3.1-12], [MQTT-3.3.1-13] v5. A stored retained message goes to a
// new subscription with RETAIN = 1 whatever the option (MQTT5 §3.3.1.3).
func TestConformance_RetainAsPublished(t *testing.T) {
	_, addr := startConformance(t, nil)
	rap := pahoID(t, addr, "rap1")
	plain := pahoID(t, addr, "rap0")
	rap.sub(t, paho.SubscribeOptions{Topic: "rap/#", QoS: 1, RetainAsPublished: true})
	plain.sub(t, paho.SubscribeOptions{Topic: "rap/#", QoS: 1})
	pub := pahoID(t, addr, "rappub")
	pub.pub(t, &paho.Publish{Topic: "rap/t", QoS: 1, Retain: true, Payload: []byte("kept")})
	pub.pub(t, &paho.Publish{Topic: "rap/t", QoS: 1, Payload: []byte("live")}) // one topic: order is per topic

	p := rap.next(t)
	require.Equal(t, "kept", string(p.Payload))
	require.True(t, p.Retain, "[MQTT-3.3.1-13] v5")
	p = rap.next(t)
	require.Equal(t, "live", string(p.Payload))
	require.False(t, p.Retain)
	p = plain.next(t)
	require.Equal(t, "kept", string(p.Payload))
	require.False(t, p.Retain, "[MQTT-3.3.1-12] v5")
	require.False(t, plain.next(t).Retain)

	late := pahoID(t, addr, "raplate")
	late.sub(t, paho.SubscribeOptions{Topic: "rap/#", QoS: 1})
	p = late.next(t)
	require.Equal(t, "kept", string(p.Payload))
	require.True(t, p.Retain, "retained messages sent for a subscription carry RETAIN = 1")
}

// Retain Handling 0 sends retained messages on every subscribe, also when
// it replaces one [MQTT-3.3.1-9], [MQTT-3.8.4-4] v5; 1 only when the
// subscription is new [MQTT-3.3.1-10] v5; 2 never [MQTT-3.3.1-11] v5. A
// retained message replaces the previous one [MQTT-3.3.1-5] v5; RETAIN = 0
// leaves it alone [MQTT-3.3.1-8] v5; an empty retained payload is forwarded
// and deletes it, and is not stored itself [MQTT-3.3.1-6], [MQTT-3.3.1-7] v5.
func TestConformance_RetainHandling(t *testing.T) {
	_, addr := startConformance(t, nil)
	pub := pahoID(t, addr, "rhpub")
	pub.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Retain: true, Payload: []byte("old")})
	pub.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Retain: true, Payload: []byte("v1")})
	pub.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Payload: []byte("not retained")})

	c := pahoID(t, addr, "rh")
	// 0: on a new subscription and again on the replacing one.
	for range 2 {
		c.sub(t, paho.SubscribeOptions{Topic: "rh/#", QoS: 1, RetainHandling: 0})
		p := c.next(t)
		require.Equal(t, "v1", string(p.Payload), "[MQTT-3.3.1-5], [MQTT-3.3.1-8] v5")
		require.True(t, p.Retain)
	}
	// 1: not for an existing subscription, yes for a new one.
	c.sub(t, paho.SubscribeOptions{Topic: "rh/#", QoS: 1, RetainHandling: 1})
	marker(t, pub, c, "rh/marker1")
	c.sub(t, paho.SubscribeOptions{Topic: "rh/+", QoS: 1, RetainHandling: 1})
	p := c.next(t)
	require.Equal(t, "v1", string(p.Payload), "[MQTT-3.3.1-10] v5")
	// 2: never, new or not.
	c.sub(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 2})
	c.sub(t, paho.SubscribeOptions{Topic: "rh/#", QoS: 1, RetainHandling: 2})
	// The marker reaches c once per matching subscription or once in all
	// (MQTT-3.3.4-2 allows either): drain up to it.
	pub.pub(t, &paho.Publish{Topic: "rh/marker2", QoS: 1, Payload: []byte("marker")})
	for {
		p := c.next(t)
		require.NotEqual(t, "v1", string(p.Payload), "[MQTT-3.3.1-11] v5")
		if p.Topic == "rh/marker2" {
			break
		}
	}

	// An empty retained payload is delivered and clears the topic.
	d := pahoID(t, addr, "rhdel")
	d.sub(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 2})
	pub.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Retain: true, Payload: nil})
	p = d.next(t)
	require.Empty(t, p.Payload, "[MQTT-3.3.1-6] v5")
	late := pahoID(t, addr, "rhlate")
	late.sub(t, paho.SubscribeOptions{Topic: "rh/#", QoS: 1})
	marker(t, pub, late, "rh/marker3")
}

// A Will is published when the connection drops and not after a normal
// DISCONNECT [MQTT-3.1.2-8], [MQTT-3.14.4-3] v5; DISCONNECT 0x04 keeps it;
// its Retain flag is honoured [MQTT-3.1.2-14], [MQTT-3.1.2-15] v5 and its
// properties and User Properties reach subscribers unchanged and in order
// [MQTT-3.1.3-10] v5.
func TestConformance_WillMessage(t *testing.T) {
	_, addr := startConformance(t, nil)
	watch := pahoID(t, addr, "willwatch")
	watch.sub(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1, RetainAsPublished: true})
	user := []mqtt.UserProperty{{Key: "k", Value: "2"}, {Key: "a", Value: "1"}, {Key: "k", Value: "1"}}
	// paho.golang leaves the PUBLISH-type Will properties out of its
	// CONNECT, so the Will's client is the raw one.
	willConn := func(id string, retain bool, expiry uint32) *rawClient {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(id, true, sessionExpiry(expiry), func(p *mqtt.Packet) {
			p.Connect.Will = &mqtt.Will{Topic: "will/" + id, QoS: 1, Retain: retain, Payload: []byte("bye " + id),
				Properties: mqtt.Properties{ContentType: "text/plain", ResponseTopic: "will/reply",
					CorrelationData: []byte{0, 1, 2}, PayloadFormat: 1, User: user}}
		})
		return c
	}

	// Dropped connection, session ends with it: the Will, not retained.
	willConn("drop", false, 0).close()
	p := watch.next(t)
	require.Equal(t, "will/drop", p.Topic)
	require.Equal(t, "bye drop", string(p.Payload))
	require.False(t, p.Retain, "[MQTT-3.1.2-14] v5")
	require.Equal(t, "text/plain", p.Properties.ContentType)
	require.Equal(t, "will/reply", p.Properties.ResponseTopic)
	require.Equal(t, []byte{0, 1, 2}, p.Properties.CorrelationData)
	require.NotNil(t, p.Properties.PayloadFormat)
	require.EqualValues(t, 1, *p.Properties.PayloadFormat)
	require.Equal(t, paho.UserProperties{{Key: "k", Value: "2"}, {Key: "a", Value: "1"}, {Key: "k", Value: "1"}},
		p.Properties.User, "[MQTT-3.1.3-10] v5")

	// Normal DISCONNECT: no Will.
	c := willConn("normal", false, 0)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.Success})
	c.expectClosed()
	// DISCONNECT 0x04 with a session that outlives the connection: the
	// Will now, not at session expiry.
	c = willConn("withwill", true, 300)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.DisconnectWithWill})
	c.expectClosed()
	p = watch.next(t)
	require.Equal(t, "will/withwill", p.Topic, "a DISCONNECT 0x00 deletes the Will [MQTT-3.14.4-3] v5")
	require.True(t, p.Retain, "[MQTT-3.1.2-15] v5")
	late := pahoID(t, addr, "willlate")
	late.sub(t, paho.SubscribeOptions{Topic: "will/withwill", QoS: 1})
	require.Equal(t, "bye withwill", string(late.next(t).Payload))

	// A DISCONNECT with an error code is not a normal disconnection: the
	// Will is published [MQTT-3.1.2-8] v5.
	c = willConn("errcode", false, 300)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.UnspecifiedError})
	c.expectClosed()
	require.Equal(t, "will/errcode", watch.next(t).Topic)
}

// Will Delay: the Will waits for the delay, and a reconnect within it
// cancels the Will [MQTT-3.1.2-8], [MQTT-3.1.3-9] v5; a session that ends
// first publishes it at its end (MQTT5 §3.1.3.2.2), [MQTT-4.1.0-2] v5.
func TestConformance_WillDelay(t *testing.T) {
	_, addr := startConformance(t, nil)
	watch := pahoID(t, addr, "wdwatch")
	watch.sub(t, paho.SubscribeOptions{Topic: "wd/#", QoS: 1})
	willConn := func(id string, clean bool, delay, expiry uint32) *pahoClient {
		return dialPaho(t, addr, &paho.Connect{ClientID: id, CleanStart: clean,
			Properties:     &paho.ConnectProperties{SessionExpiryInterval: u32(expiry)},
			WillMessage:    &paho.WillMessage{Topic: "wd/" + id, QoS: 1, Payload: []byte(id)},
			WillProperties: &paho.WillProperties{WillDelayInterval: u32(delay)}}, nil)
	}

	// Delay 1 s, session 60 s: after about a second.
	start := time.Now()
	willConn("delayed", true, 1, 60).nc.Close()
	require.Equal(t, "wd/delayed", watch.next(t).Topic)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "Will before its delay")

	// Delay 60 s, session 1 s: at the session's end.
	start = time.Now()
	willConn("expiring", true, 60, 1).nc.Close()
	require.Equal(t, "wd/expiring", watch.next(t).Topic)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "Will before the session ended")

	// Delay 1 s, reconnect at once: no Will from the first connection.
	willConn("back", true, 1, 60).nc.Close()
	c := dialPaho(t, addr, &paho.Connect{ClientID: "back", CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	require.True(t, c.ack.SessionPresent)
	watch.none(t, 1300*time.Millisecond) // past the delay
}

// Keep alive: no packet for 1.5 × Keep Alive closes the connection with
// DISCONNECT 0x8D, which carries no Session Expiry [MQTT-3.14.2-2] v5, and
// publishes the Will [MQTT-3.1.2-22] v5; PINGREQ keeps
// it open and is answered [MQTT-3.12.4-1] v5.
func TestConformance_KeepAlive(t *testing.T) {
	_, addr := startConformance(t, nil)
	watch := pahoID(t, addr, "kawatch")
	watch.sub(t, paho.SubscribeOptions{Topic: "ka/#", QoS: 1})

	c := dialRaw(t, addr, mqtt.V5)
	start := time.Now()
	c.connect("kasilent", true, func(p *mqtt.Packet) {
		p.Connect.KeepAlive = 1
		p.Connect.Will = &mqtt.Will{Topic: "ka/silent", QoS: 1, Payload: []byte("gone")}
	})
	d := c.expect(mqtt.TypeDisconnect)
	require.Equal(t, mqtt.KeepAliveTimeout, d.ReasonCode)
	require.False(t, d.Properties.Has(mqtt.PropSessionExpiry), "[MQTT-3.14.2-2] v5")
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 1400*time.Millisecond, "closed before 1.5 × keep alive")
	require.Less(t, took, 4*time.Second)
	c.expectClosed() // nothing after the DISCONNECT [MQTT-3.14.4-1], [MQTT-3.14.4-2] v5
	require.Equal(t, "ka/silent", watch.next(t).Topic)

	// A pinging client stays.
	k := dialRaw(t, addr, mqtt.V5)
	k.connect("kaping", true, func(p *mqtt.Packet) { p.Connect.KeepAlive = 1 })
	for range 3 {
		k.send(&mqtt.Packet{Type: mqtt.TypePingreq})
		k.expect(mqtt.TypePingresp)
		time.Sleep(700 * time.Millisecond) // the client's own pacing, below the 1.5 s limit
	}
}

// Redelivery after reconnect: unacknowledged QoS 1 and QoS 2 PUBLISHes are
// re-sent with DUP = 1 and their packet ids, a PUBREL is re-sent for a QoS
// 2 message already received [MQTT-4.4.0-1], [MQTT-3.3.1-1] v5. One topic:
// order is kept per topic [MQTT-4.6.0-5] v5.
func TestConformance_RedeliveryOnReconnect(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("redeliver", true, sessionExpiry(60))
	c.subscribe(1, mqtt.Subscription{Filter: "rd/#", QoS: 2})
	pub := pahoID(t, addr, "rdpub")
	pub.pub(t, &paho.Publish{Topic: "rd/t", QoS: 1, Payload: []byte("one")})
	pub.pub(t, &paho.Publish{Topic: "rd/t", QoS: 2, Payload: []byte("two")})
	pub.pub(t, &paho.Publish{Topic: "rd/t", QoS: 2, Payload: []byte("three")})
	p1 := c.expect(mqtt.TypePublish)
	p2 := c.expect(mqtt.TypePublish)
	p3 := c.expect(mqtt.TypePublish)
	require.False(t, p1.Dup || p2.Dup || p3.Dup, "[MQTT-4.3.2-2], [MQTT-4.3.3-2] v5")
	c.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p3.PacketID})
	c.expect(mqtt.TypePubrel)
	c.close()

	c = dialRaw(t, addr, mqtt.V5)
	ack := c.connect("redeliver", false, sessionExpiry(60))
	require.True(t, ack.SessionPresent)
	r1 := c.expect(mqtt.TypePublish)
	r2 := c.expect(mqtt.TypePublish)
	require.True(t, r1.Dup && r2.Dup, "[MQTT-3.3.1-1] v5")
	require.Equal(t, []uint16{p1.PacketID, p2.PacketID}, []uint16{r1.PacketID, r2.PacketID})
	require.Equal(t, []string{"one", "two"}, []string{string(r1.Payload), string(r2.Payload)})
	rel := c.expect(mqtt.TypePubrel)
	require.Equal(t, p3.PacketID, rel.PacketID)
	c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: r1.PacketID})
	c.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: r2.PacketID})
	require.Equal(t, r2.PacketID, c.expect(mqtt.TypePubrel).PacketID)
	c.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: r2.PacketID})
	c.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p3.PacketID})
	c.send(&mqtt.Packet{Type: mqtt.TypePingreq}) // the answer says all before it was handled
	c.expect(mqtt.TypePingresp)
	c.close()

	// All acknowledged: nothing is re-sent on the next resume.
	c = dialRaw(t, addr, mqtt.V5)
	c.connect("redeliver", false, sessionExpiry(60))
	c.expectNothing(300 * time.Millisecond)
}

// The offline queue of a persistent session: QoS 1 and QoS 2 messages
// published while the client is away arrive, in order, with their
// properties, when it resumes [MQTT-3.1.2-5], [MQTT-3.1.2-23],
// [MQTT-4.6.0-5] v5; with Clean Start they are gone [MQTT-3.1.2-4] v5.
func TestConformance_OfflineQueue(t *testing.T) {
	_, addr := startConformance(t, nil)
	conn := func(clean bool) *pahoClient {
		return dialPaho(t, addr, &paho.Connect{ClientID: "offline", CleanStart: clean,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	}
	c := conn(true)
	c.sub(t, paho.SubscribeOptions{Topic: "off/#", QoS: 2})
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
	pub := pahoID(t, addr, "offpub")
	for i := range 6 {
		pub.pub(t, &paho.Publish{Topic: "off/t", QoS: byte(1 + i%2), Payload: []byte(fmt.Sprint(i)),
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "i", Value: fmt.Sprint(i)}}}})
	}
	c = conn(false)
	require.True(t, c.ack.SessionPresent, "[MQTT-3.2.2-3] v5")
	for i := range 6 {
		p := c.next(t)
		require.Equal(t, fmt.Sprint(i), string(p.Payload))
		require.EqualValues(t, 1+i%2, p.QoS)
		require.Equal(t, fmt.Sprint(i), p.Properties.User.Get("i"))
	}
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
	pub.pub(t, &paho.Publish{Topic: "off/t", QoS: 1, Payload: []byte("lost")})
	c = conn(true)
	require.False(t, c.ack.SessionPresent, "[MQTT-3.2.2-2] v5")
	c.none(t, 300*time.Millisecond)
}

// Overlapping subscriptions of one client: the message goes out at the
// highest granted QoS, carrying the identifiers of every matching
// subscription [MQTT-3.3.4-2], [MQTT-3.3.4-3], [MQTT-3.3.4-4] v5, or
// once per subscription with its own identifier [MQTT-3.3.4-5] v5.
func TestConformance_OverlappingSubscriptions(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("overlap", true, persistent())
	subWithID := func(pid uint16, id uint32, s mqtt.Subscription) {
		c.send(&mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: pid, Subscriptions: []mqtt.Subscription{s},
			Properties: mqtt.Properties{SubscriptionIDs: []uint32{id}}})
		require.Equal(t, pid, c.expect(mqtt.TypeSuback).PacketID)
	}
	subWithID(1, 7, mqtt.Subscription{Filter: "ov/+", QoS: 1})
	subWithID(2, 9, mqtt.Subscription{Filter: "ov/#", QoS: 2})
	c.subscribe(3, mqtt.Subscription{Filter: "ov/x", QoS: 0}) // no identifier
	pub := pahoID(t, addr, "ovpub")
	pub.pub(t, &paho.Publish{Topic: "ov/x", QoS: 2, Payload: []byte("m")})

	var ids []uint32
	maxQoS := mqtt.QoS0
	copies := 0
	for {
		p, err := c.read(300 * time.Millisecond)
		if err != nil {
			break
		}
		require.Equal(t, mqtt.TypePublish, p.Type)
		copies++
		maxQoS = max(maxQoS, p.QoS)
		ids = append(ids, p.Properties.SubscriptionIDs...)
		switch p.QoS {
		case mqtt.QoS1:
			c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
		case mqtt.QoS2:
			c.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p.PacketID})
			c.expect(mqtt.TypePubrel)
			c.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p.PacketID})
		}
	}
	require.GreaterOrEqual(t, copies, 1)
	require.Equal(t, mqtt.QoS2, maxQoS, "[MQTT-3.3.4-2] v5")
	slices.Sort(ids)
	require.Equal(t, []uint32{7, 9}, ids, "[MQTT-3.3.4-3] v5")
}

// Receive Maximum: the broker keeps no more unacknowledged QoS 1/2
// PUBLISHes than the client allows [MQTT-3.3.4-9], [MQTT-4.9.0-2] v5, goes
// on with QoS 0 and with other packets while the quota is zero
// [MQTT-3.3.4-10], [MQTT-4.9.0-3] v5, and each acknowledgement frees one.
func TestConformance_ReceiveMaximum(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("recvmax", true, persistent(), func(p *mqtt.Packet) { p.Properties.ReceiveMaximum = 2 })
	c.subscribe(1, mqtt.Subscription{Filter: "rm/#", QoS: 2})
	pub := pahoID(t, addr, "rmpub")
	for i := range 5 {
		pub.pub(t, &paho.Publish{Topic: "rm/t", QoS: byte(1 + i%2), Payload: []byte(fmt.Sprint(i))})
	}
	a := c.expect(mqtt.TypePublish)
	b := c.expect(mqtt.TypePublish)
	require.Equal(t, []string{"0", "1"}, []string{string(a.Payload), string(b.Payload)})
	c.expectNothing(200 * time.Millisecond)
	c.send(&mqtt.Packet{Type: mqtt.TypePingreq})
	c.expect(mqtt.TypePingresp) // [MQTT-3.3.4-10] v5
	// QoS 0 may go on or wait (MQTT5 §4.9); this broker keeps it behind the
	// waiting QoS 1/2 messages, in order.

	// PUBACK frees one slot; a PUBREC does not (PUBCOMP does).
	c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: a.PacketID})
	p := c.expect(mqtt.TypePublish)
	require.Equal(t, "2", string(p.Payload))
	c.expectNothing(200 * time.Millisecond)
	c.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: b.PacketID})
	c.expect(mqtt.TypePubrel)
	c.expectNothing(200 * time.Millisecond)
	c.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: b.PacketID})
	require.Equal(t, "3", string(c.expect(mqtt.TypePublish).Payload))
}

// The broker's own Receive Maximum is enforced on the client: one QoS 2
// PUBLISH more than it announced gets DISCONNECT 0x93 (MQTT5 §3.3.4).
func TestConformance_ServerReceiveMaximum(t *testing.T) {
	_, addr := startConformance(t, &Options{ReceiveMaximum: 2})
	c := dialRaw(t, addr, mqtt.V5)
	ack := c.connect("srvrecvmax", true)
	require.EqualValues(t, 2, ack.Properties.ReceiveMaximum)
	for pid := uint16(1); pid <= 2; pid++ {
		c.publish("srm/t", "x", mqtt.QoS2, pid, false)
		c.expect(mqtt.TypePubrec)
	}
	c.publish("srm/t", "x", mqtt.QoS2, 3, false)
	require.Equal(t, mqtt.ReceiveMaximumExceeded, c.expect(mqtt.TypeDisconnect).ReasonCode)
	c.expectClosed()
}

// Shared subscriptions: each message goes to one member of the group, at
// that member's granted QoS [MQTT-4.8.2-3] v5; no retained messages on
// joining; a member's own identifier only; and a non-shared subscriber
// still gets every message.
func TestConformance_SharedSubscriptions(t *testing.T) {
	_, addr := startConformance(t, nil)
	pub := pahoID(t, addr, "shpub")
	pub.pub(t, &paho.Publish{Topic: "sh/t", QoS: 1, Retain: true, Payload: []byte("retained")})
	m1 := pahoID(t, addr, "shm1")
	m2 := pahoID(t, addr, "shm2")
	all := pahoID(t, addr, "shall")
	m1.subID(t, 11, paho.SubscribeOptions{Topic: "$share/g/sh/#", QoS: 0})
	m2.subID(t, 12, paho.SubscribeOptions{Topic: "$share/g/sh/#", QoS: 2})
	all.sub(t, paho.SubscribeOptions{Topic: "sh/#", QoS: 1, RetainHandling: 2})

	const n = 20
	for i := range n {
		pub.pub(t, &paho.Publish{Topic: "sh/t", QoS: 2, Payload: []byte(fmt.Sprint(i))})
	}
	seen := map[string]int{}
	for range n {
		seen[string(all.next(t).Payload)]++
	}
	require.Len(t, seen, n)
	got := map[string]string{}
	deadline := time.After(testTimeout)
	for len(got) < n {
		select {
		case p := <-m1.got:
			require.EqualValues(t, 0, p.QoS, "[MQTT-4.8.2-3] v5")
			require.EqualValues(t, 11, *p.Properties.SubscriptionIdentifier)
			require.NotEqual(t, "retained", string(p.Payload))
			_, dup := got[string(p.Payload)]
			require.False(t, dup, "message given to two members")
			got[string(p.Payload)] = "m1"
		case p := <-m2.got:
			require.EqualValues(t, 2, p.QoS, "[MQTT-4.8.2-3] v5")
			require.EqualValues(t, 12, *p.Properties.SubscriptionIdentifier)
			require.NotEqual(t, "retained", string(p.Payload))
			_, dup := got[string(p.Payload)]
			require.False(t, dup, "message given to two members")
			got[string(p.Payload)] = "m2"
		case <-deadline:
			t.Fatalf("group received %d of %d", len(got), n)
		}
	}
	var who []string
	for _, w := range got {
		who = append(who, w)
	}
	sort.Strings(who)
	require.Equal(t, "m1", who[0], "round robin uses both members")
	require.Equal(t, "m2", who[len(who)-1])
}

// Topic aliases, both ways. The client's aliases are accepted up to the
// broker's maximum [MQTT-3.3.2-12] v5 and belong to the connection
// [MQTT-3.3.2-7] v5; alias 0 or one above the maximum gets DISCONNECT 0x94
// (MQTT5 §3.3.4). The broker's aliases stay within the client's maximum
// [MQTT-3.1.2-26], [MQTT-3.3.2-11] v5 and are never 0 [MQTT-3.3.2-8] v5.
func TestConformance_TopicAliases(t *testing.T) {
	_, addr := startConformance(t, &Options{TopicAliasMaximum: 5})
	sub := pahoID(t, addr, "tasub")
	sub.sub(t, paho.SubscribeOptions{Topic: "ta/#", QoS: 1})
	pc := pahoID(t, addr, "tapub")
	require.EqualValues(t, 5, *pc.ack.Properties.TopicAliasMaximum)
	pc.pub(t, &paho.Publish{Topic: "ta/x", QoS: 1, Payload: []byte("1"),
		Properties: &paho.PublishProperties{TopicAlias: u16(5)}})
	pc.pub(t, &paho.Publish{Topic: "", QoS: 1, Payload: []byte("2"),
		Properties: &paho.PublishProperties{TopicAlias: u16(5)}})
	for _, want := range []string{"1", "2"} {
		p := sub.next(t)
		require.Equal(t, "ta/x", p.Topic)
		require.Equal(t, want, string(p.Payload))
	}
	// A new connection does not know the old one's alias.
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("tanew", true)
	c.send(&mqtt.Packet{Type: mqtt.TypePublish, QoS: 1, PacketID: 1, Properties: mqtt.Properties{TopicAlias: 5}})
	require.Equal(t, mqtt.ProtocolError, c.expect(mqtt.TypeDisconnect).ReasonCode, "[MQTT-3.3.2-7] v5")
	c = dialRaw(t, addr, mqtt.V5)
	c.connect("tabig", true)
	c.send(&mqtt.Packet{Type: mqtt.TypePublish, QoS: 1, PacketID: 1, Topic: "ta/y",
		Properties: mqtt.Properties{TopicAlias: 6}})
	require.Equal(t, mqtt.TopicAliasInvalid, c.expect(mqtt.TypeDisconnect).ReasonCode)

	// Outbound: with a maximum of 2, three topics, twice each.
	r := dialRaw(t, addr, mqtt.V5)
	r.connect("taout", true, persistent(), func(p *mqtt.Packet) { p.Properties.TopicAliasMaximum = 2 })
	r.subscribe(1, mqtt.Subscription{Filter: "ta/#", QoS: 0})
	aliases := map[uint16]string{}
	for round := range 2 {
		for _, tp := range []string{"ta/a", "ta/b", "ta/c"} {
			pc.pub(t, &paho.Publish{Topic: tp, QoS: 0, Payload: []byte(fmt.Sprint(round))})
			p := r.expect(mqtt.TypePublish)
			a := p.Properties.TopicAlias
			require.LessOrEqual(t, a, uint16(2), "[MQTT-3.1.2-26] v5")
			switch {
			case p.Topic != "" && a != 0:
				aliases[a] = p.Topic
			case p.Topic == "":
				require.NotZero(t, a, "[MQTT-3.3.2-8] v5")
				p.Topic = aliases[a]
			}
			require.Equal(t, tp, p.Topic)
		}
	}
	// No maximum announced: no aliases [MQTT-3.1.2-27] v5.
	n := dialRaw(t, addr, mqtt.V5)
	n.connect("tanone", true)
	n.subscribe(1, mqtt.Subscription{Filter: "ta/#", QoS: 0})
	for range 2 {
		pc.pub(t, &paho.Publish{Topic: "ta/a", QoS: 0, Payload: []byte("x")})
		p := n.expect(mqtt.TypePublish)
		require.Equal(t, "ta/a", p.Topic)
		require.Zero(t, p.Properties.TopicAlias, "[MQTT-3.1.2-27] v5")
	}
}

// Maximum Packet Size: the broker never sends the client a larger packet
// [MQTT-3.1.2-24] v5; it drops that message as if delivered and goes on
// with the next [MQTT-3.1.2-25] v5, also on a topic whose alias it would
// have set up with the dropped packet.
func TestConformance_MaximumPacketSize(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("maxpkt", true, persistent(), func(p *mqtt.Packet) {
		p.Properties.MaximumPacketSize = 128
		p.Properties.TopicAliasMaximum = 10
		p.Properties.ReceiveMaximum = 1
	})
	c.subscribe(1, mqtt.Subscription{Filter: "mp/#", QoS: 1})
	pub := pahoID(t, addr, "mppub")
	big := make([]byte, 200)
	pub.pub(t, &paho.Publish{Topic: "mp/t", QoS: 1, Payload: big})
	pub.pub(t, &paho.Publish{Topic: "mp/t", QoS: 1, Payload: []byte("small")})
	pub.pub(t, &paho.Publish{Topic: "mp/t", QoS: 0, Payload: big})
	pub.pub(t, &paho.Publish{Topic: "mp/t", QoS: 0, Payload: []byte("small0")})
	p := c.expect(mqtt.TypePublish)
	require.Equal(t, "small", string(p.Payload), "the large message is dropped [MQTT-3.1.2-24] v5")
	require.Equal(t, "mp/t", p.Topic, "an alias the client never saw [MQTT-3.1.2-25] v5")
	c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	p = c.expect(mqtt.TypePublish)
	require.Equal(t, "small0", string(p.Payload))
	if p.Topic == "" {
		require.NotZero(t, p.Properties.TopicAlias)
	}
}

// Session expiry: the session outlives its connection for the interval
// [MQTT-3.1.2-23] v5 and is then discarded [MQTT-4.1.0-2] v5; the
// interval can be changed on DISCONNECT, but not from 0 (MQTT5
// §3.14.2.2.2: DISCONNECT 0x82).
func TestConformance_SessionExpiry(t *testing.T) {
	s, addr := startConformance(t, nil)
	conn := func(clean bool, expiry uint32) *pahoClient {
		return dialPaho(t, addr, &paho.Connect{ClientID: "expiring", CleanStart: clean,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(expiry)}}, nil)
	}
	c := conn(true, 1)
	c.sub(t, paho.SubscribeOptions{Topic: "se/#", QoS: 1})
	c.nc.Close()
	c = conn(false, 1)
	require.True(t, c.ack.SessionPresent, "within the interval [MQTT-3.1.2-23] v5")
	start := time.Now()
	c.nc.Close()
	// A durable session leaves memory before it expires (it waits compact
	// in storage), so there only the clock says it is over.
	waitFor(t, "the session to expire", func() bool {
		return time.Since(start) > 1100*time.Millisecond && (conformanceDurable || s.loadedSession("expiring") == nil)
	})
	c = conn(false, 60)
	require.False(t, c.ack.SessionPresent, "[MQTT-4.1.0-2] v5")

	// From non-zero to 0 on DISCONNECT: the session ends with the connection.
	c.sub(t, paho.SubscribeOptions{Topic: "se/#", QoS: 1})
	require.NoError(t, c.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: u32(0)}}))
	waitFor(t, "the session to end", func() bool { return s.loadedSession("expiring") == nil })

	// Expiry 0 in CONNECT, changed on DISCONNECT: a Protocol Error.
	r := dialRaw(t, addr, mqtt.V5)
	r.connect("zero", true)
	r.send(&mqtt.Packet{Type: mqtt.TypeDisconnect, Properties: mqtt.Properties{SessionExpiry: 30}})
	require.Equal(t, mqtt.ProtocolError, r.expect(mqtt.TypeDisconnect).ReasonCode)
	r.expectClosed()
}

// Message properties reach subscribers unchanged: Payload Format Indicator
// [MQTT-3.3.2-4] v5, Content Type [MQTT-3.3.2-20] v5, Response Topic and
// Correlation Data [MQTT-3.3.2-15], [MQTT-3.3.2-16] v5, User Properties in
// order, repeated keys included [MQTT-3.3.2-17], [MQTT-3.3.2-18] v5, at
// every QoS, live, retained and queued offline. Message Expiry goes on
// reduced by the time waited [MQTT-3.3.2-6] v5.
func TestConformance_PropertiesForwarded(t *testing.T) {
	_, addr := startConformance(t, nil)
	user := paho.UserProperties{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}, {Key: "z", Value: "0"},
		{Key: "ünï", Value: "cödé"}}
	props := func() *paho.PublishProperties {
		return &paho.PublishProperties{PayloadFormat: new(byte(1)), ContentType: "application/json",
			ResponseTopic: "pf/reply", CorrelationData: []byte{0xff, 0, 7}, User: user}
	}
	check := func(p *paho.Publish) {
		t.Helper()
		pp := p.Properties
		require.NotNil(t, pp.PayloadFormat)
		require.EqualValues(t, 1, *pp.PayloadFormat, "[MQTT-3.3.2-4] v5")
		require.Equal(t, "application/json", pp.ContentType, "[MQTT-3.3.2-20] v5")
		require.Equal(t, "pf/reply", pp.ResponseTopic, "[MQTT-3.3.2-15] v5")
		require.Equal(t, []byte{0xff, 0, 7}, pp.CorrelationData, "[MQTT-3.3.2-16] v5")
		require.Equal(t, user, pp.User, "[MQTT-3.3.2-17], [MQTT-3.3.2-18] v5")
	}
	sub := pahoID(t, addr, "pfsub")
	sub.sub(t, paho.SubscribeOptions{Topic: "pf/#", QoS: 2})
	off := dialPaho(t, addr, &paho.Connect{ClientID: "pfoff", CleanStart: true,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	off.sub(t, paho.SubscribeOptions{Topic: "pf/#", QoS: 2})
	require.NoError(t, off.Disconnect(&paho.Disconnect{}))
	pub := pahoID(t, addr, "pfpub")
	for qos := byte(0); qos <= 2; qos++ {
		pub.pub(t, &paho.Publish{Topic: "pf/t", QoS: qos, Payload: []byte(`{"q":1}`), Properties: props()})
		check(sub.next(t))
	}
	pr := props()
	pr.MessageExpiry = u32(100)
	pub.pub(t, &paho.Publish{Topic: "pf/r", QoS: 1, Retain: true, Payload: []byte(`{}`), Properties: pr})
	check(sub.next(t))
	late := pahoID(t, addr, "pflate")
	late.sub(t, paho.SubscribeOptions{Topic: "pf/r", QoS: 1})
	p := late.next(t)
	check(p)
	require.NotNil(t, p.Properties.MessageExpiry)
	require.LessOrEqual(t, *p.Properties.MessageExpiry, uint32(100), "[MQTT-3.3.2-6] v5")
	off = dialPaho(t, addr, &paho.Connect{ClientID: "pfoff", CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	for range 3 { // the QoS 0 one is not queued offline
		p := off.next(t)
		if p.QoS == 0 {
			continue
		}
		check(p)
	}
}

// Request/response: the Response Topic and Correlation Data of a request
// let a responder answer it [MQTT-3.3.2-15], [MQTT-3.3.2-16] v5; without
// Request Response Information the CONNACK has no Response Information
// [MQTT-3.1.2-28] v5.
func TestConformance_RequestResponse(t *testing.T) {
	_, addr := startConformance(t, nil)
	requester := pahoID(t, addr, "requester")
	require.Empty(t, requester.ack.Properties.ResponseInfo, "[MQTT-3.1.2-28] v5")
	responder := pahoID(t, addr, "responder")
	responder.sub(t, paho.SubscribeOptions{Topic: "rr/req", QoS: 1})
	requester.sub(t, paho.SubscribeOptions{Topic: "rr/resp/requester", QoS: 1})
	requester.pub(t, &paho.Publish{Topic: "rr/req", QoS: 1, Payload: []byte("ask"),
		Properties: &paho.PublishProperties{ResponseTopic: "rr/resp/requester", CorrelationData: []byte("id-42")}})
	req := responder.next(t)
	responder.pub(t, &paho.Publish{Topic: req.Properties.ResponseTopic, QoS: 1, Payload: []byte("answer"),
		Properties: &paho.PublishProperties{CorrelationData: req.Properties.CorrelationData}})
	resp := requester.next(t)
	require.Equal(t, "answer", string(resp.Payload))
	require.Equal(t, []byte("id-42"), resp.Properties.CorrelationData)
}

// No Local: a client's own messages do not come back on a No Local
// subscription [MQTT-3.8.3-3] v5; subscribe options are per subscription.
func TestConformance_NoLocal(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := pahoID(t, addr, "nolocal")
	c.sub(t, paho.SubscribeOptions{Topic: "nl/a", QoS: 1, NoLocal: true},
		paho.SubscribeOptions{Topic: "nl/b", QoS: 1})
	c.pub(t, &paho.Publish{Topic: "nl/a", QoS: 1, Payload: []byte("own")})
	c.pub(t, &paho.Publish{Topic: "nl/b", QoS: 1, Payload: []byte("echo")})
	p := c.next(t)
	require.Equal(t, "nl/b", p.Topic, "[MQTT-3.8.3-3] v5")
	other := pahoID(t, addr, "nlother")
	other.pub(t, &paho.Publish{Topic: "nl/a", QoS: 1, Payload: []byte("theirs")})
	require.Equal(t, "theirs", string(c.next(t).Payload))
}

// A zero-length client id gets an Assigned Client Identifier
// [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.2.2-16] v5.
func TestConformance_AssignedClientID(t *testing.T) {
	_, addr := startConformance(t, nil)
	a := dialPaho(t, addr, &paho.Connect{CleanStart: true}, nil)
	b := dialPaho(t, addr, &paho.Connect{CleanStart: true}, nil)
	require.NotEmpty(t, a.ack.Properties.AssignedClientID)
	require.NotEqual(t, a.ack.Properties.AssignedClientID, b.ack.Properties.AssignedClientID)
}

// UNSUBSCRIBE: exact filter match only [MQTT-3.10.4-1] v5, no new
// messages afterwards [MQTT-3.10.4-2] v5, UNSUBACK always, with 0x11 for a
// filter that had no subscription [MQTT-3.10.4-4], [MQTT-3.10.4-5],
// [MQTT-3.11.3-1] v5.
func TestConformance_Unsubscribe(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := pahoID(t, addr, "unsub")
	c.sub(t, paho.SubscribeOptions{Topic: "us/+", QoS: 1}, paho.SubscribeOptions{Topic: "us/x", QoS: 1})
	ua, err := c.Unsubscribe(ctxT(t), &paho.Unsubscribe{Topics: []string{"us/x", "us/#", "us/+"}})
	require.NoError(t, err)
	require.Equal(t, []byte{0x00, 0x11, 0x00}, ua.Reasons)
	pub := pahoID(t, addr, "uspub")
	pub.pub(t, &paho.Publish{Topic: "us/x", QoS: 1, Payload: []byte("x")})
	c.sub(t, paho.SubscribeOptions{Topic: "us/marker", QoS: 1, RetainHandling: 2})
	c.Unsubscribe(ctxT(t), &paho.Unsubscribe{Topics: []string{"us/nothing"}})
	marker(t, pub, c, "us/marker")
}

// Message Expiry for a session that is away: a message whose interval runs
// out before delivery begins is dropped [MQTT-3.3.2-5] v5; one that is still
// valid goes out with the interval reduced by the wait [MQTT-3.3.2-6] v5.
func TestConformance_MessageExpiry(t *testing.T) {
	s, addr := startConformance(t, nil)
	conn := func(clean bool) *pahoClient {
		return dialPaho(t, addr, &paho.Connect{ClientID: "msgexp", CleanStart: clean,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	}
	c := conn(true)
	c.sub(t, paho.SubscribeOptions{Topic: "me/#", QoS: 1})
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
	waitFor(t, "the session to be offline", func() bool {
		sess := s.loadedSession("msgexp")
		return sess == nil || !sess.online()
	})
	pub := pahoID(t, addr, "mepub")
	pub.pub(t, &paho.Publish{Topic: "me/short", QoS: 1, Payload: []byte("short"),
		Properties: &paho.PublishProperties{MessageExpiry: u32(1)}})
	pub.pub(t, &paho.Publish{Topic: "me/long", QoS: 1, Payload: []byte("long"),
		Properties: &paho.PublishProperties{MessageExpiry: u32(60)}})
	expired := time.Now().Add(1100 * time.Millisecond)
	time.Sleep(time.Until(expired)) // let the short one's interval pass: what the rule is about
	c = conn(false)
	p := c.next(t)
	require.Equal(t, "long", string(p.Payload), "[MQTT-3.3.2-5] v5")
	require.NotNil(t, p.Properties.MessageExpiry)
	require.Less(t, *p.Properties.MessageExpiry, uint32(60), "[MQTT-3.3.2-6] v5")
	c.none(t, 200*time.Millisecond)
}
