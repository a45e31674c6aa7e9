package server

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

func TestConnect_V5Capabilities(t *testing.T) {
	_, addr := startServer(t, &Options{ReceiveMaximum: 10, MaxPacketSize: 4096, TopicAliasMaximum: 7,
		ServerKeepAlive: 20 * time.Second, WildcardNotAvailable: true})
	c := dialRaw(t, addr, mqtt.V5)
	ack := c.connect("", true)
	require.Equal(t, mqtt.Success, ack.ReasonCode)
	require.False(t, ack.SessionPresent)
	pr := ack.Properties
	// An empty client id gets one assigned [MQTT-3.1.3-6], [MQTT-3.2.2-16] v5.
	require.NotEmpty(t, pr.AssignedClientID)
	require.EqualValues(t, 10, pr.ReceiveMaximum)
	require.EqualValues(t, 4096, pr.MaximumPacketSize)
	require.EqualValues(t, 7, pr.TopicAliasMaximum)
	require.EqualValues(t, 20, pr.ServerKeepAlive)
	require.True(t, pr.Has(mqtt.PropWildcardSubAvailable))
	require.EqualValues(t, 0, pr.WildcardSubAvailable)
	require.False(t, pr.Has(mqtt.PropSharedSubAvailable), "shared subscriptions are available: no property")

	// Two empty ids get different ids.
	c2 := dialRaw(t, addr, mqtt.V5)
	require.NotEqual(t, pr.AssignedClientID, c2.connect("", true).Properties.AssignedClientID)
}

func TestConnect_V3ClientID(t *testing.T) {
	_, addr := startServer(t, nil)
	// Empty id with clean session 0: identifier rejected, return code 2
	// [MQTT-3.1.3-8] v3.1.1 (the codec refuses to write it, so raw bytes).
	c := dialRaw(t, addr, mqtt.V311)
	c.sendBytes([]byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00})
	require.Equal(t, mqtt.ClientIdentifierNotValid, c.expect(mqtt.TypeConnack).ReasonCode)
	c.expectClosed()
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311} {
		// With clean session 1 the broker assigns one [MQTT-3.1.3-6] v3.1.1.
		c := dialRaw(t, addr, v)
		require.Equal(t, mqtt.Success, c.connect("", true).ReasonCode, v)
	}
}

func TestConnect_FirstPacketMustBeConnect(t *testing.T) {
	_, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.send(&mqtt.Packet{Type: mqtt.TypePingreq}) // [MQTT-3.1.0-1] v5
	c.expectClosed()
}

func TestConnect_SecondConnectIsProtocolError(t *testing.T) {
	_, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("twice", true)
	c.send(&mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5, ClientID: "twice"}})
	d := c.expect(mqtt.TypeDisconnect) // [MQTT-3.1.0-2] v5
	require.Equal(t, mqtt.ProtocolError, d.ReasonCode)
	c.expectClosed()
}

func TestConnect_IdleTimeout(t *testing.T) {
	s, addr := startServer(t, &Options{IdleTimeout: 200 * time.Millisecond})
	c := dialRaw(t, addr, mqtt.V5)
	start := time.Now()
	c.expectClosed()
	require.Less(t, time.Since(start), 4*time.Second)
	waitFor(t, "idle disconnect counted", func() bool { return s.Metrics().Disconnects[CauseIdle] == 1 })
}

func TestKeepAlive(t *testing.T) {
	s, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("ka", true, func(p *mqtt.Packet) { p.Connect.KeepAlive = 1 })
	// PINGREQ keeps it alive and is answered.
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		c.send(&mqtt.Packet{Type: mqtt.TypePingreq})
		c.expect(mqtt.TypePingresp)
	}
	// Then silence: closed after 1.5 × keep alive [MQTT-3.1.2-22] v5.
	start := time.Now()
	d := c.expect(mqtt.TypeDisconnect)
	require.Equal(t, mqtt.KeepAliveTimeout, d.ReasonCode)
	c.expectClosed()
	elapsed := time.Since(start)
	require.Greater(t, elapsed, 1200*time.Millisecond)
	require.Less(t, elapsed, 6*time.Second) // generous: a loaded CI machine
	waitFor(t, "keepalive counted", func() bool { return s.Metrics().Disconnects[CauseKeepAlive] == 1 })
}

func TestTakeover(t *testing.T) {
	s, addr := startServer(t, nil)
	old := dialRaw(t, addr, mqtt.V5)
	old.connect("dup", false, sessionExpiry(60))
	old.subscribe(1, mqtt.Subscription{Filter: "t/#", QoS: mqtt.QoS1})

	// The same client id connects again: the old connection is told 0x8E
	// and closed [MQTT-3.1.4-3] v5; the session goes on.
	c := dialRaw(t, addr, mqtt.V5)
	ack := c.connect("dup", false, sessionExpiry(60))
	require.True(t, ack.SessionPresent)
	d := old.expect(mqtt.TypeDisconnect)
	require.Equal(t, mqtt.SessionTakenOver, d.ReasonCode)
	old.expectClosed()
	waitFor(t, "takeover counted", func() bool { return s.Metrics().Disconnects[CauseTakeover] == 1 })

	p := dialRaw(t, addr, mqtt.V5)
	p.connect("pub", true)
	p.publish("t/1", "hi", mqtt.QoS1, 1, false)
	require.Equal(t, mqtt.Success, p.expect(mqtt.TypePuback).ReasonCode)
	m := c.expect(mqtt.TypePublish)
	require.Equal(t, "hi", string(m.Payload))

	// Clean start discards the session [MQTT-3.1.2-4] v5.
	c3 := dialRaw(t, addr, mqtt.V5)
	require.False(t, c3.connect("dup", true).SessionPresent)
	c.expect(mqtt.TypeDisconnect)
	p.publish("t/1", "again", mqtt.QoS1, 2, false)
	require.Equal(t, mqtt.NoMatchingSubscribers, p.expect(mqtt.TypePuback).ReasonCode)
}

func TestConnect_UnsupportedVersion(t *testing.T) {
	_, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V311)
	// CONNECT with protocol level 6.
	c.sendBytes([]byte{0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3c, 0x00, 0x01, 'x'})
	ack := c.expect(mqtt.TypeConnack)
	require.Equal(t, mqtt.UnsupportedProtocolVersion, ack.ReasonCode, "[MQTT-3.1.2-2] v3.1.1: return code 1")
	c.expectClosed()
}

// A client that reconnects at once, while its previous connection (session
// expiry 0) is still ending, gets a working session: never one that the
// old connection's end discards under it.
func TestReconnectWhileEnding(t *testing.T) {
	s, addr := startServer(t, nil)
	for i := range 100 {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect("flap", false)
		// QoS 0: no message stays in flight, so a resumed session (the
		// reconnect may win the race, which is fine) has nothing to re-send.
		c.subscribe(1, mqtt.Subscription{Filter: "flap", QoS: mqtt.QoS0})
		c.publish("flap", "x", mqtt.QoS1, 2, false)
		got := map[mqtt.Type]bool{}
		for range 2 {
			got[c.next().Type] = true
		}
		require.True(t, got[mqtt.TypePublish] && got[mqtt.TypePuback], "round %d", i)
		c.close() // no DISCONNECT: the next CONNECT races this end
	}
	waitFor(t, "sessions ended", func() bool { return s.Metrics().Sessions.Total == 0 })
}

// Ensure that a client that got its CONNACK is already listed and
// kickable: a kick or a listing issued the moment the CONNACK arrives finds
// the client, and the kicked client sees DISCONNECT 0x98 after its CONNACK
// and whatever the session re-sends.
func TestConnect_ConnackImpliesListed(t *testing.T) {
	s, addr := startServer(t, &Options{MaxInflight: 3000, MaxQueued: 3000, OutboundQueue: 4096})
	kickAtConnack := func(t *testing.T, round int, id string, clean bool) {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(id, clean, sessionExpiry(60))
		listed := slices.ContainsFunc(s.Clients(), func(v ClientView) bool { return v.ClientID == id })
		require.True(t, listed, "round %d: %s got its CONNACK but is not listed", round, id)
		require.True(t, s.Kick(id), "round %d: %s got its CONNACK but cannot be kicked", round, id)
		for {
			p := c.next()
			if p.Type == mqtt.TypeDisconnect {
				require.Equal(t, mqtt.AdministrativeAction, p.ReasonCode, "round %d", round)
				break
			}
			require.Equal(t, mqtt.TypePublish, p.Type, "round %d: got %s", round, p.String())
		}
		c.expectClosed()
	}
	t.Run("fresh", func(t *testing.T) {
		for i := range 200 {
			kickAtConnack(t, i, fmt.Sprint("fresh-", i), true)
		}
	})
	// Resumed sessions with a backlog as large as the window: attaching one
	// queues three thousand PUBLISHes behind the CONNACK, which keeps the broker
	// busy right where the CONNACK used to go out before the client was
	// listed.
	t.Run("resumed", func(t *testing.T) {
		const sessions = 20
		for i := range sessions {
			sub := dialRaw(t, addr, mqtt.V5)
			sub.connect(fmt.Sprint("backlog-", i), true, sessionExpiry(60))
			sub.subscribe(1, mqtt.Subscription{Filter: "backlog", QoS: mqtt.QoS1})
			sub.close()
		}
		waitFor(t, "subscribers offline", func() bool { return s.Metrics().Sessions.Online == 0 })
		pub := dialRaw(t, addr, mqtt.V5)
		pub.connect("feeder", true)
		for i := range 3000 {
			pub.publish("backlog", "m", mqtt.QoS1, uint16(i+1), false)
			pub.expect(mqtt.TypePuback)
		}
		pub.close()
		for i := range sessions {
			kickAtConnack(t, i, fmt.Sprint("backlog-", i), false)
		}
	})
}

// Ensure that a kick racing the CONNECT never puts anything on the wire
// before the CONNACK [MQTT-3.2.0-1] v5: the client sees CONNACK, then
// DISCONNECT 0x98 if the kick found it, never a DISCONNECT or a close
// first.
func TestConnect_KickDuringConnect(t *testing.T) {
	s, addr := startServer(t, nil)
	kicked := 0
	for i := range 50 {
		id := fmt.Sprintf("racer-%d", i)
		stop := make(chan struct{})
		hit := make(chan bool, 1)
		go func() {
			// Bounded even if the test fails before it says stop.
			for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); {
				select {
				case <-stop:
					hit <- false
					return
				default:
				}
				if s.Kick(id) {
					hit <- true
					return
				}
				runtime.Gosched()
			}
			hit <- false
		}()
		c := dialRaw(t, addr, mqtt.V5)
		require.Equal(t, mqtt.Success, c.connect(id, true).ReasonCode, "round %d", i)
		close(stop)
		if <-hit {
			kicked++
			d := c.expect(mqtt.TypeDisconnect)
			require.Equal(t, mqtt.AdministrativeAction, d.ReasonCode, "round %d", i)
			c.expectClosed()
		} else {
			c.close()
		}
	}
	t.Logf("%d of 50 connections kicked while connecting", kicked)
}

// /metrics shows how long accepted CONNECTs took on the broker's side.
func TestMetrics_ConnectDuration(t *testing.T) {
	s, addr := startServer(t, nil)
	for i := range 3 {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(fmt.Sprintf("timed-%d", i), true)
	}
	body := apiCall(t, s.APIHandler(), "GET", "/metrics", "", "").Body.String()
	require.Regexp(t, `(?m)^mqttds_connect_duration_seconds_count 3$`, body)
	require.Contains(t, body, `mqttds_connect_duration_seconds_bucket{le="0.0001"}`)
}
