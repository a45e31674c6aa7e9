package server

import (
	"slices"
	"sync"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// recorder is a hook that writes down the events it provides.
type recorder struct {
	Base
	mu     sync.Mutex
	want   []Event
	events []string
}

func (r *recorder) ID() string            { return "recorder" }
func (r *recorder) Provides(e Event) bool { return slices.Contains(r.want, e) }
func (r *recorder) add(e Event, arg string) {
	r.mu.Lock()
	r.events = append(r.events, e.String()+" "+arg)
	r.mu.Unlock()
}
func (r *recorder) OnClientConnected(c ClientInfo) {
	r.add(ClientConnected, c.ClientID)
}
func (r *recorder) OnClientDisconnected(c ClientInfo, err error) {
	r.add(ClientDisconnected, c.ClientID)
}
func (r *recorder) OnClientSubscribe(c ClientInfo, s []mqtt.Subscription) {
	r.add(ClientSubscribe, s[0].Filter)
}
func (r *recorder) OnClientUnsubscribe(c ClientInfo, f []string) { r.add(ClientUnsubscribe, f[0]) }
func (r *recorder) OnSessionCreated(c ClientInfo)                { r.add(SessionCreated, c.ClientID) }
func (r *recorder) OnSessionResumed(c ClientInfo)                { r.add(SessionResumed, c.ClientID) }
func (r *recorder) OnSessionSubscribed(id string, s mqtt.Subscription) {
	r.add(SessionSubscribed, s.Filter)
}
func (r *recorder) OnSessionUnsubscribed(id, f string)        { r.add(SessionUnsubscribed, f) }
func (r *recorder) OnSessionTerminated(id, reason string)     { r.add(SessionTerminated, id+" "+reason) }
func (r *recorder) OnMessagePublish(c ClientInfo, m *Message) { r.add(MessagePublish, m.Topic) }
func (r *recorder) OnMessageDelivered(id string, m *Message)  { r.add(MessageDelivered, id) }
func (r *recorder) OnMessageAcked(id string, m *Message)      { r.add(MessageAcked, id) }
func (r *recorder) OnMessageDropped(id string, m *Message, d DropReason) {
	r.add(MessageDropped, d.String())
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func TestHooks(t *testing.T) {
	all := &recorder{}
	for e := range numEvents {
		all.want = append(all.want, e)
	}
	onlyPublish := &recorder{want: []Event{MessagePublish}}
	s, addr := startServer(t, nil)
	s.AddHook(all)
	s.AddHook(onlyPublish)

	c := dialRaw(t, addr, mqtt.V5)
	c.connect("h", true)
	c.subscribe(1, mqtt.Subscription{Filter: "hk", QoS: mqtt.QoS1})
	c.publish("hk", "x", mqtt.QoS1, 1, false)
	m := c.expect(mqtt.TypePublish)
	c.expect(mqtt.TypePuback)
	c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: m.PacketID})
	c.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 2, Filters: []string{"hk"}})
	c.expect(mqtt.TypeUnsuback)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	c.expectClosed()
	want := []string{
		"client.connected h", "session.created h",
		"client.subscribe hk", "session.subscribed hk",
		"message.publish hk", "message.delivered h", "message.acked h",
		"client.unsubscribe hk", "session.unsubscribed hk",
		"session.terminated h disconnected", "client.disconnected h",
	}
	waitFor(t, "all events", func() bool { return len(all.snapshot()) == len(want) })
	require.Equal(t, want, all.snapshot())
	require.Equal(t, []string{"message.publish hk"}, onlyPublish.snapshot())
}
