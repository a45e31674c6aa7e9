package mqttbench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// ParseFlags builds the Config of one run from the mode name and its command-line arguments, in the
// spirit of emqtt-bench: the same long names where there is one, a few short aliases, and defaults
// that suit the mode. Usage and flag errors are written to usage. The returned Config is validated.
func ParseFlags(mode string, args []string, usage io.Writer) (*Config, error) {
	c := defaults(Mode(mode))
	if !knownMode(c.Mode) {
		return nil, fmt.Errorf("bench: unknown mode %q (want conn, sub, pub or durable)", mode)
	}
	fs := flag.NewFlagSet("mqttds bench "+mode, flag.ContinueOnError)
	fs.SetOutput(usage)
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("bench: unexpected argument %q (flags only)", fs.Arg(0))
	}
	// A mode's default session expiry is an MQTT 5 property; with 3.1.1 the session is kept by
	// clean session = false alone, so the default goes unless the user set it.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.Version == 4 && !set["session-expiry"] {
		c.Expiry = 0
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func knownMode(m Mode) bool {
	for _, k := range Modes {
		if m == k {
			return true
		}
	}
	return false
}

// defaults returns the Config a mode starts from before flags apply.
func defaults(m Mode) *Config {
	c := &Config{
		Mode:       m,
		Host:       "127.0.0.1",
		Port:       1883,
		WSPath:     "/mqtt",
		Version:    5,
		KeepAlive:  60 * time.Second,
		CleanStart: true,
		Clients:    1,
		StartIndex: 1,
		Topic:      mustTemplate("bench/%i"),
		SubTopic:   mustTemplate("bench/%i"),
		QoS:        0,
		Size:       64,
		Interval:   0,
		Inflight:   64,
		Duration:   10 * time.Second,
		Drain:      3 * time.Second,
		Messages:   1000,
		Reconnect:  30 * time.Second,
	}
	c.ClientID = mustTemplate("mqttds-bench-" + string(m) + "-%i")
	c.SubClientID = mustTemplate("mqttds-bench-sub-%i")
	switch m {
	case ModeDurable:
		c.ClientID = mustTemplate("mqttds-bench-durable")
		c.Topic = mustTemplate("bench/durable")
		c.QoS = 1
		c.CleanStart = false
		c.Expiry = 3600
		c.Duration = 5 * time.Minute
	}
	return c
}

func mustTemplate(s string) Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

// register binds every flag to c's fields; the current field values are the defaults shown.
func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Host, "host", c.Host, "broker host (loopback only unless --allow-remote)")
	fs.IntVar(&c.Port, "port", c.Port, "broker port")
	fs.IntVar(&c.Port, "p", c.Port, "short for --port")
	fs.BoolVar(&c.TLS, "tls", c.TLS, "connect with TLS")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "with --tls: skip server certificate verification")
	fs.StringVar(&c.CAFile, "cafile", c.CAFile, "with --tls: PEM file of CA certificates")
	fs.BoolVar(&c.WebSocket, "ws", c.WebSocket, "connect over WebSocket (ws://, or wss:// with --tls)")
	fs.StringVar(&c.WSPath, "ws-path", c.WSPath, "WebSocket path")
	fs.Var((*versionFlag)(&c.Version), "version", "MQTT version: 3 (3.1.1) or 5")
	fs.Var((*versionFlag)(&c.Version), "V", "short for --version")
	fs.StringVar(&c.Username, "username", c.Username, "user name")
	fs.StringVar(&c.Username, "u", c.Username, "short for --username")
	fs.StringVar(&c.Password, "password", c.Password, "password")
	fs.StringVar(&c.Password, "P", c.Password, "short for --password")
	fs.DurationVar(&c.KeepAlive, "keepalive", c.KeepAlive, "keep alive interval")
	fs.BoolVar(&c.CleanStart, "clean", c.CleanStart, "clean start (3.1.1: clean session)")
	fs.Func("session-expiry", "MQTT 5 session expiry interval in seconds (default "+
		strconv.FormatUint(uint64(c.Expiry), 10)+")", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 32)
		c.Expiry = uint32(v)
		return err
	})
	fs.BoolVar(&c.AllowRemote, "allow-remote", c.AllowRemote, "allow a target that is not a loopback address")

	fs.IntVar(&c.Clients, "clients", c.Clients, "number of clients")
	fs.IntVar(&c.Clients, "c", c.Clients, "short for --clients")
	fs.IntVar(&c.StartIndex, "start-index", c.StartIndex, "the %i of the first client")
	fs.Float64Var(&c.ConnRate, "conn-rate", c.ConnRate, "new connections per second (0 = no limit)")
	fs.Float64Var(&c.ConnRate, "R", c.ConnRate, "short for --conn-rate")
	fs.Var((*templateFlag)(&c.ClientID), "client-id", "client id template (%i = client index)")

	fs.Var((*templateFlag)(&c.Topic), "topic", "topic (pub, durable) or filter (sub) template")
	fs.Var((*templateFlag)(&c.Topic), "t", "short for --topic")
	fs.Var((*qosFlag)(&c.QoS), "qos", "QoS 0, 1 or 2")
	fs.Var((*qosFlag)(&c.QoS), "q", "short for --qos")
	fs.IntVar(&c.Size, "size", c.Size, "payload size in bytes, the 28-byte bench header included")
	fs.IntVar(&c.Size, "s", c.Size, "short for --size")
	fs.StringVar(&c.PayloadFile, "payload-file", c.PayloadFile, "send the bench header followed by this file")
	fs.DurationVar(&c.Interval, "interval", c.Interval, "pause between two publishes of one client (0 = none)")
	fs.DurationVar(&c.Interval, "I", c.Interval, "short for --interval")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "total publish rate in msg/s over all publishers (overrides --interval)")
	fs.IntVar(&c.Limit, "limit", c.Limit, "messages per publisher (0 = until --duration)")
	fs.IntVar(&c.Limit, "L", c.Limit, "short for --limit")
	fs.IntVar(&c.Inflight, "inflight", c.Inflight, "QoS 1/2 messages a publisher may have unacknowledged")

	fs.IntVar(&c.Subscribers, "subscribers", c.Subscribers, "pub mode: subscribers in this process, for exact loss and latency")
	fs.Var((*templateFlag)(&c.SubTopic), "sub-topic", "pub mode: filter template of the subscribers")
	fs.Var((*templateFlag)(&c.SubClientID), "sub-client-id", "pub mode: client id template of the subscribers")

	fs.DurationVar(&c.Duration, "duration", c.Duration, "the run stops after this long")
	fs.DurationVar(&c.Duration, "d", c.Duration, "short for --duration")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "after publishing stops, how long receivers may still take")
	fs.BoolVar(&c.Quiet, "quiet", c.Quiet, "no per-second progress lines")
	fs.StringVar(&c.Label, "label", c.Label, "a name copied into the RESULT line, to tell runs apart")
	fs.IntVar(&c.RSSPid, "rss-pid", c.RSSPid, "conn mode: report this process's VmRSS growth per connection")

	fs.IntVar(&c.Messages, "messages", c.Messages, "durable mode: messages published while the session is offline")
	fs.StringVar(&c.RestartCmd, "restart-cmd", c.RestartCmd, "durable mode: shell command that restarts the broker")
	fs.DurationVar(&c.Reconnect, "reconnect-timeout", c.Reconnect, "durable mode: how long to retry connecting after the restart")
}

type versionFlag byte

func (v *versionFlag) String() string {
	if v == nil || *v == 5 {
		return "5"
	}
	return "3"
}

func (v *versionFlag) Set(s string) error {
	switch s {
	case "3", "3.1.1", "4", "311":
		*v = 4
	case "5", "5.0":
		*v = 5
	default:
		return errors.New("want 3 (3.1.1) or 5")
	}
	return nil
}

type qosFlag byte

func (q *qosFlag) String() string {
	if q == nil {
		return "0"
	}
	return strconv.Itoa(int(*q))
}

func (q *qosFlag) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 2 {
		return errors.New("want 0, 1 or 2")
	}
	*q = qosFlag(v)
	return nil
}

type templateFlag Template

func (t *templateFlag) String() string {
	if t == nil {
		return ""
	}
	return (*Template)(t).String()
}

func (t *templateFlag) Set(s string) error {
	p, err := ParseTemplate(s)
	if err != nil {
		return err
	}
	*t = templateFlag(p)
	return nil
}
