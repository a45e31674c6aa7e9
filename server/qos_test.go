package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// Every QoS pair, publisher QoS × subscription QoS, both protocol versions:
// the delivery uses the lower QoS [MQTT-3.8.4-8] v5 and the full exchange
// of that QoS runs both ways.
func TestQoS_Flows(t *testing.T) {
	_, addr := startServer(t, nil)
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		for pubQoS := mqtt.QoS0; pubQoS <= mqtt.QoS2; pubQoS++ {
			for subQoS := mqtt.QoS0; subQoS <= mqtt.QoS2; subQoS++ {
				t.Run(fmt.Sprintf("v%s/pub%d/sub%d", v, pubQoS, subQoS), func(t *testing.T) {
					topic := fmt.Sprintf("flow/%d/%d/%d", v, pubQoS, subQoS)
					sub := dialRaw(t, addr, v)
					sub.connect("sub-"+topic, true)
					sub.subscribe(1, mqtt.Subscription{Filter: topic, QoS: subQoS})
					pub := dialRaw(t, addr, v)
					pub.connect("pub-"+topic, true)

					pub.publish(topic, "payload", pubQoS, 7, false)
					switch pubQoS { // [MQTT-3.3.4-1] v5
					case mqtt.QoS1:
						require.EqualValues(t, 7, pub.expect(mqtt.TypePuback).PacketID)
					case mqtt.QoS2:
						require.EqualValues(t, 7, pub.expect(mqtt.TypePubrec).PacketID)
						pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 7})
						require.EqualValues(t, 7, pub.expect(mqtt.TypePubcomp).PacketID)
					}

					m := sub.expect(mqtt.TypePublish)
					want := min(pubQoS, subQoS)
					require.Equal(t, want, m.QoS)
					require.Equal(t, "payload", string(m.Payload))
					require.False(t, m.Dup, "[MQTT-3.3.1-3] a first delivery has DUP 0")
					switch want {
					case mqtt.QoS0:
						require.Zero(t, m.PacketID)
					case mqtt.QoS1:
						require.NotZero(t, m.PacketID)
						sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})
					case mqtt.QoS2:
						sub.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: m.PacketID})
						rel := sub.expect(mqtt.TypePubrel) // [MQTT-4.3.3-4] v5
						require.Equal(t, m.PacketID, rel.PacketID)
						sub.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: m.PacketID})
					}
					sub.expectNothing(50 * time.Millisecond)
				})
			}
		}
	}
}

// A QoS 2 PUBLISH re-sent before PUBREL is acknowledged again but not
// delivered again [MQTT-4.3.3-10] v5.
func TestQoS2_InboundDuplicate(t *testing.T) {
	_, addr := startServer(t, nil)
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "q2", QoS: mqtt.QoS0})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	pub.publish("q2", "once", mqtt.QoS2, 9, false)
	pub.expect(mqtt.TypePubrec)
	pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "q2", Payload: []byte("once"), QoS: mqtt.QoS2, PacketID: 9, Dup: true})
	pub.expect(mqtt.TypePubrec)
	pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 9})
	require.Equal(t, mqtt.Success, pub.expect(mqtt.TypePubcomp).ReasonCode)
	// After PUBCOMP the id is new again [MQTT-4.3.3-12] v5.
	pub.publish("q2", "twice", mqtt.QoS2, 9, false)
	pub.expect(mqtt.TypePubrec)

	require.Equal(t, "once", string(sub.expect(mqtt.TypePublish).Payload))
	require.Equal(t, "twice", string(sub.expect(mqtt.TypePublish).Payload))
	sub.expectNothing(50 * time.Millisecond)

	// A PUBREL for an unknown id gets PUBCOMP 0x92.
	pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 77})
	require.Equal(t, mqtt.PacketIdentifierNotFound, pub.expect(mqtt.TypePubcomp).ReasonCode)
}

// More unreleased QoS 2 messages than our Receive Maximum: DISCONNECT 0x93.
func TestReceiveMaximumExceeded(t *testing.T) {
	s, addr := startServer(t, &Options{ReceiveMaximum: 3})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("greedy", true)
	for pid := uint16(1); pid <= 3; pid++ {
		c.publish("rm", "x", mqtt.QoS2, pid, false)
		c.expect(mqtt.TypePubrec)
	}
	c.publish("rm", "x", mqtt.QoS2, 4, false)
	d := c.expect(mqtt.TypeDisconnect)
	require.Equal(t, mqtt.ReceiveMaximumExceeded, d.ReasonCode)
	c.expectClosed()
	waitFor(t, "quota disconnect", func() bool { return s.Metrics().Disconnects[CauseQuota] == 1 })
}

// The broker keeps at most the client's Receive Maximum QoS 1/2 messages
// unacknowledged [MQTT-3.3.4-9] v5, and sends more as acks come in, in order.
func TestOutboundWindow(t *testing.T) {
	_, addr := startServer(t, nil)
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("slow", true, func(p *mqtt.Packet) { p.Properties.ReceiveMaximum = 2 })
	sub.subscribe(1, mqtt.Subscription{Filter: "w", QoS: mqtt.QoS1})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("fast", true)
	for i := range 5 {
		pub.publish("w", fmt.Sprint(i), mqtt.QoS1, uint16(i+1), false)
		pub.expect(mqtt.TypePuback)
	}
	a, b := sub.expect(mqtt.TypePublish), sub.expect(mqtt.TypePublish)
	require.Equal(t, "0", string(a.Payload))
	require.Equal(t, "1", string(b.Payload))
	sub.expectNothing(100 * time.Millisecond)
	for i := 2; i < 5; i++ {
		sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: a.PacketID})
		a, b = b, sub.expect(mqtt.TypePublish)
		require.Equal(t, fmt.Sprint(i), string(b.Payload), "[MQTT-4.6.0-5] order kept")
	}
	require.NotEqual(t, a.PacketID, b.PacketID, "no two in-flight messages share an id")
}

// Unacknowledged messages are re-sent with DUP and their original packet
// ids when the session resumes [MQTT-4.4.0-1] v5, before new ones; a
// PUBREL in progress is re-sent as PUBREL.
func TestRetransmitOnReconnect(t *testing.T) {
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		t.Run("v"+v.String(), func(t *testing.T) {
			s, addr := startServer(t, nil)
			sub := dialRaw(t, addr, v)
			sub.connect("keeper", false, sessionExpiry(60))
			sub.subscribe(1, mqtt.Subscription{Filter: "r/1", QoS: mqtt.QoS1}, mqtt.Subscription{Filter: "r/2", QoS: mqtt.QoS2})
			pub := dialRaw(t, addr, v)
			pub.connect("pusher", true)
			pub.publish("r/1", "one", mqtt.QoS1, 1, false)
			pub.expect(mqtt.TypePuback)
			pub.publish("r/2", "two", mqtt.QoS2, 2, false)
			pub.expect(mqtt.TypePubrec)
			pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 2})
			pub.expect(mqtt.TypePubcomp)

			m1 := sub.expect(mqtt.TypePublish)
			m2 := sub.expect(mqtt.TypePublish)
			sub.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: m2.PacketID})
			sub.expect(mqtt.TypePubrel)
			sub.close() // m1 unacknowledged, m2 waiting for PUBCOMP
			waitFor(t, "offline", func() bool { return s.Metrics().Sessions.Online == 1 })

			pub.publish("r/1", "three", mqtt.QoS1, 3, false)
			pub.expect(mqtt.TypePuback)

			sub = dialRaw(t, addr, v)
			require.True(t, sub.connect("keeper", false, sessionExpiry(60)).SessionPresent)
			r1 := sub.expect(mqtt.TypePublish)
			require.True(t, r1.Dup, "[MQTT-3.3.1-1] re-delivery has DUP")
			require.Equal(t, m1.PacketID, r1.PacketID)
			require.Equal(t, "one", string(r1.Payload))
			rel := sub.expect(mqtt.TypePubrel)
			require.Equal(t, m2.PacketID, rel.PacketID)
			r3 := sub.expect(mqtt.TypePublish)
			require.False(t, r3.Dup)
			require.Equal(t, "three", string(r3.Payload))
		})
	}
}

// Messages for an offline session wait in its queue, up to MaxQueued; the
// drop policy picks what goes, and every drop is counted.
func TestOfflineQueue(t *testing.T) {
	for _, tc := range []struct {
		policy DropPolicy
		want   []string
	}{
		{DropOldest, []string{"2", "3", "4"}},
		{DropNewest, []string{"0", "1", "2"}},
	} {
		t.Run(fmt.Sprint(tc.policy), func(t *testing.T) {
			s, addr := startServer(t, &Options{MaxQueued: 3, DropPolicy: tc.policy})
			sub := dialRaw(t, addr, mqtt.V5)
			sub.connect("away", false, sessionExpiry(60))
			sub.subscribe(1, mqtt.Subscription{Filter: "q", QoS: mqtt.QoS1})
			sub.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
			sub.expectClosed()
			waitFor(t, "offline", func() bool { return s.Metrics().Sessions.Online == 0 })

			pub := dialRaw(t, addr, mqtt.V5)
			pub.connect("pub", true)
			for i := range 5 {
				pub.publish("q", fmt.Sprint(i), mqtt.QoS1, uint16(i+1), false)
				pub.expect(mqtt.TypePuback)
			}
			require.EqualValues(t, 2, s.Metrics().Messages.Dropped[DropQueueFull])

			sub = dialRaw(t, addr, mqtt.V5)
			require.True(t, sub.connect("away", false, sessionExpiry(60)).SessionPresent)
			for _, w := range tc.want {
				m := sub.expect(mqtt.TypePublish)
				require.Equal(t, w, string(m.Payload))
				sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})
			}
			sub.expectNothing(50 * time.Millisecond)
		})
	}
}

// A session ends when its expiry interval passes offline [MQTT-4.1.0-2] v5;
// a zero interval ends it with the connection.
func TestSessionExpiry(t *testing.T) {
	s, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("brief", false, sessionExpiry(1))
	c.subscribe(1, mqtt.Subscription{Filter: "x", QoS: mqtt.QoS1})
	c.close()
	waitFor(t, "offline", func() bool { return s.Metrics().Sessions.Online == 0 })
	require.EqualValues(t, 1, s.Metrics().Sessions.Total)
	waitFor(t, "expired", func() bool { return s.Metrics().Sessions.Total == 0 })
	require.EqualValues(t, 0, s.Metrics().Subscriptions)

	c = dialRaw(t, addr, mqtt.V5)
	require.False(t, c.connect("brief", false).SessionPresent)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	c.expectClosed()
	waitFor(t, "ended with the connection", func() bool { return s.Metrics().Sessions.Total == 0 })

	// v3 clean session 0 keeps the session for SessionExpiryV3.
	c = dialRaw(t, addr, mqtt.V311)
	require.False(t, c.connect("v3", false).SessionPresent)
	c.close()
	c = dialRaw(t, addr, mqtt.V311)
	require.True(t, c.connect("v3", false).SessionPresent)
}
