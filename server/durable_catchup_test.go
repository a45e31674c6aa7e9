package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// Ensure that a durable session behind on a backlog is sent up to the catch-up window, beyond
// max_inflight but never beyond the client's Receive Maximum [MQTT-3.3.4-9], and gets the whole
// backlog once it acknowledges.
func TestDurable_CatchUpWindow(t *testing.T) {
	for _, tc := range []struct {
		name            string
		recvMax, window int
		want            int
	}{
		{"client limit", 50, 1024, 50},
		{"catch-up limit", 500, 30, 30},
		{"off", 500, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := durableServer(t, t.TempDir(), func(o *Options) {
				o.MaxInflight = 10
				o.Durable.CatchUpWindow = tc.window
			})
			sub, _ := rawDurable(t, addr, "cu", true, uint16(tc.recvMax))
			sub.subscribe(1, mqtt.Subscription{Filter: "cu/#", QoS: 1})
			sub.close()
			pub := dialRaw(t, addr, mqtt.V5)
			pub.connect("cu-pub", true)
			for i := range 100 {
				pub.publish("cu/x", "m", mqtt.QoS1, uint16(i+1), false)
				pub.expect(mqtt.TypePuback)
			}

			sub, _ = rawDurable(t, addr, "cu", false, uint16(tc.recvMax))
			var pids []uint16
			for range tc.want {
				pids = append(pids, sub.expect(mqtt.TypePublish).PacketID)
			}
			sub.expectNothing(300 * time.Millisecond)
			for _, pid := range pids {
				sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: pid})
			}
			got := tc.want
			for got < 100 {
				p := sub.expect(mqtt.TypePublish)
				sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
				got++
			}
			sub.expectNothing(200 * time.Millisecond)
			require.Equal(t, 100, got)
		})
	}
}
