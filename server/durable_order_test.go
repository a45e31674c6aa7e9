package server

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// Ensure that a durable subscriber gets one publisher's messages in the order they were
// published [MQTT-4.6.0-5], also when the publisher keeps a window of QoS 1 messages
// unacknowledged, so their writes are in storage's write buffer together.
func TestDurable_PublisherOrderWithWindow(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	defer closeServer(t, srv)
	sub, _ := rawDurable(t, addr, "order-sub", true, 100)
	sub.subscribe(1, mqtt.Subscription{Filter: "order/#", QoS: mqtt.QoS1})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("order-pub", true)

	const bursts, window = 20, 64
	for b := range bursts {
		for i := range window {
			seq := b*window + i
			pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "order/t", QoS: mqtt.QoS1,
				PacketID: uint16(i + 1), Payload: []byte(strconv.Itoa(seq))})
		}
		for range window {
			pub.expect(mqtt.TypePuback)
		}
	}
	for want := range bursts * window {
		p := sub.expect(mqtt.TypePublish)
		require.Equal(t, strconv.Itoa(want), string(p.Payload), "message out of publisher order")
		sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	}
}
