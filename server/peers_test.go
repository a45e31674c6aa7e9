package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// recordingPeers is a Peers that records what the broker tells it; it gives every shared
// group to another broker while giveAway is set.
type recordingPeers struct {
	mu        sync.Mutex
	routes    map[string]bool
	forwarded []string
	local     [][]string
	giveAway  bool
	takeOvers []string
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

func (p *recordingPeers) Forward(m *Message, local []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forwarded = append(p.forwarded, m.Topic)
	p.local = append(p.local, local)
	if p.giveAway {
		return local
	}
	return nil
}

func (p *recordingPeers) TakeOver(_ context.Context, clientID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.takeOvers = append(p.takeOvers, clientID)
}

func (p *recordingPeers) Stats() PeerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerStats{Forwarded: uint64(len(p.forwarded)), Routes: len(p.routes)}
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

// The broker announces its subscribers' filters, shared groups included, and forwards what
// its clients publish, naming the groups it has members for; a group given to another broker
// skips the local members. A message from a peer reaches the non-shared subscribers only if
// the peer says so, a shared group only if the peer picked this broker for it, and it is
// neither retained nor forwarded again.
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
	require.Equal(t, map[string]bool{"a/#": true, "$share/g/a/#": true}, routes)

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	pub.publish("a/1", "local", mqtt.QoS1, 1, false)
	pub.expect(mqtt.TypePuback)
	require.Equal(t, "local", string(sub.expect(mqtt.TypePublish).Payload))
	require.Equal(t, "local", string(member.expect(mqtt.TypePublish).Payload))
	_, forwarded := peers.state()
	require.Equal(t, []string{"a/1"}, forwarded)
	require.Equal(t, [][]string{{"$share/g/a/#"}}, peers.local)

	peers.mu.Lock()
	peers.giveAway = true
	peers.mu.Unlock()
	pub.publish("a/1", "group elsewhere", mqtt.QoS1, 2, false)
	pub.expect(mqtt.TypePuback)
	require.Equal(t, "group elsewhere", string(sub.expect(mqtt.TypePublish).Payload))
	member.expectNothing(100 * time.Millisecond)

	remote := func(payload string) *Message {
		return &Message{Topic: "a/2", Payload: []byte(payload), QoS: mqtt.QoS1, Retain: true, Created: time.Now()}
	}
	require.Equal(t, 1, s.DeliverFromPeer(remote("plain"), true, nil), "the non-shared subscriber only")
	got := sub.expect(mqtt.TypePublish)
	require.Equal(t, "plain", string(got.Payload))
	require.False(t, got.Retain, "a routed copy carries RETAIN only with Retain As Published [MQTT-3.3.1-12]")
	member.expectNothing(100 * time.Millisecond)
	require.Equal(t, 1, s.DeliverFromPeer(remote("group"), false, []string{"$share/g/a/#"}), "the group only")
	require.Equal(t, "group", string(member.expect(mqtt.TypePublish).Payload))
	sub.expectNothing(100 * time.Millisecond)
	_, forwarded = peers.state()
	require.Len(t, forwarded, 2, "a peer's message is not forwarded again")

	// Retained messages: every broker's view follows the others' [MQTT-3.3.1-5], [MQTT-3.3.1-6].
	require.Equal(t, 1, s.opts.Retained.Len(), "the view has a peer's retained message")
	require.Zero(t, s.DeliverFromPeer(&Message{Topic: "r/1", Payload: []byte("x"), Retain: true, Created: time.Now()}, false, nil))
	require.Equal(t, 2, s.opts.Retained.Len(), "also when no subscriber here matches")
	require.Zero(t, s.DeliverFromPeer(&Message{Topic: "r/1", Retain: true, Created: time.Now()}, false, nil))
	require.Equal(t, 1, s.opts.Retained.Len(), "an empty retained message deletes")
	sub.expectNothing(50 * time.Millisecond)

	sub.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 2, Filters: []string{"a/#"}})
	sub.expect(mqtt.TypeUnsuback)
	routes, _ = peers.state()
	require.Equal(t, map[string]bool{"$share/g/a/#": true}, routes)
}

// A CONNECT asks the other brokers to let go of its client id first; LetGo disconnects the
// local connection of a client that connected elsewhere with Session taken over (0x8E)
// [MQTT-3.1.4-3] v5 and keeps its session.
func TestPeers_TakeOver(t *testing.T) {
	peers := &recordingPeers{routes: map[string]bool{}}
	s, addr := startServer(t, &Options{Peers: peers})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("roaming", true)
	peers.mu.Lock()
	require.Equal(t, []string{"roaming"}, peers.takeOvers)
	peers.mu.Unlock()
	require.True(t, s.LetGo("roaming"))
	d := c.expect(mqtt.TypeDisconnect)
	require.Equal(t, mqtt.SessionTakenOver, d.ReasonCode)
	require.False(t, s.LetGo("roaming"), "nothing attached any more")
	require.False(t, s.LetGo("nobody"))
}
