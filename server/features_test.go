package server

import (
	"slices"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// Overlapping subscriptions give one copy at the highest QoS with every
// subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-4] v5; No Local skips
// the publisher's own messages [MQTT-3.8.3-3] v5; Retain As Published keeps
// RETAIN on forwarded copies [MQTT-3.3.1-13] v5.
func TestSubscriptionOptions(t *testing.T) {
	_, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("opts", true)
	sub := func(pid uint16, id uint32, s mqtt.Subscription) {
		c.send(&mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: pid, Subscriptions: []mqtt.Subscription{s},
			Properties: mqtt.Properties{SubscriptionIDs: []uint32{id}}})
		require.Equal(t, mqtt.ReasonCode(s.QoS), c.expect(mqtt.TypeSuback).ReasonCodes[0])
	}
	sub(1, 11, mqtt.Subscription{Filter: "a/+", QoS: mqtt.QoS0})
	sub(2, 12, mqtt.Subscription{Filter: "a/#", QoS: mqtt.QoS1})
	sub(3, 13, mqtt.Subscription{Filter: "mine/#", QoS: mqtt.QoS1, NoLocal: true})
	sub(4, 14, mqtt.Subscription{Filter: "rap/#", QoS: mqtt.QoS0, RetainAsPublished: true})

	other := dialRaw(t, addr, mqtt.V5)
	other.connect("other", true)
	other.publish("a/b", "x", mqtt.QoS1, 1, false)
	other.expect(mqtt.TypePuback)
	m := c.expect(mqtt.TypePublish)
	require.Equal(t, mqtt.QoS1, m.QoS)
	ids := slices.Clone(m.Properties.SubscriptionIDs)
	slices.Sort(ids)
	require.Equal(t, []uint32{11, 12}, ids)
	c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})

	c.publish("mine/x", "self", mqtt.QoS0, 0, false)
	other.publish("mine/x", "from other", mqtt.QoS0, 0, false)
	require.Equal(t, "from other", string(c.expect(mqtt.TypePublish).Payload))

	other.publish("rap/x", "kept", mqtt.QoS0, 0, true)
	m = c.expect(mqtt.TypePublish)
	require.True(t, m.Retain, "retain as published")
	other.publish("a/r", "plain", mqtt.QoS0, 0, true)
	m = c.expect(mqtt.TypePublish)
	require.False(t, m.Retain, "[MQTT-3.3.1-12] v5 forwarded copies lose RETAIN")
	require.Equal(t, []uint32{11, 12}, sortedIDs(m))
}

func sortedIDs(p mqtt.Packet) []uint32 {
	ids := slices.Clone(p.Properties.SubscriptionIDs)
	slices.Sort(ids)
	return ids
}

// Retained messages: stored and replaced, sent to new subscriptions with
// RETAIN set, deleted by an empty payload, never sent after expiry; Retain
// Handling 1 and 2 [MQTT-3.3.1-5..11] v5.
func TestRetained(t *testing.T) {
	s, addr := startServer(t, nil)
	p := dialRaw(t, addr, mqtt.V5)
	p.connect("p", true)
	p.publish("ret/a", "first", mqtt.QoS1, 1, true)
	p.expect(mqtt.TypePuback)
	p.publish("ret/a", "second", mqtt.QoS1, 2, true)
	p.expect(mqtt.TypePuback)
	p.publish("ret/b", "b", mqtt.QoS0, 0, true)
	p.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "ret/short", Payload: []byte("gone"), Retain: true,
		Properties: mqtt.Properties{MessageExpiry: 1}})
	p.publish("ret/c", "c", mqtt.QoS0, 0, true)
	p.publish("ret/c", "", mqtt.QoS0, 0, true) // deletes [MQTT-3.3.1-6] v5
	waitFor(t, "retained stored", func() bool { return s.Metrics().Retained == 3 })
	time.Sleep(1100 * time.Millisecond) // ret/short expires

	c := dialRaw(t, addr, mqtt.V5)
	c.connect("c", true)
	c.subscribe(1, mqtt.Subscription{Filter: "ret/#", QoS: mqtt.QoS1})
	got := map[string]string{}
	for range 2 {
		m := c.expect(mqtt.TypePublish)
		require.True(t, m.Retain, "[MQTT-3.3.1-8] v3.1.1: retained copies carry RETAIN")
		got[m.Topic] = string(m.Payload)
		if m.QoS > 0 {
			c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})
		}
	}
	require.Equal(t, map[string]string{"ret/a": "second", "ret/b": "b"}, got)
	c.expectNothing(50 * time.Millisecond)

	// Retain Handling 1: only when the subscription is new.
	c.subscribe(2, mqtt.Subscription{Filter: "ret/b", QoS: mqtt.QoS0, RetainHandling: 1})
	require.Equal(t, "b", string(c.expect(mqtt.TypePublish).Payload))
	c.subscribe(3, mqtt.Subscription{Filter: "ret/b", QoS: mqtt.QoS0, RetainHandling: 1})
	c.expectNothing(50 * time.Millisecond)
	// Retain Handling 2: never.
	c.subscribe(4, mqtt.Subscription{Filter: "ret/a", QoS: mqtt.QoS0, RetainHandling: 2})
	c.expectNothing(50 * time.Millisecond)
	// Shared subscriptions get no retained messages (MQTT5 §4.8.2).
	c.subscribe(5, mqtt.Subscription{Filter: "$share/g/ret/#", QoS: mqtt.QoS0})
	c.expectNothing(50 * time.Millisecond)
}

// The Will is published when the connection ends without DISCONNECT 0x00,
// not after a normal one [MQTT-3.1.2-8], [MQTT-3.1.2-10] v5; DISCONNECT 0x04
// asks for it.
func TestWill(t *testing.T) {
	_, addr := startServer(t, nil)
	w := dialRaw(t, addr, mqtt.V5)
	w.connect("watcher", true)
	w.subscribe(1, mqtt.Subscription{Filter: "will/#", QoS: mqtt.QoS1})

	withWill := func(topic string, delay uint32) func(*mqtt.Packet) {
		return func(p *mqtt.Packet) {
			p.Connect.Will = &mqtt.Will{Topic: topic, Payload: []byte("bye " + topic), QoS: mqtt.QoS1,
				Properties: mqtt.Properties{WillDelay: delay, User: []mqtt.UserProperty{{Key: "k", Value: "v"}}}}
		}
	}
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("dies", true, withWill("will/dies", 0))
	c.close()
	m := w.expect(mqtt.TypePublish)
	require.Equal(t, "bye will/dies", string(m.Payload))
	require.Equal(t, []mqtt.UserProperty{{Key: "k", Value: "v"}}, m.Properties.User, "[MQTT-3.1.3-10] v5")
	w.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})

	c = dialRaw(t, addr, mqtt.V5)
	c.connect("polite", true, withWill("will/polite", 0))
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	c.expectClosed()
	w.expectNothing(100 * time.Millisecond)

	c = dialRaw(t, addr, mqtt.V5)
	c.connect("asks", true, withWill("will/asks", 0))
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.DisconnectWithWill})
	m = w.expect(mqtt.TypePublish)
	require.Equal(t, "will/asks", m.Topic)
	w.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})

	// Will delay: a reconnect within the delay cancels it [MQTT-3.1.3-9] v5…
	c = dialRaw(t, addr, mqtt.V5)
	c.connect("delayed", false, sessionExpiry(60), withWill("will/delayed", 1))
	c.close()
	time.Sleep(300 * time.Millisecond)
	c = dialRaw(t, addr, mqtt.V5)
	require.True(t, c.connect("delayed", false, sessionExpiry(60), withWill("will/delayed", 1)).SessionPresent)
	w.expectNothing(1200 * time.Millisecond)
	// …and without a reconnect it goes out after the delay.
	c.close()
	start := time.Now()
	w.expect(mqtt.TypePublish)
	require.Greater(t, time.Since(start), 800*time.Millisecond)

	// v3.1.1 publishes the Will at once on an unexpected close.
	c3 := dialRaw(t, addr, mqtt.V311)
	c3.connect("v3dies", true, func(p *mqtt.Packet) {
		p.Connect.Will = &mqtt.Will{Topic: "will/v3", Payload: []byte("x")}
	})
	c3.close()
	require.Equal(t, "will/v3", w.expect(mqtt.TypePublish).Topic)
}

// The Message Expiry Interval goes out reduced by the time the message
// waited [MQTT-3.3.2-6] v5, and an expired message is not delivered
// [MQTT-3.3.2-5] v5. The other properties pass through unchanged.
func TestMessageExpiryAndProperties(t *testing.T) {
	s, addr := startServer(t, nil)
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("late", false, sessionExpiry(60))
	sub.subscribe(1, mqtt.Subscription{Filter: "e/#", QoS: mqtt.QoS1})
	sub.close()
	waitFor(t, "offline", func() bool { return s.Metrics().Sessions.Online == 0 })

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	props := mqtt.Properties{MessageExpiry: 10, ContentType: "text/plain", ResponseTopic: "reply/here",
		CorrelationData: []byte{1, 2, 3}, PayloadFormat: 1,
		User: []mqtt.UserProperty{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}, {Key: "b", Value: "3"}}}
	published := time.Now()
	pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "e/keep", Payload: []byte("k"), QoS: mqtt.QoS1, PacketID: 1, Properties: props})
	pub.expect(mqtt.TypePuback)
	pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "e/lost", Payload: []byte("l"), QoS: mqtt.QoS1, PacketID: 2,
		Properties: mqtt.Properties{MessageExpiry: 1}})
	pub.expect(mqtt.TypePuback)
	time.Sleep(2100 * time.Millisecond)

	sub = dialRaw(t, addr, mqtt.V5)
	sub.connect("late", false, sessionExpiry(60))
	m := sub.expect(mqtt.TypePublish)
	require.Equal(t, "e/keep", m.Topic)
	// Reduced by the time it waited: at least the 2.1 s slept, at most what passed until now
	// (a loaded machine may take longer than the sleep), with a second for rounding.
	waited := int(time.Since(published)/time.Second) + 1
	require.LessOrEqual(t, int(m.Properties.MessageExpiry), 9)
	require.GreaterOrEqual(t, int(m.Properties.MessageExpiry), 10-waited-1)
	require.Equal(t, props.ContentType, m.Properties.ContentType)
	require.Equal(t, props.ResponseTopic, m.Properties.ResponseTopic)
	require.Equal(t, props.CorrelationData, m.Properties.CorrelationData)
	require.Equal(t, props.PayloadFormat, m.Properties.PayloadFormat)
	require.Equal(t, props.User, m.Properties.User, "[MQTT-3.3.2-17], [MQTT-3.3.2-18] v5: order kept")
	sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})
	sub.expectNothing(100 * time.Millisecond)
	require.EqualValues(t, 1, s.Metrics().Messages.Dropped[DropExpired])
}

// Topic aliases both ways: the client's aliases are resolved, and ours are
// set up once per topic and then sent without the topic.
func TestTopicAliases(t *testing.T) {
	_, addr := startServer(t, &Options{TopicAliasMaximum: 2})
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("sub", true, func(p *mqtt.Packet) { p.Properties.TopicAliasMaximum = 1 })
	sub.subscribe(1, mqtt.Subscription{Filter: "alias/#"})

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	alias := func(topic string, a uint16, payload string) {
		pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, Payload: []byte(payload),
			Properties: mqtt.Properties{TopicAlias: a}})
	}
	alias("alias/one", 1, "1")
	alias("", 1, "2")
	alias("alias/two", 2, "3")

	m := sub.expect(mqtt.TypePublish)
	require.Equal(t, "alias/one", m.Topic)
	require.EqualValues(t, 1, m.Properties.TopicAlias)
	m = sub.expect(mqtt.TypePublish)
	require.Equal(t, "", m.Topic, "second time: alias only")
	require.EqualValues(t, 1, m.Properties.TopicAlias)
	m = sub.expect(mqtt.TypePublish)
	require.Equal(t, "alias/two", m.Topic, "client's maximum of 1 reached: plain topic")
	require.Zero(t, m.Properties.TopicAlias)

	// Above our maximum: DISCONNECT 0x94; an unknown alias: 0x82.
	alias("alias/x", 3, "x")
	require.Equal(t, mqtt.TopicAliasInvalid, pub.expect(mqtt.TypeDisconnect).ReasonCode)
	pub = dialRaw(t, addr, mqtt.V5)
	pub.connect("pub2", true)
	alias("", 2, "?")
	require.Equal(t, mqtt.ProtocolError, pub.expect(mqtt.TypeDisconnect).ReasonCode)
}

// A message larger than the client's Maximum Packet Size is not sent and
// counts as delivered [MQTT-3.1.2-24], [MQTT-3.1.2-25] v5.
func TestClientMaximumPacketSize(t *testing.T) {
	s, addr := startServer(t, nil)
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("small", true, func(p *mqtt.Packet) { p.Properties.MaximumPacketSize = 64 })
	sub.subscribe(1, mqtt.Subscription{Filter: "big/#", QoS: mqtt.QoS1})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	pub.publish("big/1", string(make([]byte, 200)), mqtt.QoS1, 1, false)
	pub.expect(mqtt.TypePuback)
	pub.publish("big/2", "fits", mqtt.QoS1, 2, false)
	pub.expect(mqtt.TypePuback)
	m := sub.expect(mqtt.TypePublish)
	require.Equal(t, "fits", string(m.Payload))
	require.EqualValues(t, 1, s.Metrics().Messages.Dropped[DropTooLarge])
}
