package server

import (
	"context"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
)

// heldConnect starts a broker whose CONNECTs for clientID stop after attaching their session,
// before the connection is ready, until the returned release is called; attached receives
// once such a CONNECT got there.
func heldConnect(t *testing.T, opts *Options, clientID string) (s *Server, addr string, attached chan struct{}, release func()) {
	t.Helper()
	attached = make(chan struct{}, 1)
	gate := make(chan struct{})
	s, addr = startServerWith(t, opts, func(s *Server) {
		s.attached = func(id string) {
			if id == clientID {
				attached <- struct{}{}
				<-gate
			}
		}
	})
	released := false
	release = func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release)
	return s, addr, attached, release
}

// connectingConn is the connection of clientID that attached its session and is not ready.
func connectingConn(t *testing.T, s *Server, clientID string) *conn {
	t.Helper()
	var c *conn
	waitFor(t, "the connection attached", func() bool {
		if sess := s.loadedSession(clientID); sess != nil {
			c = sess.currentConn()
		}
		return c != nil
	})
	require.False(t, c.ready.Load())
	return c
}

// A take-over asked for by another broker (LetGo) or the API (session delete) that reaches a
// connection whose CONNECT has attached its session but is not ready yet: a v5 client gets
// its CONNACK, then DISCONNECT with the take-over's reason [MQTT-3.1.4-3] v5, never a close
// without a CONNACK; a 3.1.1 client gets its CONNACK, then the close [MQTT-3.1.4-2] v3.1.1.
func TestTakeOver_WhileConnecting(t *testing.T) {
	kicks := []struct {
		name string
		code mqtt.ReasonCode
		kick func(s *Server, id string) bool
	}{
		{"LetGo", mqtt.SessionTakenOver, (*Server).LetGo},
		{"DeleteSession", mqtt.AdministrativeAction, (*Server).DeleteSession},
	}
	for _, k := range kicks {
		for _, durable := range []bool{false, true} {
			name := k.name + "/memory"
			opts := func() *Options { return &Options{} }
			if durable {
				name = k.name + "/durable"
				opts = func() *Options {
					return &Options{Durable: DurableOptions{Enable: true, Dir: t.TempDir(), Storage: &ds.Options{NumShards: 4}}}
				}
			}
			t.Run(name+"/v5", func(t *testing.T) {
				s, addr, attached, release := heldConnect(t, opts(), "held5")
				disconnected := make(chan *paho.Disconnect, 1)
				nc, err := net.DialTimeout("tcp", addr, testTimeout)
				require.NoError(t, err)
				cl := paho.NewClient(paho.ClientConfig{Conn: nc,
					OnServerDisconnect: func(d *paho.Disconnect) { disconnected <- d }})
				type result struct {
					ack *paho.Connack
					err error
				}
				connected := make(chan result, 1)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					defer cancel()
					expiry := uint32(60)
					ack, err := cl.Connect(ctx, &paho.Connect{ClientID: "held5", CleanStart: true, KeepAlive: 30,
						Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
					connected <- result{ack, err}
				}()
				receive(t, attached)
				c := connectingConn(t, s, "held5")
				kicked := make(chan bool, 1)
				go func() { kicked <- k.kick(s, "held5") }()
				waitFor(t, "the kick reached the connection", func() bool { return c.cause.Load() != -1 })
				release()

				r := receive(t, connected)
				require.NoError(t, r.err, "the client gets its CONNACK")
				require.EqualValues(t, mqtt.Success, r.ack.ReasonCode)
				d := receive(t, disconnected)
				require.EqualValues(t, k.code, d.ReasonCode)
				require.True(t, receive(t, kicked))
			})
			t.Run(name+"/v3", func(t *testing.T) {
				s, addr, attached, release := heldConnect(t, opts(), "held3")
				lost := make(chan error, 1)
				o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("held3").SetProtocolVersion(4).
					SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(false).
					SetConnectTimeout(testTimeout).SetConnectionLostHandler(func(_ pahov3.Client, err error) { lost <- err })
				cl := pahov3.NewClient(o)
				tok := cl.Connect()
				receive(t, attached)
				c := connectingConn(t, s, "held3")
				kicked := make(chan bool, 1)
				go func() { kicked <- k.kick(s, "held3") }()
				waitFor(t, "the kick reached the connection", func() bool { return c.cause.Load() != -1 })
				release()

				require.True(t, tok.WaitTimeout(testTimeout))
				require.NoError(t, tok.Error(), "the client gets its CONNACK")
				receive(t, lost)
				require.True(t, receive(t, kicked))
			})
		}
	}
}
