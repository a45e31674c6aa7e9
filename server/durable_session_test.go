package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
)

// durableServer starts a broker with durable sessions stored in dir.
func durableServer(t *testing.T, dir string, mod ...func(*Options)) (*Server, string) {
	t.Helper()
	o := &Options{Durable: DurableOptions{Enable: true, Dir: dir, Storage: &ds.Options{NumShards: 4}}}
	for _, m := range mod {
		m(o)
	}
	return startServer(t, o)
}

func closeServer(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, s.Close(ctx))
}

// Ensure that a v5 session with an expiry interval gets the messages published while it was
// away, in order, on reconnect without subscribing again, with Session Present = 1
// [MQTT-3.2.2-3]; also after the broker restarted on the same directory.
func TestDurable_PahoOfflineMessages(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	sub, _ := pahoV5(t, addr, "d-sub", true, 3600)
	_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "off/#", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))

	pub, _ := pahoV5(t, addr, "d-pub", true, 0)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := pub.Publish(ctx, &paho.Publish{Topic: "off/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
			require.NoError(t, err)
		}
	}
	publish(0, 20)
	require.EqualValues(t, 20, srv.DurableMetrics().Persisted)

	expect := func(got chan *paho.Publish, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			p := receive(t, got)
			require.Equal(t, fmt.Sprint(i), string(p.Payload))
		}
	}
	c, got := pahoV5Present(t, addr, "d-sub", 3600, true)
	expect(got, 0, 20)
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))

	publish(20, 30)
	_ = pub.Disconnect(&paho.Disconnect{})
	closeServer(t, srv)

	_, addr = durableServer(t, dir)
	_, got = pahoV5Present(t, addr, "d-sub", 3600, true)
	expect(got, 20, 30)
}

// pahoV5Present connects with Clean Start = 0 and checks Session Present.
func pahoV5Present(t *testing.T, addr, id string, expiry uint32, present bool) (*paho.Client, chan *paho.Publish) {
	t.Helper()
	got := make(chan *paho.Publish, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			got <- r.Packet
			return true, nil
		}}})
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	require.Equal(t, present, ack.SessionPresent)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, got
}

// Ensure that a 3.1.1 client with Clean Session = 0 gets a durable session that survives a
// restart of the broker (paho.mqtt.golang).
func TestDurable_PahoV3Restart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	got := make(chan string, 100)
	connect := func(addr string, clean bool) pahov3.Client {
		o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("v3-sub").SetCleanSession(clean).
			SetAutoReconnect(false).SetProtocolVersion(4).SetConnectTimeout(testTimeout)
		o.SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) { got <- string(m.Payload()) })
		c := pahov3.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(testTimeout))
		require.NoError(t, tok.Error())
		return c
	}
	c := connect(addr, false)
	tok := c.Subscribe("v3/#", 2, nil)
	require.True(t, tok.WaitTimeout(testTimeout))
	require.NoError(t, tok.Error())
	c.Disconnect(100)

	p := dialRaw(t, addr, mqtt.V311)
	p.connect("v3-pub", true)
	for i := range 5 {
		p.publish("v3/a", fmt.Sprint(i), mqtt.QoS2, uint16(i+1), false)
		p.expect(mqtt.TypePubrec)
		p.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: uint16(i + 1)})
		p.expect(mqtt.TypePubcomp)
	}
	p.close()
	closeServer(t, srv)

	_, addr = durableServer(t, dir)
	c = connect(addr, false)
	defer c.Disconnect(100)
	for i := range 5 {
		select {
		case m := <-got:
			require.Equal(t, fmt.Sprint(i), m)
		case <-time.After(testTimeout):
			t.Fatalf("message %d not delivered", i)
		}
	}
}

// rawDurable connects a raw v5 client with an expiry interval and a Receive Maximum.
func rawDurable(t *testing.T, addr, id string, clean bool, recvMax uint16) (*rawClient, mqtt.Packet) {
	c := dialRaw(t, addr, mqtt.V5)
	ack := c.connect(id, clean, sessionExpiry(3600), func(p *mqtt.Packet) {
		p.Properties.ReceiveMaximum = recvMax
		p.Properties.Present.Add(mqtt.PropReceiveMaximum)
	})
	require.Equal(t, mqtt.Success, ack.ReasonCode)
	return c, ack
}

// Ensure that after a restart only the in-flight window is re-sent, with DUP and the same
// packet ids, then the backlog; a PUBREC'd QoS 2 message comes back only as PUBREL
// [MQTT-4.4.0-1], [MQTT-4.3.3-2]; and the window never exceeds Receive Maximum.
func TestDurable_InflightAfterRestart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	sub, _ := rawDurable(t, addr, "win", true, 2)
	sub.subscribe(1, mqtt.Subscription{Filter: "w/#", QoS: mqtt.QoS2})

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("w-pub", true)
	pub.publish("w/a", "q2", mqtt.QoS2, 1, false)
	pub.expect(mqtt.TypePubrec)
	for i := range 4 {
		pub.publish("w/a", fmt.Sprint(i), mqtt.QoS1, uint16(10+i), false)
		pub.expect(mqtt.TypePuback)
	}
	first := sub.expect(mqtt.TypePublish)
	require.Equal(t, "q2", string(first.Payload))
	second := sub.expect(mqtt.TypePublish)
	require.Equal(t, "0", string(second.Payload))
	sub.expectNothing(200 * time.Millisecond) // window of 2 is full
	sub.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: first.PacketID})
	sub.expect(mqtt.TypePubrel)
	sub.close()
	pub.close()
	waitFor(t, "offline", func() bool { return !srv.session("win").online() })
	closeServer(t, srv)

	srv, addr = durableServer(t, dir)
	sub, ack := rawDurable(t, addr, "win", false, 10)
	require.True(t, ack.SessionPresent)
	rel := sub.expect(mqtt.TypePubrel)
	require.Equal(t, first.PacketID, rel.PacketID)
	again := sub.expect(mqtt.TypePublish)
	require.True(t, again.Dup)
	require.Equal(t, second.PacketID, again.PacketID)
	require.Equal(t, "0", string(again.Payload))
	for i := 1; i < 4; i++ {
		p := sub.expect(mqtt.TypePublish)
		require.False(t, p.Dup)
		require.Equal(t, fmt.Sprint(i), string(p.Payload))
		require.NotEqual(t, second.PacketID, p.PacketID, "packet id reused while in flight")
		sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	}
	sub.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: first.PacketID})
	sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: again.PacketID})
	waitFor(t, "acks", func() bool { return srv.session("win").Info().Inflight == 0 })
	sub.close()
	waitFor(t, "offline", func() bool { return !srv.session("win").online() })
	closeServer(t, srv)

	_, addr = durableServer(t, dir)
	sub, _ = rawDurable(t, addr, "win", false, 10)
	sub.expectNothing(200 * time.Millisecond)
}

// Ensure that a QoS 2 PUBLISH re-sent after a restart is acknowledged but not stored again
// [MQTT-4.3.3-10].
func TestDurable_InboundQoS2AcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	sub, _ := rawDurable(t, addr, "in-sub", true, 10)
	sub.subscribe(1, mqtt.Subscription{Filter: "in", QoS: mqtt.QoS2})
	sub.close()
	pub, _ := rawDurable(t, addr, "in-pub", true, 10)
	pub.publish("in", "once", mqtt.QoS2, 7, false)
	pub.expect(mqtt.TypePubrec)
	pub.close()
	waitFor(t, "offline", func() bool { return !srv.session("in-pub").online() })
	closeServer(t, srv)

	srv, addr = durableServer(t, dir)
	pub, _ = rawDurable(t, addr, "in-pub", false, 10)
	pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "in", Payload: []byte("once"), QoS: mqtt.QoS2, PacketID: 7, Dup: true})
	pub.expect(mqtt.TypePubrec)
	pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 7})
	require.Equal(t, mqtt.Success, pub.expect(mqtt.TypePubcomp).ReasonCode)
	require.EqualValues(t, 0, srv.DurableMetrics().Persisted, "not stored again")

	sub, _ = rawDurable(t, addr, "in-sub", false, 10)
	p := sub.expect(mqtt.TypePublish)
	require.Equal(t, "once", string(p.Payload))
	sub.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p.PacketID})
	sub.expect(mqtt.TypePubrel)
	sub.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p.PacketID})
	sub.expectNothing(200 * time.Millisecond)
}

// Ensure that Clean Start discards a durable session and that DISCONNECT with expiry 0 ends
// one, across restarts [MQTT-3.1.2-4], and that a message nobody durable wants is not stored.
func TestDurable_EndAndCleanStart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	a, _ := rawDurable(t, addr, "a", true, 10)
	a.subscribe(1, mqtt.Subscription{Filter: "e", QoS: mqtt.QoS1})
	a.close()
	b, _ := rawDurable(t, addr, "b", true, 10)
	b.subscribe(1, mqtt.Subscription{Filter: "e", QoS: mqtt.QoS1})
	// DISCONNECT setting the expiry to 0 ends the session.
	d := &mqtt.Packet{Type: mqtt.TypeDisconnect}
	d.Properties.Present.Add(mqtt.PropSessionExpiry)
	b.send(d)
	waitFor(t, "b ended", func() bool { return srv.session("b") == nil })
	closeServer(t, srv)

	srv, addr = durableServer(t, dir)
	require.NotNil(t, srv.session("a"))
	require.Nil(t, srv.session("b"))
	require.Equal(t, 1, srv.DurableMetrics().Sessions)
	a, ack := rawDurable(t, addr, "a", true, 10)
	require.False(t, ack.SessionPresent)
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("p", true)
	pub.publish("e", "x", mqtt.QoS1, 1, false)
	ack = pub.expect(mqtt.TypePuback)
	require.Equal(t, mqtt.NoMatchingSubscribers, ack.ReasonCode, "the old subscription is gone")
	require.EqualValues(t, 0, srv.DurableMetrics().Persisted)
	a.expectNothing(100 * time.Millisecond)
}

// Ensure that a second connection takes the durable session over and continues it.
func TestDurable_Takeover(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	a, _ := rawDurable(t, addr, "t", true, 10)
	a.subscribe(1, mqtt.Subscription{Filter: "tk", QoS: mqtt.QoS1})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("p", true)
	pub.publish("tk", "1", mqtt.QoS1, 1, false)
	pub.expect(mqtt.TypePuback)
	p := a.expect(mqtt.TypePublish) // not acknowledged

	b, ack := rawDurable(t, addr, "t", false, 10)
	require.True(t, ack.SessionPresent)
	dis := a.expect(mqtt.TypeDisconnect)
	require.Equal(t, mqtt.SessionTakenOver, dis.ReasonCode)
	again := b.expect(mqtt.TypePublish)
	require.True(t, again.Dup)
	require.Equal(t, p.PacketID, again.PacketID)
	b.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: again.PacketID})
	pub.publish("tk", "2", mqtt.QoS1, 2, false)
	pub.expect(mqtt.TypePuback)
	require.Equal(t, "2", string(b.expect(mqtt.TypePublish).Payload))
	require.Equal(t, 1, srv.DurableMetrics().Online)
}

// Ensure that a Will with a delay outlives a restart: it is published once the delay, counted
// from when the connection was lost, has passed [MQTT-3.1.3-9]; and that a session whose
// expiry passed while the broker was down is gone on restart, its Will published
// [MQTT-3.1.2-8].
func TestDurable_WillsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	watcher, _ := rawDurable(t, addr, "watcher", true, 10)
	watcher.subscribe(1, mqtt.Subscription{Filter: "will/#", QoS: mqtt.QoS1})
	watcher.close()
	withWill := func(id string, expiry uint32, delay uint32) {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(id, true, sessionExpiry(expiry), func(p *mqtt.Packet) {
			p.Connect.Will = &mqtt.Will{Topic: "will/" + id, Payload: []byte(id), QoS: mqtt.QoS1}
			p.Connect.Will.Properties.WillDelay = delay
			p.Connect.Will.Properties.Present.Add(mqtt.PropWillDelay)
		})
	}
	withWill("delayed", 3600, 1) // still connected when the broker stops
	withWill("expiring", 1, 60)  // the session ends before the Will delay
	closeServer(t, srv)
	// "expiring" ages from the moment the closing broker marked it offline; a loaded machine
	// can take a while to finish closing, so leave a second of margin.
	time.Sleep(2 * time.Second)

	srv, addr = durableServer(t, dir)
	require.Nil(t, srv.session("expiring"), "expired while the broker was down")
	require.NotNil(t, srv.session("delayed"))
	watcher, _ = rawDurable(t, addr, "watcher", false, 10)
	got := map[string]bool{}
	for range 2 {
		p := watcher.expect(mqtt.TypePublish)
		got[string(p.Payload)] = true
		watcher.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	}
	require.Equal(t, map[string]bool{"delayed": true, "expiring": true}, got)
	watcher.expectNothing(200 * time.Millisecond)
}

// Ensure that the API lists offline durable sessions after a restart, and that a session
// expires while the broker runs.
func TestDurable_VisibilityAndExpiry(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	c, _ := rawDurable(t, addr, "v", true, 10)
	c.subscribe(1, mqtt.Subscription{Filter: "v/#", QoS: mqtt.QoS1})
	short := dialRaw(t, addr, mqtt.V5)
	short.connect("short", true, sessionExpiry(1))
	closeServer(t, srv)

	srv, addr = durableServer(t, dir)
	info := srv.session("v").Info()
	require.True(t, info.Durable)
	require.False(t, info.Online)
	require.Equal(t, time.Hour, info.Expiry)
	m := srv.DurableMetrics()
	require.Equal(t, 2, m.Sessions)
	require.Equal(t, 1, m.Routes)
	rec := httptest.NewRecorder()
	srv.APIHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Contains(t, rec.Body.String(), "mqttds_durable_sessions 2\n")
	require.Contains(t, rec.Body.String(), "mqttds_durable_routes 1\n")
	rec = httptest.NewRecorder()
	srv.APIHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/sessions", nil))
	var listed []SessionInfo
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &listed))
	require.Len(t, listed, 2, "offline durable sessions are listed")
	for _, l := range listed {
		require.True(t, l.Durable)
		require.False(t, l.Online)
	}
	// The session leaves the broker's table before its stored state is deleted (sess.end runs
	// after the table lock is released), so wait for both.
	waitFor(t, "short expired", func() bool {
		return srv.session("short") == nil && srv.DurableMetrics().Sessions == 1
	})

	// The sweep ends what a timer would have (here: a session whose timer is stopped).
	c, _ = rawDurable(t, addr, "swept", true, 10)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	waitFor(t, "offline", func() bool { s := srv.session("swept"); return s != nil && !s.online() })
	srv.session("swept").stopTimers()
	srv.durable.gc(time.Now().Add(2 * time.Hour))
	require.Nil(t, srv.session("swept"))
}

// Ensure that a session kept in memory (as one whose durable state could not be created) is
// not turned into an empty durable one when its client comes back with an expiry interval:
// it keeps its subscription.
func TestDurable_MemorySessionStaysInMemory(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	c, _ := rawDurable(t, addr, "m", true, 10)
	c.subscribe(1, mqtt.Subscription{Filter: "m", QoS: mqtt.QoS1})
	d := srv.session("m").(*durableSession)
	c.close()
	waitFor(t, "offline", func() bool { return !d.online() })
	// What a failed creation leaves: the subscription in the index, the session in memory.
	require.True(t, d.markEnded(true))
	require.NoError(t, d.ds.Delete(context.Background()))
	mem := newMemSession(srv, "m")
	mem.mu.expiry = 10 * time.Second
	srv.mu.Lock()
	srv.mu.sessions["m"] = mem
	srv.mu.Unlock()

	c, ack := rawDurable(t, addr, "m", false, 10)
	require.True(t, ack.SessionPresent)
	require.IsType(t, (*memSession)(nil), srv.session("m"))
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("p", true)
	pub.publish("m", "x", mqtt.QoS1, 1, false)
	pub.expect(mqtt.TypePuback)
	require.Equal(t, "x", string(c.expect(mqtt.TypePublish).Payload))
}

// Ensure that a CONNECT's new session becomes durable by being replaced in the broker's table,
// and that one whose session was taken meanwhile (another CONNECT, the API) keeps the session
// it had and leaves no durable state behind.
func TestDurable_DurableForReplaces(t *testing.T) {
	srv, _ := durableServer(t, t.TempDir())

	stale := newMemSession(srv, "r") // not the session the table holds
	require.Equal(t, Session(stale), srv.durableFor(stale, sessionConfig{expiry: time.Minute}))
	require.False(t, stale.isEnded())
	require.Nil(t, srv.durable.store.Session("r"), "the durable state made for it is deleted")

	sess, present := srv.openSession("r", true)
	require.False(t, present)
	require.Equal(t, sess, srv.durableFor(sess, sessionConfig{}), "no expiry: kept in memory")
	got := srv.durableFor(sess, sessionConfig{expiry: time.Minute})
	require.IsType(t, (*durableSession)(nil), got)
	require.True(t, sess.isEnded(), "the replaced session refuses an attach")
	require.Equal(t, got, srv.loadedSession("r"))
	require.NotNil(t, srv.durable.store.Session("r"))
	require.Equal(t, got, srv.durableFor(got, sessionConfig{expiry: time.Minute}), "a durable session stays as it is")
}
