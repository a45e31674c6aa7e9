package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// DropPolicy says which message an offline queue gives up when it is full.
type DropPolicy uint8

const (
	// DropOldest discards the head of the queue to make room for the new message.
	DropOldest DropPolicy = iota
	// DropNewest discards the message that does not fit.
	DropNewest
)

// AutoSubscription is a subscription made for every client at connect time.
// "%c" in Filter is replaced by the client id and "%u" by the user name; an
// entry whose placeholder would be empty is skipped for that client.
type AutoSubscription struct {
	Filter string
	QoS    byte
}

// Options configures a Server. A nil *Options means all defaults, and a zero
// field means that field's default (EnsureDefaults). Fields whose zero value
// is meaningful are pointers or say so.
type Options struct {
	// Logger receives the broker's logs. Default: slog.Default().
	Logger *slog.Logger

	// MaxPacketSize is the largest packet accepted from a client (and
	// announced as Maximum Packet Size in the v5 CONNACK). Default 1 MiB.
	MaxPacketSize uint32
	// MaxTopicLevels bounds the levels of a topic name or filter. Default 128.
	MaxTopicLevels int
	// ReceiveMaximum is how many unacknowledged QoS 1/2 PUBLISHes a client
	// may have with us at once (v5 CONNACK Receive Maximum). Default 32.
	ReceiveMaximum uint16
	// MaxInflight caps our outbound window per client, below the client's
	// own Receive Maximum when that is larger. Default 32.
	MaxInflight uint16
	// MaxQueued bounds the messages held for one session beyond its
	// in-flight window (offline, or window full). Default 1000; math.MaxInt
	// for no limit.
	MaxQueued int
	// QueueQoS0 keeps QoS 0 messages for offline sessions too.
	QueueQoS0 bool
	// DropPolicy applies when the queue is full.
	DropPolicy DropPolicy
	// SessionExpiryV3 is how long a v3 clean-session=false session outlives
	// its connection. Default 2h.
	SessionExpiryV3 time.Duration
	// MaxSessionExpiry caps the Session Expiry Interval a v5 client may ask
	// for; zero means no cap.
	MaxSessionExpiry time.Duration
	// ServerKeepAlive, if non-zero, overrides the client's keep alive (v5
	// Server Keep Alive). Zero honours the client's value.
	ServerKeepAlive time.Duration
	// TopicAliasMaximum is the highest alias a v5 client may use towards us.
	// Default 65535; -1 disables topic aliases.
	TopicAliasMaximum int
	// MaxAwaitingRel bounds the QoS 2 messages a client may leave waiting
	// for PUBREL. Default 100.
	MaxAwaitingRel int
	// AwaitRelTimeout drops a QoS 2 packet id still waiting for its PUBREL
	// after this long. Default 300s.
	AwaitRelTimeout time.Duration
	// MaxSubscriptions per client; zero is unlimited.
	MaxSubscriptions int
	// RetainNotAvailable, WildcardNotAvailable and SharedNotAvailable turn
	// the matching features off; the v5 CONNACK announces it.
	RetainNotAvailable   bool
	WildcardNotAvailable bool
	SharedNotAvailable   bool
	// SharedStrategy picks a member of a shared group: "round_robin"
	// (default), "random", "sticky" or "hash_clientid".
	SharedStrategy string
	// IdleTimeout closes a connection that sends no CONNECT within it.
	// Default 15s.
	IdleTimeout time.Duration
	// AutoSubscriptions are made for every client when it connects.
	AutoSubscriptions []AutoSubscription

	// Authenticator decides CONNECT; nil accepts every client.
	Authenticator auth.Authenticator
	// Authorizer decides PUBLISH and SUBSCRIBE; nil allows everything.
	Authorizer auth.Authorizer
	// AuthFailureDelay is waited before answering a failed authentication,
	// to slow down password guessing.
	AuthFailureDelay time.Duration
	// UseCNAsUsername maps listener ids whose verified client certificate
	// common name becomes the username.
	UseCNAsUsername map[string]bool

	// MaxConnections refuses connections beyond it; zero is unlimited.
	MaxConnections int
	// ConnectionRate is new connections per second per listener (token
	// bucket, burst of one second); zero is unlimited.
	ConnectionRate int
	// ClientMessageRate and ClientByteRate limit what one client sends per
	// second, by pausing its reads; zero is unlimited.
	ClientMessageRate int
	ClientByteRate    int
	// NoPayloadFormatCheck skips the check that an MQTT 5 PUBLISH or Will
	// whose Payload Format Indicator is 1 carries UTF-8 (MQTT5 §3.3.2.3.2,
	// §3.1.3.2.3). Checked by default: PUBACK/PUBREC 0x99 at QoS 1/2,
	// DISCONNECT 0x99 at QoS 0, CONNACK 0x99 for a Will.
	NoPayloadFormatCheck bool

	// MemoryHighWatermark: above this heap size new connections are refused
	// and QoS 0 messages to clients are shed. Zero turns it off.
	MemoryHighWatermark uint64

	// SysInterval is the period of $SYS publications; zero turns them off.
	SysInterval time.Duration
	// NodeName names this broker under $SYS/brokers/. Default "mqttds@<host>".
	NodeName string

	// Retained is where retained messages live. Default: in memory.
	Retained RetainedStore

	// OutboundQueue bounds the packets waiting for one connection's writer.
	// A QoS 0 message that does not fit is dropped; control packets that do
	// not fit mean the client stopped reading and the connection is closed.
	// Default 1024.
	OutboundQueue int
	// FlowHighWatermark is the backlog (messages queued for an online
	// session plus packets waiting for its connection's writer) above which
	// a publisher whose message goes to that session stops being read until
	// the backlog is down to half the mark (flow.go). It is capped at half
	// of OutboundQueue. Default 256; -1 turns back-pressure off.
	FlowHighWatermark int

	// Durable turns on durable sessions (see DurableOptions). Default off.
	Durable DurableOptions

	// Cluster, when the store is replicated, describes the cluster to the API and the metrics.
	Cluster Cluster

	// Peers, in a cluster, carries messages to the in-memory sessions of the other brokers
	// and hears which filters this broker's sessions subscribe to (see Peers). Nil: alone.
	Peers Peers

	// API configures the HTTP management API (APIHandler). The zero value serves every
	// route without authentication.
	API APIOptions

	// httpAuth is the HTTP auth backend FromConfig built, for its metrics; nil if none.
	httpAuth *auth.HTTP
}

// EnsureDefaults fills every zero field with its default and returns o (a
// new Options if o is nil).
func (o *Options) EnsureDefaults() *Options {
	if o == nil {
		o = &Options{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.MaxPacketSize, 1<<20)
	setDefault(&o.MaxTopicLevels, 128)
	setDefault(&o.ReceiveMaximum, 32)
	setDefault(&o.MaxInflight, 32)
	setDefault(&o.MaxQueued, 1000)
	setDefault(&o.SessionExpiryV3, 2*time.Hour)
	setDefault(&o.TopicAliasMaximum, 65535)
	setDefault(&o.MaxAwaitingRel, 100)
	setDefault(&o.AwaitRelTimeout, 300*time.Second)
	setDefault(&o.SharedStrategy, "round_robin")
	setDefault(&o.IdleTimeout, 15*time.Second)
	setDefault(&o.OutboundQueue, 1024)
	setDefault(&o.FlowHighWatermark, 256)
	if o.NodeName == "" {
		o.NodeName = defaultNodeName()
	}
	if o.Retained == nil {
		o.Retained = NewMemRetained()
	}
	return o
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("server: option %s: "+format, append([]any{field}, args...)...))
	}
	if o.MaxPacketSize < 64 {
		bad("MaxPacketSize", "%d is below 64 bytes", o.MaxPacketSize)
	}
	if o.FlowHighWatermark < -1 {
		bad("FlowHighWatermark", "%d is below -1", o.FlowHighWatermark)
	}
	if o.MaxQueued < 0 {
		bad("MaxQueued", "negative (%d)", o.MaxQueued)
	}
	if o.TopicAliasMaximum > 65535 || o.TopicAliasMaximum < -1 {
		bad("TopicAliasMaximum", "%d is outside -1..65535", o.TopicAliasMaximum)
	}
	if o.ServerKeepAlive > 65535*time.Second {
		bad("ServerKeepAlive", "%s exceeds 65535s", o.ServerKeepAlive)
	}
	if _, err := subscriptions.ParseStrategy(o.SharedStrategy); err != nil {
		bad("SharedStrategy", "%v", err)
	}
	for i, a := range o.AutoSubscriptions {
		if a.QoS > 2 {
			bad(fmt.Sprintf("AutoSubscriptions[%d].QoS", i), "%d is not 0, 1 or 2", a.QoS)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxConnections", o.MaxConnections}, {"ConnectionRate", o.ConnectionRate},
		{"ClientMessageRate", o.ClientMessageRate}, {"ClientByteRate", o.ClientByteRate},
		{"MaxSubscriptions", o.MaxSubscriptions}} {
		if f.v < 0 {
			bad(f.name, "negative (%d)", f.v)
		}
	}
	return errors.Join(errs...)
}
