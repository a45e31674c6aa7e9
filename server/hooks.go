package server

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/mqttds/mqttds/mqtt"
)

// Event names one thing a Hook can be told about.
type Event uint8

// The events, named as in the configuration and logs ("client.connected").
const (
	ClientConnected Event = iota
	ClientDisconnected
	ClientSubscribe
	ClientUnsubscribe
	SessionCreated
	SessionResumed
	SessionSubscribed
	SessionUnsubscribed
	SessionTerminated
	MessagePublish
	MessageDelivered
	MessageAcked
	MessageDropped
	numEvents
)

var eventNames = [numEvents]string{
	"client.connected", "client.disconnected", "client.subscribe", "client.unsubscribe",
	"session.created", "session.resumed", "session.subscribed", "session.unsubscribed",
	"session.terminated", "message.publish", "message.delivered", "message.acked", "message.dropped",
}

func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "event(?)"
}

// ClientInfo describes a connected client to hooks. It is a copy: hooks may
// keep it.
type ClientInfo struct {
	ClientID   string
	Username   string
	Listener   string
	RemoteAddr net.Addr
	Version    mqtt.Version
}

// Hook receives broker events. Embed Base to get no-op methods, then
// override Provides and the methods for the events you want. Hooks run
// synchronously on the goroutine that caused the event (a client's reader,
// or a timer), so they must be quick; one that needs to do I/O hands the
// event to its own goroutine.
//
// Message values are shared and must not be modified.
type Hook interface {
	// ID names the hook in logs.
	ID() string
	// Provides reports whether the hook wants event e. It is asked once per
	// event when the hook is added.
	Provides(e Event) bool

	OnClientConnected(c ClientInfo)
	// OnClientDisconnected gets the reason the connection ended (nil for a
	// normal DISCONNECT).
	OnClientDisconnected(c ClientInfo, reason error)
	// OnClientSubscribe gets the subscription requests of one SUBSCRIBE before
	// they are authorized.
	OnClientSubscribe(c ClientInfo, subs []mqtt.Subscription)
	OnClientUnsubscribe(c ClientInfo, filters []string)
	OnSessionCreated(c ClientInfo)
	OnSessionResumed(c ClientInfo)
	// OnSessionSubscribed is told of each subscription added to a session,
	// with the granted options.
	OnSessionSubscribed(clientID string, sub mqtt.Subscription)
	OnSessionUnsubscribed(clientID, filter string)
	// OnSessionTerminated: the session's state is gone (clean start,
	// expiry, takeover with clean start, or a zero expiry at disconnect).
	OnSessionTerminated(clientID string, reason string)
	// OnMessagePublish: a client's PUBLISH was accepted and is being routed.
	OnMessagePublish(c ClientInfo, m *Message)
	// OnMessageDelivered: a PUBLISH went out to clientID.
	OnMessageDelivered(clientID string, m *Message)
	// OnMessageAcked: clientID completed a QoS 1 or 2 delivery.
	OnMessageAcked(clientID string, m *Message)
	// OnMessageDropped: m will not reach clientID, for the reason given.
	OnMessageDropped(clientID string, m *Message, reason DropReason)
}

// Base implements every Hook method as a no-op and provides no events.
type Base struct{}

var _ Hook = Base{}

func (Base) ID() string                                        { return "base" }
func (Base) Provides(Event) bool                               { return false }
func (Base) OnClientConnected(ClientInfo)                      {}
func (Base) OnClientDisconnected(ClientInfo, error)            {}
func (Base) OnClientSubscribe(ClientInfo, []mqtt.Subscription) {}
func (Base) OnClientUnsubscribe(ClientInfo, []string)          {}
func (Base) OnSessionCreated(ClientInfo)                       {}
func (Base) OnSessionResumed(ClientInfo)                       {}
func (Base) OnSessionSubscribed(string, mqtt.Subscription)     {}
func (Base) OnSessionUnsubscribed(string, string)              {}
func (Base) OnSessionTerminated(string, string)                {}
func (Base) OnMessagePublish(ClientInfo, *Message)             {}
func (Base) OnMessageDelivered(string, *Message)               {}
func (Base) OnMessageAcked(string, *Message)                   {}
func (Base) OnMessageDropped(string, *Message, DropReason)     {}

// hooks holds the added hooks sorted by the events they provide, so that an
// event nobody asked for costs one slice length check.
//
// The table is copied on write and read with one atomic load, because
// events fire on every message while hooks are added once at start.
type hooks struct {
	mu    sync.Mutex // serializes add
	table atomic.Pointer[[numEvents][]Hook]
}

func (h *hooks) add(hk Hook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var t [numEvents][]Hook
	if old := h.table.Load(); old != nil {
		t = *old
	}
	for e := range numEvents {
		if hk.Provides(e) {
			t[e] = append(t[e][:len(t[e]):len(t[e])], hk)
		}
	}
	h.table.Store(&t)
}

func (h *hooks) get(e Event) []Hook {
	if t := h.table.Load(); t != nil {
		return t[e]
	}
	return nil
}

func (h *hooks) clientConnected(c ClientInfo) {
	for _, hk := range h.get(ClientConnected) {
		hk.OnClientConnected(c)
	}
}

func (h *hooks) clientDisconnected(c ClientInfo, reason error) {
	for _, hk := range h.get(ClientDisconnected) {
		hk.OnClientDisconnected(c, reason)
	}
}

func (h *hooks) clientSubscribe(c ClientInfo, subs []mqtt.Subscription) {
	for _, hk := range h.get(ClientSubscribe) {
		hk.OnClientSubscribe(c, subs)
	}
}

func (h *hooks) clientUnsubscribe(c ClientInfo, filters []string) {
	for _, hk := range h.get(ClientUnsubscribe) {
		hk.OnClientUnsubscribe(c, filters)
	}
}

func (h *hooks) sessionCreated(c ClientInfo) {
	for _, hk := range h.get(SessionCreated) {
		hk.OnSessionCreated(c)
	}
}

func (h *hooks) sessionResumed(c ClientInfo) {
	for _, hk := range h.get(SessionResumed) {
		hk.OnSessionResumed(c)
	}
}

func (h *hooks) sessionSubscribed(clientID string, sub mqtt.Subscription) {
	for _, hk := range h.get(SessionSubscribed) {
		hk.OnSessionSubscribed(clientID, sub)
	}
}

func (h *hooks) sessionUnsubscribed(clientID, filter string) {
	for _, hk := range h.get(SessionUnsubscribed) {
		hk.OnSessionUnsubscribed(clientID, filter)
	}
}

func (h *hooks) sessionTerminated(clientID, reason string) {
	for _, hk := range h.get(SessionTerminated) {
		hk.OnSessionTerminated(clientID, reason)
	}
}

func (h *hooks) messagePublish(c ClientInfo, m *Message) {
	for _, hk := range h.get(MessagePublish) {
		hk.OnMessagePublish(c, m)
	}
}

func (h *hooks) messageDelivered(clientID string, m *Message) {
	for _, hk := range h.get(MessageDelivered) {
		hk.OnMessageDelivered(clientID, m)
	}
}

func (h *hooks) messageAcked(clientID string, m *Message) {
	for _, hk := range h.get(MessageAcked) {
		hk.OnMessageAcked(clientID, m)
	}
}

func (h *hooks) messageDropped(clientID string, m *Message, r DropReason) {
	for _, hk := range h.get(MessageDropped) {
		hk.OnMessageDropped(clientID, m, r)
	}
}
