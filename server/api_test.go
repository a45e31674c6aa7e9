package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	require.Equal(t, http.StatusOK, rec.Code, path)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestAPI(t *testing.T) {
	s, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("api-client", false, sessionExpiry(60), login("dora", ""))
	c.subscribe(1, mqtt.Subscription{Filter: "a/#", QoS: mqtt.QoS1, NoLocal: true})
	c.publish("a/b", "x", mqtt.QoS0, 0, true)
	waitFor(t, "retained", func() bool { return s.Metrics().Retained == 1 })
	h := s.APIHandler()

	var clients []ClientView
	require.NoError(t, json.Unmarshal([]byte(get(t, h, "/api/v1/clients")), &clients))
	require.Len(t, clients, 1)
	require.Equal(t, "api-client", clients[0].ClientID)
	require.Equal(t, "dora", clients[0].Username)
	require.Equal(t, "5.0", clients[0].Version)

	var sessions []SessionInfo
	require.NoError(t, json.Unmarshal([]byte(get(t, h, "/api/v1/sessions")), &sessions))
	require.Len(t, sessions, 1)
	require.True(t, sessions[0].Online)
	require.Equal(t, 60*time.Second, sessions[0].Expiry)

	var subs []SubscriptionView
	require.NoError(t, json.Unmarshal([]byte(get(t, h, "/api/v1/subscriptions?client=api-client")), &subs))
	require.Equal(t, []SubscriptionView{{ClientID: "api-client", Filter: "a/#", QoS: 1, NoLocal: true}}, subs)

	prom := get(t, h, "/metrics")
	for _, want := range []string{"mqttds_connections 1", "mqttds_subscriptions 1", "mqttds_retained_messages 1",
		`mqttds_messages_total{event="received"} 1`, `mqttds_disconnects_total{cause="keepalive"} 0`,
		`mqttds_messages_dropped_total{reason="queue_full"} 0`, "go_goroutines"} {
		require.Contains(t, prom, want)
	}
	var m Metrics
	require.NoError(t, json.Unmarshal([]byte(get(t, h, "/api/v1/metrics")), &m))
	require.EqualValues(t, 1, m.Connections.Current)
	require.Contains(t, m.String(), "connections: current=1")
}

func TestSys(t *testing.T) {
	s, addr := startServer(t, &Options{SysInterval: 50 * time.Millisecond, NodeName: "n1"})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("sys-reader", true)
	// "#" does not match $SYS [MQTT-4.7.2-1] v5.
	c.subscribe(1, mqtt.Subscription{Filter: "#"})
	c.expectNothing(150 * time.Millisecond)
	c.subscribe(2, mqtt.Subscription{Filter: "$SYS/brokers/n1/clients/connected"})
	// The retained copy and the periodic ones may arrive in either order.
	var retained, live bool
	for !retained || !live {
		m := c.expect(mqtt.TypePublish)
		require.Equal(t, "$SYS/brokers/n1/clients/connected", m.Topic)
		require.Equal(t, "1", string(m.Payload))
		retained, live = retained || m.Retain, live || !m.Retain
	}
	require.Positive(t, s.Metrics().Retained)
}
