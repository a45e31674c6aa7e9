package server

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// sessionKinds runs fn with a broker keeping sessions in memory and with one keeping them in
// durable storage.
func sessionKinds(t *testing.T, fn func(t *testing.T, srv *Server, addr string)) {
	for _, kind := range []string{"memory", "durable"} {
		t.Run(kind, func(t *testing.T) {
			var opts *Options
			if kind == "durable" {
				opts = &Options{Durable: DurableOptions{Enable: true, Dir: t.TempDir()}}
			}
			srv, addr := startServer(t, opts)
			fn(t, srv, addr)
		})
	}
}

// Ensure that a QoS 1 message published while the subscriber's connection ends is delivered
// on the next connection of its session, in flight (re-sent with DUP) or queued, never lost:
// the session outlives the connection [MQTT-3.1.2-23] v5, and messages matching it while it is
// disconnected are queued [MQTT-3.1.2-5] v3.1.1. The old connection never acknowledges
// anything, so whatever reached it must come again. Each round ends the connection at another
// point of the publisher's stream.
func TestOfflineQueue_PublishRacingConnectionEnd(t *testing.T) {
	const rounds, n = 16, 12
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			sessionKinds(t, func(t *testing.T, srv *Server, addr string) {
				pub := dialRaw(t, addr, mqtt.V5)
				pub.connect("race-pub", true)
				for round := range rounds {
					id := fmt.Sprint("racer-", round)
					filter := "race/" + id
					sub := dialRaw(t, addr, v)
					ack := sub.connect(id, v == mqtt.V5, sessionExpiry311(v, 3600))
					require.Equal(t, mqtt.Success, ack.ReasonCode)
					sub.subscribe(1, mqtt.Subscription{Filter: filter, QoS: mqtt.QoS1})

					// The subscriber's connection ends after the round's share of the
					// messages was acknowledged to the publisher, while the rest go on.
					closeAt := round % n
					for i := range n {
						if i == closeAt {
							sub.close()
						}
						pub.publish(filter, fmt.Sprint(i), mqtt.QoS1, uint16(i+1), false)
						require.Equal(t, uint16(i+1), pub.expect(mqtt.TypePuback).PacketID)
					}

					sub = dialRaw(t, addr, v)
					ack = sub.connect(id, false, sessionExpiry311(v, 3600))
					require.True(t, ack.SessionPresent, "[MQTT-3.2.2-2] v3.1.1, [MQTT-3.2.2-3] v5")
					got := map[string]bool{}
					for len(got) < n {
						p := sub.expect(mqtt.TypePublish)
						got[string(p.Payload)] = true
						sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
					}
					sub.close()
				}
			})
		})
	}
}

// sessionExpiry311 is sessionExpiry for a v5 CONNECT, nothing for 3.1.1 (whose sessions last
// Options.SessionExpiryV3 without a clean session).
func sessionExpiry311(v mqtt.Version, sec uint32) func(*mqtt.Packet) {
	if v != mqtt.V5 {
		return func(*mqtt.Packet) {}
	}
	return sessionExpiry(sec)
}
