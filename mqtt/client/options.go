package client

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// Options describes one connection. A zero field means its default.
type Options struct {
	// Addr is the broker's host:port.
	Addr string
	// TLS, when non-nil, wraps the connection in TLS with this configuration (wss:// with WebSocket).
	TLS *tls.Config
	// WebSocket connects over WebSocket (subprotocol "mqtt") to WSPath (default "/mqtt").
	WebSocket bool
	WSPath    string

	// Version is the protocol level: mqtt.V311 or mqtt.V5 (default).
	Version mqtt.Version
	// ClientID may be empty only with CleanStart (the broker then assigns one).
	ClientID   string
	Username   string
	Password   []byte
	CleanStart bool
	// SessionExpiry is the MQTT 5 Session Expiry Interval in seconds (0: the session ends with the
	// connection). MQTT 3.1.1 keeps the session when CleanStart is false.
	SessionExpiry uint32
	// KeepAlive is the longest the client stays silent before it pings (default 60 s; rounded to
	// seconds; a negative value turns keep-alive off).
	KeepAlive time.Duration

	// Inflight bounds the QoS 1 and 2 messages published but not yet acknowledged (default 64). In
	// MQTT 5 the broker's Receive Maximum lowers it further.
	Inflight int
	// ReceiveMaximum is the MQTT 5 Receive Maximum announced to the broker (default 65535).
	ReceiveMaximum uint16
	// WriteBuffer bounds the bytes queued for the writer before Publish blocks (default 1 MiB).
	WriteBuffer int

	// ConnectTimeout bounds dialing plus the CONNECT/CONNACK exchange (default 10 s); the context
	// given to Dial may end it sooner.
	ConnectTimeout time.Duration

	// OnMessage receives every inbound PUBLISH, on the reader goroutine, before it is acknowledged.
	// nil discards messages (they are still acknowledged).
	OnMessage func(*Message)
}

// Message is one received PUBLISH. Topic and Payload alias the reader's buffer and are valid only
// during the OnMessage call.
type Message struct {
	Topic   string
	Payload []byte
	QoS     mqtt.QoS
	Retain  bool
	Dup     bool
	// Packet is the whole decoded PUBLISH, for its properties; valid only during the call.
	Packet *mqtt.Packet
}

// Errors.
var (
	// ErrClosed: the client was closed by Disconnect or Close; it is what Err returns then.
	ErrClosed = errors.New("client: closed")
	// ErrPingTimeout: the broker did not answer a PINGREQ within the keep-alive interval.
	ErrPingTimeout = errors.New("client: no PINGRESP within the keep-alive interval")
	// ErrBadOptions: the Options cannot describe a connection.
	ErrBadOptions = errors.New("client: bad options")
)

func (o *Options) withDefaults() (Options, error) {
	c := *o
	if c.Version == 0 {
		c.Version = mqtt.V5
	}
	if c.WSPath == "" {
		c.WSPath = "/mqtt"
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60 * time.Second
	}
	if c.Inflight <= 0 {
		c.Inflight = 64
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = 65535
	}
	if c.WriteBuffer <= 0 {
		c.WriteBuffer = 1 << 20
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("Addr is empty"))
	}
	if c.Version != mqtt.V311 && c.Version != mqtt.V5 {
		errs = append(errs, errors.New("Version must be mqtt.V311 or mqtt.V5"))
	}
	if c.ClientID == "" && !c.CleanStart {
		errs = append(errs, errors.New("an empty ClientID needs CleanStart"))
	}
	if c.SessionExpiry != 0 && c.Version != mqtt.V5 {
		errs = append(errs, errors.New("SessionExpiry needs MQTT 5"))
	}
	if c.KeepAlive > 65535*time.Second {
		errs = append(errs, errors.New("KeepAlive above 65535 s"))
	}
	if c.Inflight > 65535 {
		errs = append(errs, errors.New("Inflight above 65535"))
	}
	if len(errs) > 0 {
		return c, errors.Join(append([]error{ErrBadOptions}, errs...)...)
	}
	return c, nil
}

// keepAliveSeconds is the Keep Alive field of CONNECT.
func (o *Options) keepAliveSeconds() uint16 {
	if o.KeepAlive < 0 {
		return 0
	}
	return uint16((o.KeepAlive + time.Second/2) / time.Second)
}
