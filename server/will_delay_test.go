package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// Ensure that a Will whose delay outlasts the session goes out when the session ends, not when
// the connection drops: "until the Will Delay Interval has passed or the Session ends, whichever
// happens first" [MQTT-3.1.3-9] v5. For both session kinds.
func TestWillDelayLongerThanSession(t *testing.T) {
	for _, kind := range []string{"memory", "durable"} {
		t.Run(kind, func(t *testing.T) {
			var addr string
			if kind == "durable" {
				srv, a := durableServer(t, t.TempDir())
				defer closeServer(t, srv)
				addr = a
			} else {
				_, addr = startServer(t, nil)
			}
			w := dialRaw(t, addr, mqtt.V5)
			w.connect("watcher", true)
			w.subscribe(1, mqtt.Subscription{Filter: "will/#", QoS: mqtt.QoS0})

			c := dialRaw(t, addr, mqtt.V5)
			c.connect("long-delay", true, sessionExpiry(1), func(p *mqtt.Packet) {
				p.Connect.Will = &mqtt.Will{Topic: "will/long", Payload: []byte("bye"),
					Properties: mqtt.Properties{WillDelay: 3600}}
				p.Connect.Will.Properties.Present.Add(mqtt.PropWillDelay)
			})
			c.close()
			start := time.Now()
			w.expectNothing(600 * time.Millisecond) // the session (1 s) is still there
			m := w.expect(mqtt.TypePublish)
			require.Equal(t, "will/long", m.Topic)
			require.Greater(t, time.Since(start), 800*time.Millisecond, "published before the session ended")
		})
	}
}
