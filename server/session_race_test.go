package server

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// sessionKinds runs fn with a broker keeping sessions in memory and with one keeping them in
// durable storage.
func sessionKinds(t *testing.T, fn func(t *testing.T, srv *Server, addr string)) {
	for _, kind := range []string{"memory", "durable"} {
		t.Run(kind, func(t *testing.T) {
			var opts *Options
			if kind == "durable" {
				opts = &Options{Durable: DurableOptions{Enable: true, Dir: t.TempDir()}}
			}
			srv, addr := startServer(t, opts)
			fn(t, srv, addr)
		})
	}
}

// Ensure that a QoS 1 message published while the subscriber's connection ends is delivered
// on the next connection of its session, in flight (re-sent with DUP) or queued, never lost:
// the session outlives the connection [MQTT-3.1.2-23] v5, and messages matching it while it is
// disconnected are queued [MQTT-3.1.2-5] v3.1.1. The old connection never acknowledges
// anything, so whatever reached it must come again. Each round ends the connection at another
// point of the publisher's stream.
func TestOfflineQueue_PublishRacingConnectionEnd(t *testing.T) {
	const rounds, n = 16, 12
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			sessionKinds(t, func(t *testing.T, srv *Server, addr string) {
				pub := dialRaw(t, addr, mqtt.V5)
				pub.connect("race-pub", true)
				for round := range rounds {
					id := fmt.Sprint("racer-", round)
					filter := "race/" + id
					sub := dialRaw(t, addr, v)
					ack := sub.connect(id, v == mqtt.V5, sessionExpiry311(v, 3600))
					require.Equal(t, mqtt.Success, ack.ReasonCode)
					sub.subscribe(1, mqtt.Subscription{Filter: filter, QoS: mqtt.QoS1})

					// The subscriber's connection ends after the round's share of the
					// messages was acknowledged to the publisher, while the rest go on.
					closeAt := round % n
					for i := range n {
						if i == closeAt {
							sub.close()
						}
						pub.publish(filter, fmt.Sprint(i), mqtt.QoS1, uint16(i+1), false)
						require.Equal(t, uint16(i+1), pub.expect(mqtt.TypePuback).PacketID)
					}

					sub = dialRaw(t, addr, v)
					ack = sub.connect(id, false, sessionExpiry311(v, 3600))
					require.True(t, ack.SessionPresent, "[MQTT-3.2.2-2] v3.1.1, [MQTT-3.2.2-3] v5")
					got := map[string]bool{}
					for len(got) < n {
						p := sub.expect(mqtt.TypePublish)
						got[string(p.Payload)] = true
						sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
					}
					sub.close()
				}
			})
		})
	}
}

// sessionExpiry311 is sessionExpiry for a v5 CONNECT, nothing for 3.1.1 (whose sessions last
// Options.SessionExpiryV3 without a clean session).
func sessionExpiry311(v mqtt.Version, sec uint32) func(*mqtt.Packet) {
	if v != mqtt.V5 {
		return func(*mqtt.Packet) {}
	}
	return sessionExpiry(sec)
}

// contender is one of several connections racing to CONNECT with the same client id; a
// goroutine reads what the broker sends it, acknowledging nothing.
type contender struct {
	c     *rawClient
	acked chan struct{} // closed once the CONNACK (or a failure) came
	done  chan struct{} // closed once the broker closed the connection

	mu       sync.Mutex
	err      error
	connack  mqtt.Packet
	goodbye  []mqtt.ReasonCode // the DISCONNECTs received
	payloads map[string]bool
}

func newContender(t *testing.T, addr string) *contender {
	return &contender{c: dialRaw(t, addr, mqtt.V5), acked: make(chan struct{}), done: make(chan struct{}),
		payloads: map[string]bool{}}
}

// run sends CONNECT once start is closed, then reads until the connection ends or stop is
// closed.
func (x *contender) run(start, stop <-chan struct{}, id string) {
	defer close(x.done)
	fail := func(err error) {
		x.mu.Lock()
		x.err = err
		x.mu.Unlock()
	}
	<-start
	p := &mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5, ClientID: id,
		KeepAlive: 30}}
	sessionExpiry(3600)(p)
	b, err := mqtt.Encode(nil, p, mqtt.V5)
	if err == nil {
		_, err = x.c.nc.Write(b)
	}
	if err != nil {
		fail(err)
		close(x.acked)
		return
	}
	first := true
	for {
		p, err := x.c.read(50 * time.Millisecond)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			select {
			case <-stop:
				if first {
					close(x.acked)
				}
				return
			default:
				continue
			}
		}
		if err != nil { // closed by the broker
			if first {
				fail(err)
				close(x.acked)
			}
			return
		}
		x.mu.Lock()
		switch {
		case first:
			x.connack = p
		case p.Type == mqtt.TypePublish:
			x.payloads[string(p.Payload)] = true
		case p.Type == mqtt.TypeDisconnect:
			x.goodbye = append(x.goodbye, p.ReasonCode)
		}
		x.mu.Unlock()
		if first {
			first = false
			close(x.acked)
		}
	}
}

func (x *contender) open() bool {
	select {
	case <-x.done:
		return false
	default:
		return true
	}
}

// connsOf counts the broker's connections that completed CONNECT as id and have not finished.
func (s *Server) connsOf(id string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for c := range s.mu.conns {
		if !c.ready.Load() || c.clientID != id {
			continue
		}
		select {
		case <-c.finished:
		default:
			n++
		}
	}
	return n
}

// Ensure that CONNECTs racing with one client id and Clean Start = 0 take the session over one
// after the other: each one accepted takes it from the one before, which gets DISCONNECT 0x8E
// and is closed [MQTT-3.1.4-3] v5, so one connection is left, the session's; it continues the
// session [MQTT-3.1.2-5] v5 and has every message queued for it, since no one acknowledged any.
func TestTakeOver_ConcurrentConnects(t *testing.T) {
	const contenders, rounds, queued = 8, 6, 4
	sessionKinds(t, func(t *testing.T, srv *Server, addr string) {
		id := "contended"
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(id, true, sessionExpiry(3600))
		c.subscribe(1, mqtt.Subscription{Filter: "contended/#", QoS: mqtt.QoS1})
		c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
		c.expectClosed()
		pub := dialRaw(t, addr, mqtt.V5)
		pub.connect("contended-pub", true)
		for round := range rounds {
			waitFor(t, "the session offline", func() bool {
				sess := srv.loadedSession(id)
				return srv.connsOf(id) == 0 && (sess == nil || !sess.online())
			})
			for i := range queued {
				pid := uint16(round*queued + i + 1)
				pub.publish("contended/t", fmt.Sprint(round, "-", i), mqtt.QoS1, pid, false)
				require.Equal(t, pid, pub.expect(mqtt.TypePuback).PacketID)
			}

			start, stop := make(chan struct{}), make(chan struct{})
			xs := make([]*contender, contenders)
			for i := range xs {
				xs[i] = newContender(t, addr)
				go xs[i].run(start, stop, id)
			}
			close(start)
			for _, x := range xs {
				select {
				case <-x.acked:
				case <-time.After(testTimeout):
					t.Fatal("no CONNACK")
				}
				x.mu.Lock()
				require.NoError(t, x.err)
				require.Equal(t, mqtt.Success, x.connack.ReasonCode, "got %s", x.connack.String())
				require.True(t, x.connack.SessionPresent, "[MQTT-3.1.2-5] v5")
				x.mu.Unlock()
			}
			deadline := time.Now().Add(testTimeout)
			for {
				open := 0
				for _, x := range xs {
					if x.open() {
						open++
					}
				}
				if open == 1 {
					break
				}
				if time.Now().After(deadline) {
					close(stop)
					t.Fatalf("round %d: %d connections own session %s (broker: %d attached)", round, open, id,
						srv.connsOf(id))
				}
				time.Sleep(5 * time.Millisecond)
			}
			var owner *contender
			for _, x := range xs {
				if x.open() {
					owner = x
					continue
				}
				x.mu.Lock()
				require.Equal(t, []mqtt.ReasonCode{mqtt.SessionTakenOver}, x.goodbye, "[MQTT-3.1.4-3] v5")
				x.mu.Unlock()
			}
			require.Equal(t, 1, srv.connsOf(id))
			require.True(t, srv.loadedSession(id).online())
			waitFor(t, "the queued messages on the last connection", func() bool {
				owner.mu.Lock()
				defer owner.mu.Unlock()
				for i := range queued {
					if !owner.payloads[fmt.Sprint(round, "-", i)] {
						return false
					}
				}
				return true
			})
			// Leave, keeping the session: the messages come again next round, to be
			// acknowledged by no one again.
			close(stop)
			<-owner.done
			owner.c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
			owner.c.close()
		}
	})
}
