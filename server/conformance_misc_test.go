package server

// Conformance tests over raw sockets for what the paho clients do not let a
// test send or see: packet identifiers, the receiver side of QoS 1 and 2,
// CONNACK and DISCONNECT details, refused CONNECTs.

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/listeners"
	"github.com/stretchr/testify/require"
)

// Packet identifiers and the QoS exchanges, at 5.0 and 3.1.1. SUBACK and
// UNSUBACK echo their request's id [MQTT-2.2.1-6], [MQTT-3.8.4-2] v5,
// [MQTT-2.3.1-7] v3.1.1, with one code per filter in order
// [MQTT-3.8.4-6], [MQTT-3.9.3-1], [MQTT-3.11.3-1] v5. PUBACK, PUBREC and
// PUBCOMP echo the PUBLISH's id [MQTT-2.2.1-5], [MQTT-4.3.2-4],
// [MQTT-4.3.3-8], [MQTT-4.3.3-11] v5. An id acknowledged is a new message
// next time [MQTT-4.3.2-5], [MQTT-4.3.3-12] v5. The broker's own QoS > 0
// PUBLISHes carry distinct non-zero ids [MQTT-2.2.1-4], [MQTT-4.3.2-1] v5,
// its QoS 0 ones none and DUP 0 [MQTT-2.2.1-2], [MQTT-3.3.1-2],
// [MQTT-4.3.1-1] v5, and an inbound DUP is not copied [MQTT-3.3.1-3] v5.
func TestConformance_PacketIdentifiers(t *testing.T) {
	_, addr := startConformance(t, nil)
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		t.Run(v.String(), func(t *testing.T) {
			sub := dialRaw(t, addr, v)
			if v == mqtt.V5 {
				sub.connect("pidsub"+v.String(), true, persistent())
			} else {
				sub.connect("pidsub"+v.String(), false) // a 3.1.1 session that outlives the connection
			}
			ack := sub.subscribe(0x1234, mqtt.Subscription{Filter: "pid/q1", QoS: 1},
				mqtt.Subscription{Filter: "pid/#/bad", QoS: 1}, mqtt.Subscription{Filter: "pid/q0", QoS: 0},
				mqtt.Subscription{Filter: "pid/q2", QoS: 2})
			require.Equal(t, mqtt.ReasonCode(1), ack.ReasonCodes[0])
			require.True(t, ack.ReasonCodes[1].IsError())
			require.Equal(t, []mqtt.ReasonCode{0, 2}, ack.ReasonCodes[2:])

			pub := dialRaw(t, addr, v)
			pub.connect("pidpub"+v.String(), true)
			// QoS 1, DUP set by the publisher: PUBACK with its id; the
			// copy goes out without DUP.
			pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "pid/q1", QoS: 1, PacketID: 77, Dup: true,
				Payload: []byte("a")})
			require.EqualValues(t, 77, pub.expect(mqtt.TypePuback).PacketID)
			pub.publish("pid/q1", "b", mqtt.QoS1, 77, false) // the same id after its PUBACK: new
			require.EqualValues(t, 77, pub.expect(mqtt.TypePuback).PacketID)
			// QoS 2: PUBREC, PUBREL, PUBCOMP, all with its id; then the id again.
			for _, payload := range []string{"c", "d"} {
				pub.publish("pid/q2", payload, mqtt.QoS2, 78, false)
				require.EqualValues(t, 78, pub.expect(mqtt.TypePubrec).PacketID)
				pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 78})
				require.EqualValues(t, 78, pub.expect(mqtt.TypePubcomp).PacketID)
			}
			pub.publish("pid/q0", "e", mqtt.QoS0, 0, false)

			ids := map[uint16]bool{}
			var got []string
			for range 5 {
				p := sub.expect(mqtt.TypePublish)
				got = append(got, string(p.Payload))
				require.False(t, p.Dup, "[MQTT-3.3.1-3] v5")
				if p.QoS == mqtt.QoS0 {
					require.Zero(t, p.PacketID, "[MQTT-2.2.1-2] v5")
					continue
				}
				require.NotZero(t, p.PacketID)
				require.False(t, ids[p.PacketID], "packet id in use twice [MQTT-2.2.1-4] v5")
				ids[p.PacketID] = true
			}
			slices.Sort(got) // three topics: order is per topic only
			require.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
			sub.send(&mqtt.Packet{Type: mqtt.TypePingreq})
			sub.expect(mqtt.TypePingresp) // [MQTT-3.12.4-1] v5

			sub.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 0x4321, Filters: []string{"pid/q1", "none"}})
			ua := sub.expect(mqtt.TypeUnsuback)
			require.EqualValues(t, 0x4321, ua.PacketID, "[MQTT-3.10.4-5] v5")
			if v == mqtt.V5 {
				require.Equal(t, []mqtt.ReasonCode{0, mqtt.NoSubscriptionExisted}, ua.ReasonCodes)
			}
		})
	}
}

// Unsubscribing stops new messages but finishes a QoS 1 delivery already
// under way [MQTT-3.10.4-2], [MQTT-3.10.4-3] v5 and v3.1.1: it is re-sent
// when the session resumes.
func TestConformance_UnsubscribeFinishesInflight(t *testing.T) {
	_, addr := startConformance(t, nil)
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		t.Run(v.String(), func(t *testing.T) {
			id := "unsubinflight" + v.String()
			conn := func(clean bool) *rawClient {
				c := dialRaw(t, addr, v)
				if v == mqtt.V5 {
					c.connect(id, clean, sessionExpiry(60))
				} else {
					c.connect(id, false) // CleanSession 0: the session outlives the connection
				}
				return c
			}
			c := conn(true)
			c.subscribe(1, mqtt.Subscription{Filter: "ui/t", QoS: 1})
			pub := dialRaw(t, addr, v)
			pub.connect("uipub"+v.String(), true)
			pub.publish("ui/t", "under way", mqtt.QoS1, 1, false)
			pub.expect(mqtt.TypePuback)
			p := c.expect(mqtt.TypePublish)
			c.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 2, Filters: []string{"ui/t"}})
			c.expect(mqtt.TypeUnsuback)
			pub.publish("ui/t", "after", mqtt.QoS1, 2, false)
			pub.expect(mqtt.TypePuback)
			c.close()
			c = conn(false)
			r := c.expect(mqtt.TypePublish)
			require.Equal(t, p.PacketID, r.PacketID)
			require.Equal(t, "under way", string(r.Payload))
			c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: r.PacketID})
			c.expectNothing(200 * time.Millisecond)
		})
	}
}

// A refused CONNECT: the CONNACK carries the failure and Session Present
// 0 [MQTT-3.2.2-6] v5, the connection is closed [MQTT-3.2.2-7],
// [MQTT-3.1.4-2] v5, and nothing sent behind the CONNECT is processed
// [MQTT-3.1.4-6] v5, [MQTT-3.1.4-5] v3.1.1.
func TestConformance_RefusedConnectIgnoresTheRest(t *testing.T) {
	_, addr := startConformance(t, nil)
	watch := dialRaw(t, addr, mqtt.V5)
	watch.connect("refwatch", true)
	watch.subscribe(1, mqtt.Subscription{Filter: "ref/#", QoS: 0})

	// 5.0: a Will topic with a wildcard is refused with 0x90.
	c := dialRaw(t, addr, mqtt.V5)
	bad, err := mqtt.Encode(nil, &mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5,
		ClientID: "refused5", CleanStart: true, KeepAlive: 30,
		Will: &mqtt.Will{Topic: "ref/#", Payload: []byte("w")}}}, mqtt.V5)
	require.NoError(t, err)
	after, err := mqtt.Encode(nil, &mqtt.Packet{Type: mqtt.TypePublish, Topic: "ref/x", Payload: []byte("5")}, mqtt.V5)
	require.NoError(t, err)
	c.sendBytes(append(bad, after...))
	ack := c.expect(mqtt.TypeConnack)
	require.True(t, ack.ReasonCode.IsError())
	require.False(t, ack.SessionPresent)
	c.expectClosed()

	// 3.1.1: a zero-length client id with CleanSession = 0.
	c = dialRaw(t, addr, mqtt.V311)
	after, err = mqtt.Encode(nil, &mqtt.Packet{Type: mqtt.TypePublish, Topic: "ref/x", Payload: []byte("3")}, mqtt.V311)
	require.NoError(t, err)
	c.sendBytes(append([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 30, 0, 0}, after...))
	require.Equal(t, mqtt.ClientIdentifierNotValid, c.expect(mqtt.TypeConnack).ReasonCode)
	c.expectClosed()

	watch.publish("ref/marker", "m", mqtt.QoS0, 0, false)
	require.Equal(t, "ref/marker", watch.expect(mqtt.TypePublish).Topic, "a refused client's PUBLISH was routed")
}

// Enhanced authentication is not built: a CONNECT naming an
// Authentication Method gets CONNACK 0x8C and is closed [MQTT-4.12.0-1]
// v5, so no AUTH is ever sent [MQTT-4.12.0-6] v5; an AUTH without one is a
// Protocol Error (MQTT5 §3.15).
func TestConformance_AuthMethodRefused(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.send(&mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5, ClientID: "scram",
		CleanStart: true, KeepAlive: 30}, Properties: mqtt.Properties{AuthMethod: "SCRAM-SHA-256"}})
	ack := c.expect(mqtt.TypeConnack)
	require.Equal(t, mqtt.BadAuthenticationMethod, ack.ReasonCode)
	c.expectClosed()

	c = dialRaw(t, addr, mqtt.V5)
	ack = c.connect("noauth", true)
	require.Empty(t, ack.Properties.AuthMethod, "[MQTT-4.12.0-6] v5")
	c.send(&mqtt.Packet{Type: mqtt.TypeAuth, ReasonCode: mqtt.ReAuthenticate,
		Properties: mqtt.Properties{AuthMethod: "x"}})
	require.Equal(t, mqtt.ProtocolError, c.expect(mqtt.TypeDisconnect).ReasonCode)
	c.expectClosed()
}

// Client ids of 1 to 23 letters and digits are accepted [MQTT-3.1.3-5]
// v5 and v3.1.1, and the accepted CONNECT gets CONNACK 0x00 [MQTT-3.1.4-5]
// v5, [MQTT-3.1.4-4] v3.1.1, with nothing else before it [MQTT-3.2.0-1].
func TestConformance_ClientIDs(t *testing.T) {
	_, addr := startConformance(t, nil)
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		for _, id := range []string{"a", "0123456789abcdefghijXYZ"} {
			c := dialRaw(t, addr, v)
			ack := c.connect(id, true)
			require.Equal(t, mqtt.Success, ack.ReasonCode)
			require.False(t, ack.SessionPresent)
			c.close()
		}
	}
}

// Retain not available: a Will with Retain = 1 is refused with 0x9A
// [MQTT-3.2.2-13] v5, a retained PUBLISH gets DISCONNECT 0x9A (MQTT5
// §3.2.2.3.5). A 3.1.1 wildcard filter refused when wildcards are off
// gets 0x80 [MQTT-3.8.3-2] v3.1.1.
func TestConformance_FeaturesOff(t *testing.T) {
	_, addr := startConformance(t, &Options{RetainNotAvailable: true, WildcardNotAvailable: true})
	c := dialRaw(t, addr, mqtt.V5)
	c.send(&mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5, ClientID: "rna",
		CleanStart: true, KeepAlive: 30, Will: &mqtt.Will{Topic: "w", Retain: true, Payload: []byte("x")}}})
	require.Equal(t, mqtt.RetainNotSupported, c.expect(mqtt.TypeConnack).ReasonCode)
	c.expectClosed()

	c = dialRaw(t, addr, mqtt.V5)
	ack := c.connect("rna", true)
	require.True(t, ack.Properties.Has(mqtt.PropRetainAvailable))
	require.Zero(t, ack.Properties.RetainAvailable)
	c.publish("r", "x", mqtt.QoS0, 0, true)
	require.Equal(t, mqtt.RetainNotSupported, c.expect(mqtt.TypeDisconnect).ReasonCode)
	c.expectClosed()

	c = dialRaw(t, addr, mqtt.V311)
	c.connect("wna", true)
	require.Equal(t, []mqtt.ReasonCode{0x80, 1}, c.subscribe(1, mqtt.Subscription{Filter: "a/+", QoS: 1},
		mqtt.Subscription{Filter: "a/b", QoS: 1}).ReasonCodes)
}

// A PUBREC with a failure code ends the exchange: the same packet id is a
// new message next time [MQTT-4.3.3-9] v5.
func TestConformance_FailedPubrecFreesID(t *testing.T) {
	_, addr := startConformance(t, nil)
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("fpsub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "fp/t", QoS: 0})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("fppub", true)
	c.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "fp/t", QoS: 2, PacketID: 9, Payload: []byte{0xff, 0xfe},
		Properties: mqtt.Properties{PayloadFormat: 1}})
	require.Equal(t, mqtt.PayloadFormatInvalid, c.expect(mqtt.TypePubrec).ReasonCode)
	c.publish("fp/t", "new", mqtt.QoS2, 9, false)
	require.Equal(t, mqtt.Success, c.expect(mqtt.TypePubrec).ReasonCode)
	require.Equal(t, "new", string(sub.expect(mqtt.TypePublish).Payload))
}

// Once a QoS 1 or QoS 2 PUBLISH has gone out, its Message Expiry no longer
// applies: it is re-sent after the expiry passed [MQTT-4.3.3-7] v5.
func TestConformance_NoExpiryOnceSent(t *testing.T) {
	_, addr := startConformance(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("noexp", true, sessionExpiry(60))
	c.subscribe(1, mqtt.Subscription{Filter: "ne/t", QoS: 2})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("nepub", true)
	pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "ne/t", QoS: 2, PacketID: 1, Payload: []byte("x"),
		Properties: mqtt.Properties{MessageExpiry: 1}})
	pub.expect(mqtt.TypePubrec)
	p := c.expect(mqtt.TypePublish)
	expired := time.Now().Add(1100 * time.Millisecond)
	c.close()
	time.Sleep(time.Until(expired)) // let the message's expiry pass: what the rule is about
	c = dialRaw(t, addr, mqtt.V5)
	c.connect("noexp", false, sessionExpiry(60))
	r := c.expect(mqtt.TypePublish)
	require.True(t, r.Dup)
	require.Equal(t, p.PacketID, r.PacketID)
	require.Equal(t, "x", string(r.Payload))
}

// Over WebSocket, MQTT packets need not line up with frames: a CONNECT
// split over two binary frames and two packets in one frame are read as
// one byte stream [MQTT-6.0.0-2], and the subprotocol answered is "mqtt"
// [MQTT-6.0.0-4].
func TestConformance_WebSocketFraming(t *testing.T) {
	s, err := New(&Options{Logger: testLogger()})
	require.NoError(t, err)
	l := listeners.NewWebSocket("ws", "127.0.0.1:0", "/mqtt", nil)
	require.NoError(t, s.AddListener(l))
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = s.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+l.Address()+"/mqtt",
		&websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: http.DefaultClient})
	require.NoError(t, err)
	require.Equal(t, "mqtt", resp.Header.Get("Sec-WebSocket-Protocol"))
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	t.Cleanup(func() { nc.Close() })
	c := wrapRaw(t, nc, mqtt.V5)

	enc := func(p *mqtt.Packet) []byte {
		b, err := mqtt.Encode(nil, p, mqtt.V5)
		require.NoError(t, err)
		return b
	}
	connect := enc(&mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5,
		ClientID: "wsframes", CleanStart: true, KeepAlive: 30}})
	require.NoError(t, ws.Write(ctx, websocket.MessageBinary, connect[:5]))
	require.NoError(t, ws.Write(ctx, websocket.MessageBinary, connect[5:]))
	require.Equal(t, mqtt.Success, c.expect(mqtt.TypeConnack).ReasonCode)
	two := append(enc(&mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: 3,
		Subscriptions: []mqtt.Subscription{{Filter: "wsf/#"}}}), enc(&mqtt.Packet{Type: mqtt.TypePingreq})...)
	require.NoError(t, ws.Write(ctx, websocket.MessageBinary, two))
	require.EqualValues(t, 3, c.expect(mqtt.TypeSuback).PacketID)
	c.expect(mqtt.TypePingresp)
}
