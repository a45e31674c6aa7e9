package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// traceLogText reads a trace's log through the API.
func traceLogText(t *testing.T, h http.Handler, name string) string {
	t.Helper()
	rec := apiCall(t, h, "GET", "/api/v1/traces/"+name+"/log", "", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Body.String()
}

// waitLog polls a trace's log until it contains every one of want.
func waitLog(t *testing.T, h http.Handler, name string, want ...string) string {
	t.Helper()
	var log string
	waitFor(t, "trace "+name+" has "+strings.Join(want, ", "), func() bool {
		log = traceLogText(t, h, name)
		for _, w := range want {
			if !strings.Contains(log, w) {
				return false
			}
		}
		return true
	})
	return log
}

// Ensure that a client id trace records every packet in and out of that client, from its
// CONNECT on, and nothing of other clients; a topic trace records the PUBLISH packets on
// matching topics, in and out, and nothing else.
func TestTrace_ClientAndTopic(t *testing.T) {
	s, addr := startServer(t, &Options{API: APIOptions{TraceDir: t.TempDir()}})
	h := s.APIHandler()
	require.Nil(t, s.traces.Load(), "no trace: the packet paths see nil")
	var v TraceView
	apiJSON(t, h, "POST", "/api/v1/traces", `{"name": "meter", "client_id": "meter-1"}`, http.StatusCreated, &v)
	require.Equal(t, "running", v.Status)
	require.Equal(t, "10m0s", v.Duration)
	require.EqualValues(t, 10<<20, v.MaxBytes)
	apiJSON(t, h, "POST", "/api/v1/traces", `{"name": "temps", "topic": "site/+/temp", "duration": "1h"}`, http.StatusCreated, &v)
	require.Len(t, *s.traces.Load(), 2)

	m := dialRaw(t, addr, mqtt.V5)
	m.connect("meter-1", true)
	m.subscribe(1, mqtt.Subscription{Filter: "cmd/meter-1", QoS: mqtt.QoS1})
	other := dialRaw(t, addr, mqtt.V5)
	other.connect("other", true)
	other.subscribe(1, mqtt.Subscription{Filter: "site/#"})
	other.publish("cmd/meter-1", "reboot", mqtt.QoS1, 5, false)
	other.expect(mqtt.TypePuback)
	p := m.expect(mqtt.TypePublish)
	m.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	m.publish("site/1/temp", "21.5", mqtt.QoS0, 0, false)
	m.publish("site/1/hum", "40", mqtt.QoS0, 0, false)
	other.expect(mqtt.TypePublish)
	other.expect(mqtt.TypePublish)

	log := waitLog(t, h, "meter", `in client="meter-1" CONNECT`, `out client="meter-1" CONNACK`,
		`in client="meter-1" SUBSCRIBE`, `out client="meter-1" SUBACK`, `out client="meter-1" PUBLISH qos1`,
		`data="reboot"`, `in client="meter-1" PUBACK`, `topic="site/1/hum"`)
	require.NotContains(t, log, `client="other"`)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z in client="meter-1" CONNECT v5.0 client="meter-1"`, log)

	log = waitLog(t, h, "temps", `in client="meter-1" PUBLISH qos0 topic="site/1/temp"`,
		`out client="other" PUBLISH qos0 topic="site/1/temp" payload=4B data="21.5"`)
	require.NotContains(t, log, "site/1/hum")
	require.NotContains(t, log, "CONNECT")
	require.NotContains(t, log, "cmd/meter-1")

	// Stopped, a trace keeps its log; deleted, the log is gone; with none left the packet
	// paths see nil again.
	apiJSON(t, h, "PUT", "/api/v1/traces/meter/stop", "", http.StatusOK, &v)
	require.Equal(t, "stopped", v.Status)
	require.Equal(t, "stopped", v.Reason)
	require.Positive(t, v.Packets)
	stoppedAt := traceLogText(t, h, "meter")
	m.publish("site/2/temp", "x", mqtt.QoS0, 0, false)
	waitLog(t, h, "temps", "site/2/temp")
	require.Equal(t, stoppedAt, traceLogText(t, h, "meter"), "a stopped trace records nothing")
	var all []TraceView
	apiJSON(t, h, "GET", "/api/v1/traces", "", http.StatusOK, &all)
	require.Len(t, all, 2)
	require.Equal(t, "meter", all[0].Name)
	path := s.traceLog("temps")
	require.FileExists(t, path)
	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/traces/temps", "", "").Code)
	require.NoFileExists(t, path)
	require.Nil(t, s.traces.Load())
}

// Ensure that a trace is bounded: it stops when its file would pass max_bytes and when its
// duration ends; and the errors of a trace request.
func TestTrace_Bounds(t *testing.T) {
	s, addr := startServer(t, &Options{API: APIOptions{TraceDir: t.TempDir()}})
	h := s.APIHandler()
	apiJSON(t, h, "POST", "/api/v1/traces", `{"name": "small", "client_id": "chatty", "max_bytes": 400}`, http.StatusCreated, nil)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("chatty", true)
	for i := range 20 {
		c.publish("a/b", "0123456789", mqtt.QoS1, uint16(i+1), false)
		c.expect(mqtt.TypePuback)
	}
	var v TraceView
	waitFor(t, "small stopped", func() bool {
		apiJSON(t, h, "GET", "/api/v1/traces/small", "", http.StatusOK, &v)
		return v.Status == "stopped"
	})
	require.Equal(t, "max_bytes", v.Reason)
	require.LessOrEqual(t, v.Bytes, int64(400))
	fi, err := os.Stat(s.traceLog("small"))
	require.NoError(t, err)
	require.Equal(t, v.Bytes, fi.Size())

	apiJSON(t, h, "POST", "/api/v1/traces", `{"name": "brief", "topic": "#", "duration": "20ms"}`, http.StatusCreated, &v)
	require.WithinDuration(t, v.Start.Add(20*time.Millisecond), v.End, time.Millisecond)
	waitFor(t, "brief ended", func() bool {
		apiJSON(t, h, "GET", "/api/v1/traces/brief", "", http.StatusOK, &v)
		return v.Status == "stopped"
	})
	require.Equal(t, "ended", v.Reason)

	for _, body := range []string{
		`{"name": "x"}`,
		`{"name": "x", "client_id": "a", "topic": "b"}`,
		`{"name": "bad name", "client_id": "a"}`,
		`{"name": "x", "topic": "a/#/b"}`,
		`{"name": "x", "topic": "$share/g/a"}`,
		`{"name": "x", "client_id": "a", "duration": "25h"}`,
		`{"name": "x", "client_id": "a", "duration": "soon"}`,
		`{"name": "x", "client_id": "a", "max_bytes": -1}`,
		`{"name": "x", "client_id": "a", "max_bytes": 2000000000}`,
	} {
		requireAPIError(t, apiCall(t, h, "POST", "/api/v1/traces", "", body), http.StatusBadRequest, codeBadRequest)
	}
	requireAPIError(t, apiCall(t, h, "POST", "/api/v1/traces", "", `{"name": "brief", "client_id": "a"}`), http.StatusConflict, codeConflict)
}

// BenchmarkTrace_Inactive is the cost the packet paths pay for tracing while no trace runs.
func BenchmarkTrace_Inactive(b *testing.B) {
	s, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{srv: s, clientID: "x"}
	p := &mqtt.Packet{Type: mqtt.TypePublish, Topic: "a/b"}
	for b.Loop() {
		c.traceIn(p)
		c.traceOut(p, p.Topic)
	}
}
