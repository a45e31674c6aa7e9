package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// Ensure that a message stored only for a compact durable session (evicted from the broker's
// table and the subscription index) counts as received: the publisher's PUBACK says Success,
// not No Matching Subscribers, Server.Publish counts a recipient, the broker's metrics do not
// count it as matching no subscription, and the session gets both messages when it returns.
func TestDurable_PublishToCompactSession(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	srv.durable.timers.delay.Store(int64(time.Millisecond))
	c, _ := rawDurable(t, addr, "away", true, 10)
	c.subscribe(1, mqtt.Subscription{Filter: "away/+", QoS: mqtt.QoS1})
	c.close()
	compacted(t, srv, "away")

	before := srv.Metrics().Messages.NoSubscribers
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("away-pub", true)
	pub.publish("away/1", "from a client", mqtt.QoS1, 1, false)
	require.Equal(t, mqtt.Success, pub.expect(mqtt.TypePuback).ReasonCode)
	n, err := srv.Publish("away/2", []byte("from the broker"), mqtt.QoS1, false)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	pub.publish("elsewhere", "no one", mqtt.QoS1, 2, false)
	require.Equal(t, mqtt.NoMatchingSubscribers, pub.expect(mqtt.TypePuback).ReasonCode)
	require.Equal(t, before+1, srv.Metrics().Messages.NoSubscribers, "only the message to no one")

	c, ack := rawDurable(t, addr, "away", false, 10)
	require.True(t, ack.SessionPresent)
	for _, want := range []string{"from a client", "from the broker"} {
		p := c.expect(mqtt.TypePublish)
		require.Equal(t, want, string(p.Payload))
		c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	}
}
