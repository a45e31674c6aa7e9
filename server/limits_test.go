package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttds/mqttds/internal/testcert"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/listeners"
	"github.com/stretchr/testify/require"
)

func TestLimits_MaxConnections(t *testing.T) {
	s, addr := startServer(t, &Options{MaxConnections: 1})
	a := dialRaw(t, addr, mqtt.V5)
	a.connect("first", true)
	b := dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.QuotaExceeded, b.connect("second", true).ReasonCode)
	b.expectClosed()
	waitFor(t, "refused counted", func() bool { return s.Metrics().Connections.Refused == 1 })
}

func TestLimits_ConnectionRate(t *testing.T) {
	// A rate of 1/s (a bucket of one): the second connection is refused unless a whole second
	// passed since the first, a wide margin on a loaded machine.
	s, addr := startServer(t, &Options{ConnectionRate: 1})
	c := dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("ra", true).ReasonCode)
	c = dialRaw(t, addr, mqtt.V5)
	c.send(&mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5, ClientID: "rc", CleanStart: true}})
	c.expectClosed()
	require.EqualValues(t, 1, s.Metrics().Disconnects[CauseRefused])
	time.Sleep(1100 * time.Millisecond) // the bucket refills
	c = dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("rd", true).ReasonCode)
}

// A client over its message rate is slowed down (its reads pause), not
// disconnected.
func TestLimits_ClientMessageRate(t *testing.T) {
	_, addr := startServer(t, &Options{ClientMessageRate: 50})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("chatty", true)
	start := time.Now()
	for i := range 100 {
		c.publish("rate", "x", mqtt.QoS1, uint16(i+1), false)
	}
	for range 100 {
		c.expect(mqtt.TypePuback)
	}
	// 50 in the burst, then 50 more at 50/s: about a second.
	require.Greater(t, time.Since(start), 800*time.Millisecond)
}

func TestLimits_MaxSubscriptions(t *testing.T) {
	_, addr := startServer(t, &Options{MaxSubscriptions: 2})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("subs", true)
	ack := c.subscribe(1, mqtt.Subscription{Filter: "a"}, mqtt.Subscription{Filter: "b"},
		mqtt.Subscription{Filter: "c"}, mqtt.Subscription{Filter: "a", QoS: mqtt.QoS1})
	require.Equal(t, []mqtt.ReasonCode{0, 0, mqtt.QuotaExceeded, mqtt.GrantedQoS1}, ack.ReasonCodes,
		"a replacement is not a new subscription")
}

// Above the memory high watermark new connections are refused with 0x89
// and QoS 0 deliveries are shed (and counted); QoS 1 still flows.
func TestLimits_MemoryHighWatermark(t *testing.T) {
	s, addr := startServer(t, nil)
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "m", QoS: mqtt.QoS1})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)

	s.mem.high.Store(true)
	c := dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.ServerBusy, c.connect("late", true).ReasonCode)
	pub.publish("m", "qos0", mqtt.QoS0, 0, false)
	pub.publish("m", "qos1", mqtt.QoS1, 1, false)
	pub.expect(mqtt.TypePuback)
	m := sub.expect(mqtt.TypePublish)
	require.Equal(t, "qos1", string(m.Payload))
	require.EqualValues(t, 1, s.Metrics().Messages.Dropped[DropMemoryPressure])
}

// TLS with a verified client certificate whose common name becomes the
// username; the ACL sees that name.
func TestTLS_CertificateCommonName(t *testing.T) {
	ca, err := testcert.NewCA()
	require.NoError(t, err)
	srvCert, _, _, err := ca.Issue("127.0.0.1", true)
	require.NoError(t, err)
	cliCert, _, _, err := ca.Issue("sensor-9", false)
	require.NoError(t, err)
	rec := &recorder{want: []Event{ClientConnected}}
	s, err := New(&Options{Logger: testLogger(), UseCNAsUsername: map[string]bool{"tls": true},
		Authenticator: auth.NewChain(auth.CertCommonName{}, auth.Anonymous{Allowed: false})})
	require.NoError(t, err)
	s.AddHook(rec)
	l := listeners.NewTLS("tls", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srvCert},
		ClientCAs: ca.Pool, ClientAuth: tls.VerifyClientCertIfGiven})
	require.NoError(t, s.AddListener(l))
	require.NoError(t, s.Start())
	defer s.Close(context.Background())

	dial := func(certs []tls.Certificate) *rawClient {
		nc, err := tls.Dial("tcp", l.Address(), &tls.Config{RootCAs: ca.Pool, Certificates: certs, ServerName: "127.0.0.1"})
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		return wrapRaw(t, nc, mqtt.V5)
	}
	c := dial([]tls.Certificate{cliCert})
	require.Equal(t, mqtt.Success, c.connect("dev", true).ReasonCode)
	require.Len(t, s.Clients(), 1)
	require.Equal(t, "sensor-9", s.Clients()[0].Username)
	c = dial(nil)
	require.Equal(t, mqtt.BadUserNameOrPassword, c.connect("nocert", true).ReasonCode)
}

// MQTT over WebSocket through the broker.
func TestWebSocket_EndToEnd(t *testing.T) {
	s, err := New(&Options{Logger: testLogger()})
	require.NoError(t, err)
	l := listeners.NewWebSocket("ws", "127.0.0.1:0", "/mqtt", nil)
	require.NoError(t, s.AddListener(l))
	require.NoError(t, s.Start())
	defer s.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+l.Address()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"},
		HTTPClient: http.DefaultClient})
	require.NoError(t, err)
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	t.Cleanup(func() { nc.Close() })
	c := wrapRaw(t, nc, mqtt.V311)
	require.Equal(t, mqtt.Success, c.connect("wsclient", true).ReasonCode)
	c.subscribe(1, mqtt.Subscription{Filter: "ws/#", QoS: mqtt.QoS1})
	c.publish("ws/x", "over websocket", mqtt.QoS1, 2, false)
	got := map[mqtt.Type]mqtt.Packet{}
	for range 2 {
		p := c.next()
		got[p.Type] = p
	}
	require.Equal(t, "over websocket", string(got[mqtt.TypePublish].Payload))
	require.Contains(t, got, mqtt.TypePuback)
}

// The byte rate works the same way: 4 KB at 2 KB/s, after a 2 KB burst,
// takes about a second.
func TestLimits_ClientByteRate(t *testing.T) {
	_, addr := startServer(t, &Options{ClientByteRate: 2000})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("bulky", true)
	start := time.Now()
	payload := string(make([]byte, 200))
	for i := range 20 {
		c.publish("bytes", payload, mqtt.QoS1, uint16(i+1), false)
	}
	for range 20 {
		c.expect(mqtt.TypePuback)
	}
	require.Greater(t, time.Since(start), 800*time.Millisecond)
}

// The memory alarm: crossing the watermark either way is published retained
// on $SYS/brokers/<node>/alarms/memory_high_watermark, shown in Metrics
// and on /metrics, and a raise is counted.
func TestLimits_MemoryAlarm(t *testing.T) {
	s, addr := startServer(t, &Options{NodeName: "n1"})
	const topic = "$SYS/brokers/n1/alarms/memory_high_watermark"
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("alarm-watch", true)
	sub.subscribe(1, mqtt.Subscription{Filter: topic})
	event := func(m mqtt.Packet) AlarmEvent {
		t.Helper()
		require.Equal(t, topic, m.Topic)
		var ev AlarmEvent
		require.NoError(t, json.Unmarshal(m.Payload, &ev))
		return ev
	}
	prom := func() string { return get(t, s.APIHandler(), "/metrics") }

	s.memoryAlarm(true, 300, 200)
	ev := event(sub.expect(mqtt.TypePublish))
	require.Equal(t, AlarmEvent{Name: "memory_high_watermark", State: "raised", Value: 300, Limit: 200, Time: ev.Time}, ev)
	s.memoryAlarm(true, 310, 200) // no transition, no message
	sub.expectNothing(50 * time.Millisecond)
	m := s.Metrics()
	require.EqualValues(t, 1, m.Alarms.MemoryHigh)
	require.EqualValues(t, 1, m.Alarms.MemoryHighRaised)
	require.Contains(t, prom(), `mqttds_alarm{name="memory_high_watermark"} 1`)

	s.memoryAlarm(false, 100, 200)
	require.Equal(t, "cleared", event(sub.expect(mqtt.TypePublish)).State)
	require.Contains(t, prom(), `mqttds_alarm{name="memory_high_watermark"} 0`)
	s.memoryAlarm(true, 300, 200)
	require.Equal(t, "raised", event(sub.expect(mqtt.TypePublish)).State)
	require.Contains(t, prom(), `mqttds_alarm_raised_total{name="memory_high_watermark"} 2`)
	s.memoryAlarm(false, 100, 200)
	require.Equal(t, "cleared", event(sub.expect(mqtt.TypePublish)).State)

	// The state stays retained for whoever subscribes later (once the alarm
	// is cleared: while it is raised, connections are refused).
	late := dialRaw(t, addr, mqtt.V5)
	late.connect("late-watch", true)
	late.subscribe(1, mqtt.Subscription{Filter: topic})
	r := late.expect(mqtt.TypePublish)
	require.True(t, r.Retain)
	require.Equal(t, "cleared", event(r).State)
	require.EqualValues(t, 2, s.Metrics().Alarms.MemoryHighRaised)
}

// A broker started above its watermark raises the alarm at once; one
// started below it publishes the cleared state, replacing a "raised" left
// retained by an earlier run.
func TestLimits_MemoryAlarmAtStart(t *testing.T) {
	s, addr := startServer(t, &Options{NodeName: "n1", MemoryHighWatermark: 1})
	require.EqualValues(t, 1, s.Metrics().Alarms.MemoryHigh)
	require.EqualValues(t, 1, s.Metrics().Alarms.MemoryHighRaised)
	waitFor(t, "the retained alarm", func() bool { return s.Metrics().Retained == 1 })
	c := dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.ServerBusy, c.connect("refused", true).ReasonCode)

	retained := NewMemRetained()
	require.NoError(t, retained.Set(&Message{Topic: "$SYS/brokers/n1/alarms/memory_high_watermark",
		Payload: []byte(`{"state":"raised"}`), Retain: true}))
	s, addr = startServer(t, &Options{NodeName: "n1", MemoryHighWatermark: 1 << 50, Retained: retained})
	require.Zero(t, s.Metrics().Alarms.MemoryHigh)
	c = dialRaw(t, addr, mqtt.V5)
	c.connect("watch", true)
	c.subscribe(1, mqtt.Subscription{Filter: "$SYS/brokers/n1/alarms/#"})
	waitFor(t, "the cleared state", func() bool {
		p := c.expect(mqtt.TypePublish)
		var ev AlarmEvent
		require.NoError(t, json.Unmarshal(p.Payload, &ev))
		return ev.State == "cleared"
	})
}
