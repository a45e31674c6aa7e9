package mqttbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Mode is what a bench run does.
type Mode string

// The modes.
const (
	// ModeConn opens Clients connections at ConnRate and holds them until Duration ends.
	ModeConn Mode = "conn"
	// ModeSub connects Clients subscribers to Topic and counts what arrives until Duration ends.
	ModeSub Mode = "sub"
	// ModePub connects Clients publishers to Topic, and optionally Subscribers receivers on SubTopic in
	// the same process, so that loss, duplicates and latency are counted exactly.
	ModePub Mode = "pub"
	// ModeDurable checks that a persistent session gets every acknowledged message after going
	// offline (and, with RestartCmd, after a broker restart).
	ModeDurable Mode = "durable"
)

// Modes lists the modes in the order the usage text shows them.
var Modes = []Mode{ModeConn, ModeSub, ModePub, ModeDurable}

// Limits that keep every run bounded, whatever the flags say.
const (
	MaxDuration = time.Hour
	MaxClients  = 200_000
)

// Config is one bench run. Build it with ParseFlags (or by hand, then call Validate).
type Config struct {
	Mode Mode

	// Where and how to connect.
	Host        string
	Port        int
	TLS         bool
	Insecure    bool   // with TLS: do not verify the server certificate
	CAFile      string // with TLS: PEM roots to verify the server with
	WebSocket   bool
	WSPath      string
	Version     byte // MQTT protocol level: 4 (3.1.1) or 5
	Username    string
	Password    string
	KeepAlive   time.Duration
	CleanStart  bool
	Expiry      uint32 // session expiry interval in seconds (MQTT 5)
	AllowRemote bool

	// Who connects.
	Clients    int
	StartIndex int     // the %i of the first client
	ConnRate   float64 // new connections per second over all clients; 0 = as fast as possible
	ClientID   Template

	// What is published or subscribed.
	Topic       Template
	QoS         byte
	Size        int    // payload bytes, header included
	PayloadFile string // if set, the payload is the bench header followed by this file
	Interval    time.Duration
	Rate        float64 // messages per second over all publishers; overrides Interval
	Limit       int     // messages per publisher; 0 = until Duration ends
	Inflight    int     // QoS 1/2 messages a publisher may have unacknowledged

	// pub mode: receivers in the same process.
	Subscribers int
	SubTopic    Template
	SubClientID Template

	// Bounds and reporting.
	Duration time.Duration // the run stops by itself after this long
	Drain    time.Duration // after publishing ends, how long receivers may still take
	Quiet    bool          // no per-second progress lines
	Label    string        // copied into the Result, to tell runs apart (e.g. the broker's name)
	RSSPid   int           // conn mode: sample this process's VmRSS before and after connecting

	// durable mode.
	Messages   int    // messages published while the session is offline
	RestartCmd string // run (with sh -c) after publishing, before the session reconnects
	Reconnect  time.Duration

	payloadFile []byte // read by Validate

	// restart, when set, replaces RestartCmd: tests restart an in-process broker with it.
	restart func(ctx context.Context) error
}

// Addr is host:port.
func (c *Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Validate checks the whole configuration and returns every problem at once (joined), so a user fixes
// a command line in one round. It also reads PayloadFile and resolves Host for the loopback check.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+format, args...)) }

	switch c.Mode {
	case ModeConn, ModeSub, ModePub, ModeDurable:
	default:
		bad("unknown mode %q (want conn, sub, pub or durable)", c.Mode)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("--port %d out of range 1..65535", c.Port)
	}
	if c.Version != 4 && c.Version != 5 {
		bad("--version must be 3 (3.1.1) or 5")
	}
	if c.Insecure && !c.TLS || c.CAFile != "" && !c.TLS {
		bad("--insecure and --cafile need --tls")
	}
	if c.Clients < 1 || c.Clients > MaxClients {
		bad("--clients %d out of range 1..%d", c.Clients, MaxClients)
	}
	if c.ConnRate < 0 || c.Rate < 0 || c.Interval < 0 || c.Limit < 0 || c.Drain < 0 {
		bad("rates, intervals, limits and drain time cannot be negative")
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		bad("--duration %v out of range (0, %v]: every run must stop by itself", c.Duration, MaxDuration)
	}
	if c.QoS > 2 {
		bad("--qos %d: want 0, 1 or 2", c.QoS)
	}
	if c.Inflight < 1 || c.Inflight > 65535 {
		bad("--inflight %d out of range 1..65535", c.Inflight)
	}
	if c.KeepAlive < 0 || c.KeepAlive > 65535*time.Second {
		bad("--keepalive %v out of range 0..65535s", c.KeepAlive)
	}
	if c.Expiry > 0 && c.Version != 5 {
		bad("--session-expiry needs --version 5 (MQTT 3.1.1 keeps a session with --clean=false)")
	}
	errs = append(errs, c.validatePayload()...)
	errs = append(errs, c.validateTopics()...)
	errs = append(errs, c.validateMode()...)
	if err := c.checkLoopback(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) validatePayload() []error {
	if c.Mode == ModeConn || c.Mode == ModeSub {
		return nil
	}
	if c.PayloadFile != "" {
		b, err := os.ReadFile(c.PayloadFile)
		if err != nil {
			return []error{fmt.Errorf("bench: --payload-file: %w", err)}
		}
		c.payloadFile = b
		return nil
	}
	if c.Size < HeaderSize || c.Size > 256<<20 {
		return []error{fmt.Errorf("bench: --size %d out of range %d..%d (the payload carries a %d-byte header)",
			c.Size, HeaderSize, 256<<20, HeaderSize)}
	}
	return nil
}

func (c *Config) validateTopics() []error {
	var errs []error
	check := func(flag string, t Template, filter bool) {
		if t.String() == "" {
			errs = append(errs, fmt.Errorf("bench: %s is empty", flag))
			return
		}
		v := t.Expand(c.StartIndex)
		var err error
		if filter {
			err = topic.ValidateFilter(v)
		} else {
			err = topic.ValidateName(v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bench: %s %q: %w", flag, v, err))
		}
	}
	switch c.Mode {
	case ModeSub:
		check("--topic", c.Topic, true)
	case ModePub:
		check("--topic", c.Topic, false)
		if c.Subscribers > 0 {
			check("--sub-topic", c.SubTopic, true)
		}
	case ModeDurable:
		check("--topic", c.Topic, false)
	}
	return errs
}

func (c *Config) validateMode() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+format, args...)) }
	switch c.Mode {
	case ModePub:
		if c.Subscribers < 0 || c.Subscribers > MaxClients {
			bad("--subscribers %d out of range 0..%d", c.Subscribers, MaxClients)
		}
	case ModeDurable:
		if c.Messages < 1 || c.Messages > 10_000_000 {
			bad("--messages %d out of range 1..10000000", c.Messages)
		}
		if c.QoS == 0 {
			bad("durable mode needs --qos 1 or 2: QoS 0 messages are not queued for offline sessions")
		}
		if c.Version == 5 && c.Expiry == 0 {
			bad("durable mode with MQTT 5 needs --session-expiry > 0, or the broker drops the session")
		}
		if c.Reconnect <= 0 {
			bad("--reconnect-timeout must be positive")
		}
	}
	if c.RSSPid != 0 {
		if c.Mode != ModeConn {
			bad("--rss-pid is only for conn mode")
		} else if _, err := readVmRSS(c.RSSPid); err != nil {
			bad("--rss-pid: %v", err)
		}
	}
	if c.ClientID.String() == "" || (c.Clients > 1 && !c.ClientID.PerClient() && c.Mode != ModeDurable) {
		bad("--client-id %q must contain %%i when there is more than one client", c.ClientID)
	}
	return errs
}

// checkLoopback refuses targets that are not this machine unless AllowRemote is set: a load
// generator pointed at someone else's broker by mistake is a denial of service.
func (c *Config) checkLoopback() error {
	if c.AllowRemote {
		return nil
	}
	ips, err := net.LookupIP(c.Host)
	if err != nil {
		return fmt.Errorf("bench: --host %q: %w", c.Host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("bench: --host %q resolves to %v, which is not a loopback address; "+
				"pass --allow-remote to load a broker on another machine", c.Host, ip)
		}
	}
	return nil
}
