package server

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// recordingPeers is a Peers that records what the broker tells it.
type recordingPeers struct {
	mu        sync.Mutex
	routes    map[string]bool
	forwarded []string
}

func (p *recordingPeers) Route(filter string, present bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if present {
		p.routes[filter] = true
	} else {
		delete(p.routes, filter)
	}
}

func (p *recordingPeers) Forward(m *Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forwarded = append(p.forwarded, m.Topic)
}

func (p *recordingPeers) state() (map[string]bool, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	routes := map[string]bool{}
	for f := range p.routes {
		routes[f] = true
	}
	return routes, append([]string(nil), p.forwarded...)
}

// The broker announces its subscribers' filters (not shared ones) and forwards what its
// clients publish, not its $SYS tree; a message from a peer reaches the in-memory
// subscribers, is neither retained nor forwarded again, and skips shared groups, whose
// members on the publishing broker took it.
func TestPeers_RoutesForwardAndDeliver(t *testing.T) {
	peers := &recordingPeers{routes: map[string]bool{}}
	s, addr := startServer(t, &Options{Peers: peers})
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "a/#", QoS: mqtt.QoS1})
	member := dialRaw(t, addr, mqtt.V5)
	member.connect("member", true)
	member.subscribe(1, mqtt.Subscription{Filter: "$share/g/a/#", QoS: mqtt.QoS1})
	routes, _ := peers.state()
	require.Equal(t, map[string]bool{"a/#": true}, routes)

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	pub.publish("a/1", "local", mqtt.QoS1, 1, false)
	pub.expect(mqtt.TypePuback)
	require.Equal(t, "local", string(sub.expect(mqtt.TypePublish).Payload))
	require.Equal(t, "local", string(member.expect(mqtt.TypePublish).Payload))
	_, forwarded := peers.state()
	require.Equal(t, []string{"a/1"}, forwarded)

	n := s.DeliverFromPeer(&Message{Topic: "a/2", Payload: []byte("remote"), QoS: mqtt.QoS1, Retain: true, Created: time.Now()})
	require.Equal(t, 1, n, "the in-memory subscriber only, not the shared group")
	got := sub.expect(mqtt.TypePublish)
	require.Equal(t, "remote", string(got.Payload))
	require.False(t, got.Retain, "a routed copy carries RETAIN only with Retain As Published [MQTT-3.3.1-12]")
	member.expectNothing(100 * time.Millisecond)
	_, forwarded = peers.state()
	require.Equal(t, []string{"a/1"}, forwarded, "a peer's message is not forwarded again")
	require.Zero(t, s.opts.Retained.Len(), "the publishing broker retained it, not this one")

	sub.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 2, Filters: []string{"a/#"}})
	sub.expect(mqtt.TypeUnsuback)
	routes, _ = peers.state()
	require.Empty(t, routes)
}
