package server

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/listeners"
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

// startServerUnits is startServer with the Will Delay Interval counted in unit instead of
// seconds.
func startServerUnits(t *testing.T, opts *Options, unit time.Duration) (*Server, string) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.Logger = testLogger()
	s, err := New(opts)
	require.NoError(t, err)
	s.willDelayUnit = unit
	l := listeners.NewTCP("tcp", "127.0.0.1:0")
	require.NoError(t, s.AddListener(l))
	require.NoError(t, s.Start())
	t.Cleanup(func() { closeServer(t, s) })
	return s, l.Address()
}

// storedWill is the Will a session holds in memory and, for a durable one, in storage.
func storedWill(sess Session) (mem, stored string) {
	str := func(m *Message) string {
		if m == nil {
			return "none"
		}
		return string(m.Payload)
	}
	switch s := sess.(type) {
	case *memSession:
		s.mu.Lock()
		defer s.mu.Unlock()
		return str(s.mu.will), str(s.mu.will)
	case *durableSession:
		s.mu.Lock()
		defer s.mu.Unlock()
		stored = "none"
		if w := s.ds.Meta().Will; w != nil {
			stored = string(w.Message.Payload)
		}
		return str(s.mu.will), stored
	}
	return "?", "?"
}

// Ensure that a client coming back while its Will's delay runs out either cancels the Will
// [MQTT-3.1.3-9] v5 or finds it published [MQTT-3.1.2-8] v5, never both and never a half
// state: each Will is published at most once, only after its own connection ended, never the
// Will of the connection just made; and the Will the session holds, in memory and in storage
// alike, is its current connection's. The Will Delay Interval is counted in 25 µs units here, so
// that the timer and the reconnect meet (0 to 15 units: a Will without a delay goes out as its
// connection ends, and the reconnect races that); each round drops the connection and connects
// again at once with a new Will, or as soon as the broker saw the connection end.
func TestWillDelay_ReconnectRace(t *testing.T) {
	const rounds = 150
	for _, kind := range []string{"memory", "durable"} {
		t.Run(kind, func(t *testing.T) {
			var opts *Options
			if kind == "durable" {
				opts = &Options{Durable: DurableOptions{Enable: true, Dir: t.TempDir()}}
			}
			srv, addr := startServerUnits(t, opts, 25*time.Microsecond)
			id := "wd-" + kind
			var ended [rounds + 1]atomic.Bool // connection i was dropped by the test
			var bad atomic.Value
			var mu sync.Mutex
			published := map[string]int{}
			watch := dialRaw(t, addr, mqtt.V5)
			watch.connect("wd-watch", true)
			watch.subscribe(1, mqtt.Subscription{Filter: "wd/#", QoS: mqtt.QoS1})
			markers := make(chan struct{}, 1)
			watchDone := make(chan struct{})
			go func() {
				defer close(watchDone)
				for {
					p, err := watch.read(2 * testTimeout)
					if err != nil {
						return
					}
					if p.Type != mqtt.TypePublish {
						continue
					}
					if p.QoS > 0 {
						b, _ := mqtt.Encode(nil, &mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID}, mqtt.V5)
						_, _ = watch.nc.Write(b)
					}
					if p.Topic == "wd/marker" {
						markers <- struct{}{}
						continue
					}
					var i int
					_, _ = fmt.Sscan(string(p.Payload), &i)
					if !ended[i].Load() {
						bad.Store(fmt.Sprintf("the Will of connection %d published while it is connected", i))
					}
					mu.Lock()
					published[string(p.Payload)]++
					mu.Unlock()
				}
			}()

			connect := func(i int) *rawClient {
				c := dialRaw(t, addr, mqtt.V5)
				ack := c.connect(id, i == 0, sessionExpiry(3600), func(p *mqtt.Packet) {
					p.Connect.Will = &mqtt.Will{Topic: "wd/will", Payload: []byte(fmt.Sprint(i)), QoS: mqtt.QoS1,
						Properties: mqtt.Properties{WillDelay: uint32(i % 16)}}
					p.Connect.Will.Properties.Present.Add(mqtt.PropWillDelay)
				})
				require.Equal(t, mqtt.Success, ack.ReasonCode)
				return c
			}
			c := connect(0)
			for i := 1; i <= rounds; i++ {
				mem, stored := storedWill(srv.loadedSession(id))
				require.Equal(t, fmt.Sprint(i-1), mem, "round %d: the Will held in memory", i)
				require.Equal(t, mem, stored, "round %d: the Will held in storage", i)
				ended[i-1].Store(true)
				c.close()
				if i%3 != 0 {
					// Come back once the broker has seen the connection end, so that the
					// Will timer has started and the reconnect races it (the other rounds
					// take the session over from a connection still ending).
					deadline := time.Now().Add(testTimeout)
					for sess := srv.loadedSession(id); sess != nil && sess.online(); sess = srv.loadedSession(id) {
						require.False(t, time.Now().After(deadline), "the connection did not end")
						runtime.Gosched()
					}
				}
				c = connect(i)
			}
			// The last connection is still there: nothing it left is published; a
			// marker behind everything the broker routed so far says so.
			pub := dialRaw(t, addr, mqtt.V5)
			pub.connect("wd-pub", true)
			pub.publish("wd/marker", "m", mqtt.QoS1, 1, false)
			pub.expect(mqtt.TypePuback)
			select {
			case <-markers:
			case <-time.After(testTimeout):
				t.Fatal("no marker")
			}
			mem, stored := storedWill(srv.loadedSession(id))
			require.Equal(t, fmt.Sprint(rounds), mem)
			require.Equal(t, mem, stored, "the Will held in storage")
			// Its Will goes out once after its delay.
			ended[rounds].Store(true)
			c.close()
			waitFor(t, "the last Will", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return published[fmt.Sprint(rounds)] > 0
			})
			watch.close()
			<-watchDone
			if v := bad.Load(); v != nil {
				t.Fatal(v)
			}
			n := 0
			for w, times := range published {
				require.Equal(t, 1, times, "Will %s published %d times", w, times)
				n++
			}
			t.Logf("%d of %d Wills published, the others cancelled by the reconnect", n, rounds+1)
		})
	}
}
