package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// Round robin spreads a shared subscription's messages over its members,
// one copy per message, each at the member's own QoS [MQTT-4.8.2-3] v5.
func TestShared_RoundRobin(t *testing.T) {
	_, addr := startServer(t, &Options{SharedStrategy: "round_robin"})
	members := make([]*rawClient, 3)
	for i := range members {
		members[i] = dialRaw(t, addr, mqtt.V5)
		members[i].connect(fmt.Sprintf("m%d", i), true)
		members[i].subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: mqtt.QoS(i % 2)})
	}
	p := dialRaw(t, addr, mqtt.V5)
	p.connect("producer", true)
	for i := range 9 {
		p.publish("jobs/x", fmt.Sprint(i), mqtt.QoS1, uint16(i+1), false)
		p.expect(mqtt.TypePuback)
	}
	seen := map[string]bool{}
	for i, m := range members {
		for range 3 {
			pkt := m.expect(mqtt.TypePublish)
			require.Equal(t, mqtt.QoS(i%2), pkt.QoS)
			require.False(t, seen[string(pkt.Payload)], "delivered twice")
			seen[string(pkt.Payload)] = true
			if pkt.QoS == mqtt.QoS1 {
				m.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: pkt.PacketID})
			}
		}
		m.expectNothing(30 * time.Millisecond)
	}
	require.Len(t, seen, 9)
}

// Messages a departing member did not acknowledge go to another member of
// the group.
func TestShared_RedeliveryOnDisconnect(t *testing.T) {
	_, addr := startServer(t, &Options{SharedStrategy: "sticky"})
	a := dialRaw(t, addr, mqtt.V5)
	a.connect("a", true)
	a.subscribe(1, mqtt.Subscription{Filter: "$share/g/work", QoS: mqtt.QoS1})
	p := dialRaw(t, addr, mqtt.V5)
	p.connect("producer", true)
	p.publish("work", "job", mqtt.QoS1, 1, false)
	p.expect(mqtt.TypePuback)
	require.Equal(t, "job", string(a.expect(mqtt.TypePublish).Payload)) // sticky: a has it, unacked

	b := dialRaw(t, addr, mqtt.V5)
	b.connect("b", true)
	b.subscribe(1, mqtt.Subscription{Filter: "$share/g/work", QoS: mqtt.QoS1})
	a.close()
	m := b.expect(mqtt.TypePublish)
	require.Equal(t, "job", string(m.Payload))
	b.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})
}

// A shared group with every member offline queues for one of them; the
// hash strategy keeps a publisher on one member.
func TestShared_HashAndOffline(t *testing.T) {
	s, addr := startServer(t, &Options{SharedStrategy: "hash_clientid"})
	var ms []*rawClient
	for i := range 2 {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(fmt.Sprintf("h%d", i), false, sessionExpiry(60))
		c.subscribe(1, mqtt.Subscription{Filter: "$share/h/t", QoS: mqtt.QoS1})
		ms = append(ms, c)
	}
	p := dialRaw(t, addr, mqtt.V5)
	p.connect("same-publisher", true)
	for i := range 4 {
		p.publish("t", fmt.Sprint(i), mqtt.QoS0, 0, false)
	}
	var got []int
	for _, c := range ms {
		n := 0
		for {
			if _, err := c.read(100 * time.Millisecond); err != nil {
				break
			}
			n++
		}
		got = append(got, n)
	}
	require.ElementsMatch(t, []int{0, 4}, got, "one publisher, one member")

	for _, c := range ms {
		c.close()
	}
	waitFor(t, "offline", func() bool { return s.Metrics().Sessions.Online == 1 })
	p.publish("t", "queued", mqtt.QoS1, 1, false)
	require.Equal(t, mqtt.Success, p.expect(mqtt.TypePuback).ReasonCode)
	queued := 0
	for _, si := range s.Sessions() {
		queued += si.Queued
	}
	require.Equal(t, 1, queued)
}
