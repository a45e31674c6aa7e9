package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// Ensure that a durable session subscribed to $SYS topics gets the broker's $SYS messages as
// any session does: the periodic values live while connected (forwarded copies, RETAIN 0
// [MQTT-3.3.1-12] v5, after the retained one the SUBSCRIBE brings), and the QoS 1 alarm
// transitions published while it was away on its next connection [MQTT-3.1.2-23] v5.
func TestDurable_SysMessages(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir(), func(o *Options) {
		o.SysInterval = 20 * time.Millisecond
		o.NodeName = "n1"
	})
	c, _ := rawDurable(t, addr, "sys", true, 10)
	c.subscribe(1, mqtt.Subscription{Filter: "$SYS/brokers/+/uptime", QoS: mqtt.QoS0},
		mqtt.Subscription{Filter: "$SYS/brokers/+/alarms/#", QoS: mqtt.QoS1})
	require.IsType(t, (*durableSession)(nil), srv.loadedSession("sys"))
	for {
		p := c.expect(mqtt.TypePublish)
		require.Equal(t, "$SYS/brokers/n1/uptime", p.Topic)
		if !p.Retain {
			break // a live one, read from storage
		}
	}
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	c.expectClosed(mqtt.TypePublish)
	waitFor(t, "offline", func() bool { s := srv.loadedSession("sys"); return s == nil || !s.online() })

	srv.memoryAlarm(true, 300, 200)
	srv.memoryAlarm(false, 100, 200) // cleared, so that the broker takes CONNECTs again
	c, ack := rawDurable(t, addr, "sys", false, 10)
	require.True(t, ack.SessionPresent)
	var states []string
	for len(states) < 2 {
		p := c.expect(mqtt.TypePublish)
		if !strings.Contains(p.Topic, "/alarms/") {
			continue // uptime values, read back too
		}
		require.Equal(t, mqtt.QoS1, p.QoS)
		var ev AlarmEvent
		require.NoError(t, json.Unmarshal(p.Payload, &ev))
		states = append(states, ev.State)
		c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	}
	require.Equal(t, []string{"raised", "cleared"}, states)
}
