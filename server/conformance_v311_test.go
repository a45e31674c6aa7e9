package server

// Conformance tests for MQTT 3.1.1 against an independent client
// (paho.mqtt.golang) over real loopback sockets, and the raw codec client
// for what paho does not let a test send (a zero-length client id with a
// persistent session, an unsupported protocol level, silence).

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// paho3Client is a paho.mqtt.golang (3.1.1) connection with what it
// received and its socket, which a test may close to simulate a network
// failure.
type paho3Client struct {
	pahov3.Client
	nc  net.Conn
	got chan pahov3.Message
	ack *pahov3.ConnectToken
}

// dialPaho3 connects a 3.1.1 client; opt may set more options (a Will).
func dialPaho3(t *testing.T, addr, id string, clean bool, opt func(*pahov3.ClientOptions)) *paho3Client {
	t.Helper()
	pc := &paho3Client{got: make(chan pahov3.Message, 1000)}
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).SetConnectTimeout(testTimeout).
		SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) { pc.got <- m }).
		SetCustomOpenConnectionFn(func(u *url.URL, _ pahov3.ClientOptions) (net.Conn, error) {
			nc, err := net.DialTimeout("tcp", u.Host, testTimeout)
			pc.nc = nc
			return nc, err
		})
	if opt != nil {
		opt(o)
	}
	pc.Client = pahov3.NewClient(o)
	pc.ack = pc.Connect().(*pahov3.ConnectToken)
	require.True(t, pc.ack.WaitTimeout(testTimeout), "connect timed out")
	require.NoError(t, pc.ack.Error())
	t.Cleanup(func() { pc.Disconnect(0) })
	return pc
}

// disconnect sends DISCONNECT and returns once the broker has let go of the connection.
// paho's Disconnect(0) is no such step: it returns at once, before the client has even queued
// its DISCONNECT, so the client stays connected for a moment; a message published then reaches
// this connection, which receives and acknowledges it, and it is rightly not queued for the
// session's next connection. Disconnect with a quiesce time returns once the DISCONNECT is
// written and the client's goroutines have stopped; the broker then sees the end.
func (pc *paho3Client) disconnect(t *testing.T, srv *Server, id string) {
	t.Helper()
	pc.Disconnect(uint(testTimeout / time.Millisecond))
	waitFor(t, id+" offline", func() bool {
		sess := srv.loadedSession(id)
		return sess == nil || !sess.online()
	})
}

func wait3(t *testing.T, tok pahov3.Token) {
	t.Helper()
	require.True(t, tok.WaitTimeout(testTimeout), "timed out")
	require.NoError(t, tok.Error())
}

func (pc *paho3Client) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	wait3(t, pc.Subscribe(filter, qos, nil))
}

func (pc *paho3Client) pub(t *testing.T, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	wait3(t, pc.Publish(topic, qos, retain, payload))
}

func (pc *paho3Client) next(t *testing.T) pahov3.Message {
	t.Helper()
	select {
	case m := <-pc.got:
		return m
	case <-time.After(testTimeout):
		t.Fatal("no message received")
		return nil
	}
}

// marker3 publishes on topic and waits for sub to receive it; anything
// routed to sub before it has then arrived (ordering [MQTT-4.6.0-6] v3.1.1).
// Any other message first fails the test.
func marker3(t *testing.T, pub, sub *paho3Client, topic string) {
	t.Helper()
	pub.pub(t, topic, 1, false, "marker")
	m := sub.next(t)
	require.Equal(t, topic+" marker", m.Topic()+" "+string(m.Payload()), "unexpected message before the marker")
}

// Retained messages in 3.1.1: stored with their QoS [MQTT-3.3.1-5] v3.1.1,
// sent to new subscriptions with RETAIN = 1 [MQTT-3.3.1-6], [MQTT-3.3.1-8]
// v3.1.1, forwarded live with RETAIN = 0 [MQTT-3.3.1-9] v3.1.1; a QoS 0 one
// replaces the last [MQTT-3.3.1-7] v3.1.1; RETAIN = 0 leaves it
// [MQTT-3.3.1-12] v3.1.1; an empty one is forwarded and clears it
// [MQTT-3.3.1-10], [MQTT-3.3.1-11] v3.1.1; retained messages outlive the
// publisher's session [MQTT-3.1.2-7] v3.1.1.
func TestConformanceV311_Retained(t *testing.T) {
	_, addr := startConformance(t, nil)
	live := dialPaho3(t, addr, "v3live", true, nil)
	live.sub(t, "r3/#", 2)
	pub := dialPaho3(t, addr, "v3pub", true, nil)
	pub.pub(t, "r3/a", 2, true, "first")
	pub.pub(t, "r3/a", 0, true, "qos0")
	pub.pub(t, "r3/a", 1, false, "plain")
	pub.pub(t, "r3/b", 1, true, "b")
	for _, want := range []string{"first", "qos0", "plain", "b"} {
		m := live.next(t)
		require.Equal(t, want, string(m.Payload()))
		require.False(t, m.Retained(), "[MQTT-3.3.1-9] v3.1.1")
	}
	pub.Disconnect(0) // its session ends; the retained messages stay

	late := dialPaho3(t, addr, "v3late", true, nil)
	late.sub(t, "r3/+", 2)
	got := map[string]pahov3.Message{}
	for range 2 {
		m := late.next(t)
		got[m.Topic()] = m
	}
	require.Equal(t, "qos0", string(got["r3/a"].Payload()), "[MQTT-3.3.1-7], [MQTT-3.3.1-12] v3.1.1")
	require.True(t, got["r3/a"].Retained(), "[MQTT-3.3.1-8] v3.1.1")
	require.EqualValues(t, 0, got["r3/a"].Qos())
	require.EqualValues(t, 1, got["r3/b"].Qos(), "stored with its QoS [MQTT-3.3.1-5] v3.1.1")

	// Re-subscribing sends them again [MQTT-3.8.4-3] v3.1.1.
	late.sub(t, "r3/+", 2)
	for range 2 {
		require.True(t, late.next(t).Retained())
	}

	clear := dialPaho3(t, addr, "v3clear", true, nil)
	clear.pub(t, "r3/b", 1, true, "")
	m := live.next(t)
	require.Empty(t, m.Payload(), "[MQTT-3.3.1-10] v3.1.1")
	m = late.next(t)
	require.Empty(t, m.Payload())
	require.False(t, m.Retained())
	fresh := dialPaho3(t, addr, "v3fresh", true, nil)
	fresh.sub(t, "r3/b", 1)
	marker3(t, clear, fresh, "r3/b")
}

// Wills in 3.1.1: published when the connection drops [MQTT-3.1.2-8]
// v3.1.1, with its Retain flag [MQTT-3.1.2-16], [MQTT-3.1.2-17] v3.1.1;
// never after DISCONNECT [MQTT-3.1.2-10], [MQTT-3.14.4-3] v3.1.1; nothing
// without a Will flag [MQTT-3.1.2-12] v3.1.1.
func TestConformanceV311_Will(t *testing.T) {
	srv, addr := startConformance(t, nil)
	watch := dialPaho3(t, addr, "w3watch", true, nil)
	watch.sub(t, "w3/#", 1)
	withWill := func(id string, retain bool) func(*pahov3.ClientOptions) {
		return func(o *pahov3.ClientOptions) { o.SetWill("w3/"+id, "bye "+id, 1, retain) }
	}
	dialPaho3(t, addr, "nowill", true, nil).nc.Close()
	normal := dialPaho3(t, addr, "normal", true, withWill("normal", false))
	normal.disconnect(t, srv, "normal")
	dialPaho3(t, addr, "dropped", true, withWill("dropped", false)).nc.Close()
	m := watch.next(t)
	require.Equal(t, "w3/dropped", m.Topic(), "[MQTT-3.1.2-12], [MQTT-3.14.4-3] v3.1.1")
	require.Equal(t, "bye dropped", string(m.Payload()))
	require.False(t, m.Retained(), "[MQTT-3.1.2-16] v3.1.1")

	dialPaho3(t, addr, "kept", true, withWill("kept", true)).nc.Close()
	require.Equal(t, "w3/kept", watch.next(t).Topic())
	late := dialPaho3(t, addr, "w3late", true, nil)
	late.sub(t, "w3/kept", 1)
	m = late.next(t)
	require.True(t, m.Retained(), "[MQTT-3.1.2-17] v3.1.1")
	require.Equal(t, "bye kept", string(m.Payload()))
}

// A persistent 3.1.1 session: Session Present on resume [MQTT-3.2.2-2]
// v3.1.1, not on a new one [MQTT-3.2.2-3] v3.1.1, the QoS 1 and 2 messages
// queued while away [MQTT-3.1.2-4], [MQTT-3.1.2-5] v3.1.1, in order
// [MQTT-4.6.0-6] v3.1.1; CleanSession = 1 discards it [MQTT-3.1.2-6],
// [MQTT-3.2.2-1] v3.1.1.
//
// The publisher starts only once the broker has seen the subscriber leave: before that the
// messages go to the subscriber's connection, not to the queue this test is about.
func TestConformanceV311_OfflineQueue(t *testing.T) {
	srv, addr := startConformance(t, nil)
	c := dialPaho3(t, addr, "q3", false, nil)
	require.False(t, c.ack.SessionPresent(), "[MQTT-3.2.2-3] v3.1.1")
	c.sub(t, "q3/#", 2)
	c.disconnect(t, srv, "q3")
	pub := dialPaho3(t, addr, "q3pub", true, nil)
	for i := range 6 {
		pub.pub(t, "q3/t", byte(1+i%2), false, fmt.Sprint(i))
	}
	c = dialPaho3(t, addr, "q3", false, nil)
	require.True(t, c.ack.SessionPresent(), "[MQTT-3.2.2-2] v3.1.1")
	for i := range 6 {
		m := c.next(t)
		require.Equal(t, fmt.Sprint(i), string(m.Payload()))
		require.EqualValues(t, 1+i%2, m.Qos())
	}
	c.disconnect(t, srv, "q3")
	pub.pub(t, "q3/t", 1, false, "lost")
	c = dialPaho3(t, addr, "q3", true, nil)
	require.False(t, c.ack.SessionPresent(), "[MQTT-3.2.2-1] v3.1.1")
	c.sub(t, "q3/marker", 1)
	marker3(t, pub, c, "q3/marker")
}

// Overlapping 3.1.1 subscriptions: delivered at the highest QoS of the
// matching subscriptions [MQTT-3.3.5-1] v3.1.1, each copy no higher than
// its subscription grants [MQTT-3.8.4-6] v3.1.1.
func TestConformanceV311_OverlappingSubscriptions(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialPaho3(t, addr, "ov3", true, nil)
	c.sub(t, "ov3/#", 2)
	c.sub(t, "ov3/+", 1)
	pub := dialPaho3(t, addr, "ov3pub", true, nil)
	pub.pub(t, "ov3/t", 2, false, "m")
	c.sub(t, "ov3marker", 0)
	pub.pub(t, "ov3marker", 0, false, "marker")
	var qos []byte
	for {
		m := c.next(t)
		if m.Topic() == "ov3marker" {
			break
		}
		qos = append(qos, m.Qos())
	}
	require.NotEmpty(t, qos)
	require.EqualValues(t, 2, slices.Max(qos), "[MQTT-3.3.5-1] v3.1.1")
}

// Redelivery in 3.1.1: an unacknowledged QoS 1 and QoS 2 PUBLISH come
// again with DUP = 1 and their ids when the session resumes
// [MQTT-4.4.0-1], [MQTT-3.3.1-1] v3.1.1, and a PUBREL for one already
// received [MQTT-4.3.3-1] v3.1.1. One topic: order is kept per topic
// [MQTT-4.6.0-6] v3.1.1.
func TestConformanceV311_Redelivery(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V311)
	c.connect("rd3", false)
	c.subscribe(1, mqtt.Subscription{Filter: "rd3/#", QoS: 2})
	pub := dialPaho3(t, addr, "rd3pub", true, nil)
	pub.pub(t, "rd3/t", 1, false, "a")
	pub.pub(t, "rd3/t", 2, false, "b")
	pub.pub(t, "rd3/t", 2, false, "c")
	a := c.expect(mqtt.TypePublish)
	b := c.expect(mqtt.TypePublish)
	cc := c.expect(mqtt.TypePublish)
	require.False(t, a.Dup || b.Dup || cc.Dup, "[MQTT-4.3.2-1], [MQTT-4.3.3-1] v3.1.1")
	c.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: cc.PacketID})
	c.expect(mqtt.TypePubrel)
	c.close()

	c = dialRaw(t, addr, mqtt.V311)
	ack := c.connect("rd3", false)
	require.True(t, ack.SessionPresent)
	ra := c.expect(mqtt.TypePublish)
	rb := c.expect(mqtt.TypePublish)
	require.True(t, ra.Dup && rb.Dup, "[MQTT-3.3.1-1] v3.1.1")
	require.Equal(t, []uint16{a.PacketID, b.PacketID}, []uint16{ra.PacketID, rb.PacketID}, "[MQTT-4.4.0-1] v3.1.1")
	require.Equal(t, cc.PacketID, c.expect(mqtt.TypePubrel).PacketID)
}

// Keep alive in 3.1.1: silence for 1.5 × Keep Alive closes the connection
// (no DISCONNECT in 3.1.1) and publishes the Will [MQTT-3.1.2-24] v3.1.1.
func TestConformanceV311_KeepAlive(t *testing.T) {
	_, addr := startConformance(t, nil)
	watch := dialPaho3(t, addr, "ka3watch", true, nil)
	watch.sub(t, "ka3/#", 1)
	c := dialRaw(t, addr, mqtt.V311)
	start := time.Now()
	c.connect("ka3", true, func(p *mqtt.Packet) {
		p.Connect.KeepAlive = 1
		p.Connect.Will = &mqtt.Will{Topic: "ka3/gone", QoS: 1, Payload: []byte("x")}
	})
	c.expectClosed()
	require.GreaterOrEqual(t, time.Since(start), 1400*time.Millisecond, "closed before 1.5 × keep alive")
	require.Equal(t, "ka3/gone", watch.next(t).Topic())
}

// Client ids in 3.1.1: a zero-length id with CleanSession = 1 gets one of
// the broker's making [MQTT-3.1.3-6] v3.1.1; with CleanSession = 0 it is
// refused with return code 0x02 and the connection closed [MQTT-3.1.3-8],
// [MQTT-3.2.2-4], [MQTT-3.2.2-5] v3.1.1.
func TestConformanceV311_ZeroLengthClientID(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialPaho3(t, addr, "", true, nil)
	require.False(t, c.ack.SessionPresent())
	c.pub(t, "z3/t", 1, false, "works")

	r := dialRaw(t, addr, mqtt.V311)
	// CONNECT "MQTT" level 4, no flags (CleanSession = 0), keep alive 30,
	// empty client id: the codec refuses to encode it.
	r.sendBytes([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 30, 0, 0})
	ack := r.expect(mqtt.TypeConnack)
	require.Equal(t, mqtt.ClientIdentifierNotValid, ack.ReasonCode, "return code 0x02")
	require.False(t, ack.SessionPresent)
	r.expectClosed()
}

// An unsupported protocol level gets return code 0x01 and the connection
// is closed [MQTT-3.1.2-2] v3.1.1.
func TestConformanceV311_UnsupportedProtocolLevel(t *testing.T) {
	_, addr := startConformance(t, nil)
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	defer nc.Close()
	// CONNECT, "MQTT", level 9, clean session, keep alive 30, client id "x".
	_, err = nc.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 9, 0x02, 0, 30, 0, 1, 'x'})
	require.NoError(t, err)
	_ = nc.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 8)
	n, _ := nc.Read(buf)
	require.Equal(t, []byte{0x20, 2, 0, 1}, buf[:n])
	n, err = nc.Read(buf)
	require.Zero(t, n)
	require.Error(t, err, "connection left open")
}

// `$` topics: a filter starting with a wildcard does not match them
// [MQTT-4.7.2-1] v3.1.1, an explicit one does, and a client may publish
// there (only $SYS is reserved to the broker).
func TestConformanceV311_DollarTopics(t *testing.T) {
	_, addr := startConformance(t, nil)
	all := dialPaho3(t, addr, "d3all", true, nil)
	all.sub(t, "#", 1)
	plus := dialPaho3(t, addr, "d3plus", true, nil)
	plus.sub(t, "+/d3", 1)
	dollar := dialPaho3(t, addr, "d3dollar", true, nil)
	dollar.sub(t, "$app/#", 1)
	pub := dialPaho3(t, addr, "d3pub", true, nil)
	pub.pub(t, "$app/d3", 1, false, "hidden")
	require.Equal(t, "hidden", string(dollar.next(t).Payload()))
	marker3(t, pub, all, "d3/marker")
	pub.pub(t, "x/d3", 1, false, "marker")
	require.Equal(t, "x/d3", plus.next(t).Topic(), "[MQTT-4.7.2-1] v3.1.1")
}

// SUBSCRIBE in 3.1.1: one return code per filter, in order, 0x80 for a
// filter that cannot be granted [MQTT-3.8.4-5], [MQTT-3.9.3-1],
// [MQTT-3.9.3-2] v3.1.1; UNSUBACK even for a filter with no subscription
// [MQTT-3.10.4-4], [MQTT-3.10.4-5] v3.1.1.
func TestConformanceV311_SubscribeUnsubscribe(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V311)
	c.connect("su3", true)
	ack := c.subscribe(7, mqtt.Subscription{Filter: "a/b", QoS: 2}, mqtt.Subscription{Filter: "a/#/b", QoS: 1},
		mqtt.Subscription{Filter: "a/+", QoS: 1})
	require.Equal(t, []mqtt.ReasonCode{2, 0x80, 1}, ack.ReasonCodes)
	c.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 8, Filters: []string{"nothing/here"}})
	require.EqualValues(t, 8, c.expect(mqtt.TypeUnsuback).PacketID)
}

// UNSUBSCRIBE in 3.1.1: filters are compared as strings, without wildcard
// matching [MQTT-3.10.4-1] v3.1.1; several in one packet are handled in turn
// with one UNSUBACK [MQTT-3.10.4-6] v3.1.1; no new messages come for a
// removed subscription [MQTT-3.10.4-2] v3.1.1.
func TestConformanceV311_Unsubscribe(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialPaho3(t, addr, "u3", true, nil)
	c.sub(t, "u3/+", 1)
	c.sub(t, "u3/x", 1)
	wait3(t, c.Unsubscribe("u3/x", "u3/#"))
	pub := dialPaho3(t, addr, "u3pub", true, nil)
	pub.pub(t, "u3/x", 1, false, "once")
	require.Equal(t, "once", string(c.next(t).Payload()), "u3/+ stays: u3/# is not a match for it")
	wait3(t, c.Unsubscribe("u3/+"))
	pub.pub(t, "u3/x", 1, false, "gone")
	c.sub(t, "u3m", 1)
	marker3(t, pub, c, "u3m")
}
