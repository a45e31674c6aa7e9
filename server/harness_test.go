package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/listeners"
	"github.com/stretchr/testify/require"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 5 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("MQTTDS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer runs a broker with one TCP listener on a free loopback port
// and returns it with the listener's address. It is closed at test end.
func startServer(t testing.TB, opts *Options) (*Server, string) {
	t.Helper()
	return startServerWith(t, opts, nil)
}

// startServerWith is startServer with setup called on the broker before it
// starts (to install test hooks).
func startServerWith(t testing.TB, opts *Options, setup func(*Server)) (*Server, string) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	s, err := New(opts)
	require.NoError(t, err)
	if setup != nil {
		setup(s)
	}
	l := listeners.NewTCP("tcp", "127.0.0.1:0")
	require.NoError(t, s.AddListener(l))
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		require.NoError(t, s.Close(ctx))
	})
	return s, l.Address()
}

// rawClient speaks MQTT through the codec, packet by packet, so tests can
// send exactly what a rule is about and see exactly what comes back.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	r  *mqtt.Reader
	v  mqtt.Version
}

func dialRaw(t testing.TB, addr string, v mqtt.Version) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return wrapRaw(t, nc, v)
}

func wrapRaw(t testing.TB, nc net.Conn, v mqtt.Version) *rawClient {
	return &rawClient{t: t, nc: nc, r: mqtt.NewReader(bufio.NewReader(nc), 0), v: v}
}

func (c *rawClient) send(p *mqtt.Packet) {
	c.t.Helper()
	b, err := mqtt.Encode(nil, p, c.v)
	require.NoError(c.t, err, "encoding %s", p)
	c.sendBytes(b)
}

func (c *rawClient) sendBytes(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	_, err := c.nc.Write(b)
	require.NoError(c.t, err)
}

// next returns the next packet, or fails the test after testTimeout.
func (c *rawClient) next() mqtt.Packet {
	c.t.Helper()
	p, err := c.read(testTimeout)
	require.NoError(c.t, err)
	return p
}

func (c *rawClient) read(d time.Duration) (mqtt.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadPacket(c.v)
}

// expect returns the next packet and checks its type.
func (c *rawClient) expect(typ mqtt.Type) mqtt.Packet {
	c.t.Helper()
	p := c.next()
	require.Equal(c.t, typ, p.Type, "got %s", p.String())
	return p
}

// expectNothing checks that no packet arrives within d.
func (c *rawClient) expectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.read(d)
	var ne net.Error
	require.True(c.t, errors.As(err, &ne) && ne.Timeout(), "expected silence, got %s (err %v)", p.String(), err)
}

// expectClosed checks that the broker closes the connection, skipping
// nothing: any packet before the close fails the test unless it is allowed.
func (c *rawClient) expectClosed(allowed ...mqtt.Type) {
	c.t.Helper()
	for {
		p, err := c.read(testTimeout)
		if err != nil {
			var ne net.Error
			require.False(c.t, errors.As(err, &ne) && ne.Timeout(), "connection not closed")
			return
		}
		require.Contains(c.t, allowed, p.Type, "unexpected %s before close", p.String())
	}
}

// connect sends CONNECT and returns the CONNACK.
func (c *rawClient) connect(id string, clean bool, mod ...func(*mqtt.Packet)) mqtt.Packet {
	c.t.Helper()
	p := &mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: c.v, ClientID: id,
		CleanStart: clean, KeepAlive: 30}}
	for _, m := range mod {
		m(p)
	}
	c.send(p)
	return c.expect(mqtt.TypeConnack)
}

func (c *rawClient) subscribe(pid uint16, subs ...mqtt.Subscription) mqtt.Packet {
	c.t.Helper()
	c.send(&mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: pid, Subscriptions: subs})
	ack := c.expect(mqtt.TypeSuback)
	require.Equal(c.t, pid, ack.PacketID)
	return ack
}

func (c *rawClient) publish(topic string, payload string, qos mqtt.QoS, pid uint16, retain bool) {
	c.t.Helper()
	c.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, Payload: []byte(payload), QoS: qos, PacketID: pid,
		Retain: retain})
}

func (c *rawClient) close() { c.nc.Close() }

// waitFor polls cond until it holds or testTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sessionExpiry(sec uint32) func(*mqtt.Packet) {
	return func(p *mqtt.Packet) {
		p.Properties.SessionExpiry = sec
		p.Properties.Present.Add(mqtt.PropSessionExpiry)
	}
}
