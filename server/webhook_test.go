package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/config"
	"github.com/stretchr/testify/require"
)

// receiver is a webhook endpoint on loopback that keeps the events it got; fail, while
// positive, makes the next answers 500.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	events  []WebhookEvent
	batches int
	fail    atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var evs []WebhookEvent
		require.NoError(t, json.NewDecoder(req.Body).Decode(&evs))
		r.mu.Lock()
		r.events = append(r.events, evs...)
		r.batches++
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []WebhookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]WebhookEvent(nil), r.events...)
}

func closeWebhook(t *testing.T, w *Webhook) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, w.Close(ctx))
}

// Ensure that a webhook receives the events it asked for, with the client's and the message's
// fields, message events only for its topic filter, and nothing else.
func TestWebhook_Events(t *testing.T) {
	rcv := newReceiver(t)
	w, err := NewWebhook(WebhookOptions{URL: rcv.URL + "/hook", Topic: "site/#",
		Events: []string{"client.connected", "client.disconnected", "message.publish", "message.delivered"}}, "n1", testLogger())
	require.NoError(t, err)
	s, addr := startServer(t, &Options{NodeName: "n1"})
	s.AddHook(w)
	t.Cleanup(func() { closeWebhook(t, w) })

	c := dialRaw(t, addr, mqtt.V5)
	c.connect("meter-1", true, login("dora", ""))
	c.subscribe(1, mqtt.Subscription{Filter: "#", QoS: mqtt.QoS1})
	c.publish("site/1/temp", "21.5", mqtt.QoS1, 2, true)
	// The PUBACK and the delivery may come in either order.
	for range 2 {
		if p := c.next(); p.Type == mqtt.TypePublish {
			c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
		}
	}
	c.publish("other/x", "no", mqtt.QoS0, 0, false)
	c.expect(mqtt.TypePublish)
	c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	waitFor(t, "4 events", func() bool { return len(rcv.got()) >= 4 })

	evs := rcv.got()
	names := []string{}
	for _, e := range evs {
		names = append(names, e.Event)
		require.Equal(t, "n1", e.Node)
		require.Equal(t, "meter-1", e.ClientID)
		require.False(t, e.Time.IsZero())
	}
	require.ElementsMatch(t, []string{"client.connected", "message.publish", "message.delivered", "client.disconnected"}, names)
	for _, e := range evs {
		switch e.Event {
		case "client.connected":
			require.Equal(t, "dora", e.Username)
			require.Equal(t, "5.0", e.Protocol)
			require.Contains(t, e.Peer, "127.0.0.1:")
		case "message.publish":
			require.Equal(t, "site/1/temp", e.Topic)
			require.Equal(t, byte(1), *e.QoS)
			require.True(t, e.Retain)
			require.Equal(t, "21.5", string(e.Payload))
			require.Equal(t, "meter-1", e.Publisher)
		case "client.disconnected":
			require.Equal(t, "normal", e.Reason)
		}
	}
	require.EqualValues(t, 4, w.Metrics().Sent)
	require.Zero(t, w.Metrics().Failed)

	_, err = NewWebhook(WebhookOptions{URL: rcv.URL, Events: []string{"client.exploded"}}, "n1", nil)
	require.ErrorContains(t, err, `unknown event "client.exploded"`)
	_, err = NewWebhook(WebhookOptions{URL: "ftp://x", Events: []string{"client.connected"}}, "n1", nil)
	require.Error(t, err)
	_, err = NewWebhook(WebhookOptions{URL: rcv.URL}, "n1", nil)
	require.Error(t, err)
	_, err = NewWebhook(WebhookOptions{URL: rcv.URL, Events: []string{"message.publish"}, Topic: "a/#/b"}, "n1", nil)
	require.Error(t, err)
}

// Ensure that a failed batch is retried with back-off and then delivered once, that a batch
// that keeps failing is counted, and that a full queue drops events without blocking the
// broker.
func TestWebhook_RetriesAndBounds(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail.Store(2)
	w, err := NewWebhook(WebhookOptions{URL: rcv.URL, Events: []string{"session.terminated"}, MaxRetries: 3}, "n1", testLogger())
	require.NoError(t, err)
	w.OnSessionTerminated("a", "expired")
	waitFor(t, "delivered after two failures", func() bool { return w.Metrics().Sent == 1 })
	require.EqualValues(t, 2, w.Metrics().Retries)
	require.Len(t, rcv.got(), 1)
	require.Equal(t, "expired", rcv.got()[0].Reason)

	rcv.fail.Store(100)
	w.OnSessionTerminated("b", "expired")
	waitFor(t, "failed after its retries", func() bool { return w.Metrics().Failed == 1 })
	require.EqualValues(t, 2+3, w.Metrics().Retries)
	closeWebhook(t, w)

	// A receiver that never answers holds the sender; the queue fills and drops, and the hook
	// methods return at once.
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer stuck.Close()
	defer close(release)
	w, err = NewWebhook(WebhookOptions{URL: stuck.URL, Events: []string{"session.terminated"}, QueueSize: 4, BatchSize: 1,
		MaxRetries: -1, Timeout: 10 * time.Second}, "n1", testLogger())
	require.NoError(t, err)
	start := time.Now()
	for range 100 {
		w.OnSessionTerminated("c", "x")
	}
	require.Less(t, time.Since(start), time.Second, "the hook never waits for the receiver")
	require.GreaterOrEqual(t, w.Metrics().Dropped, int64(100-4-1))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, w.Close(ctx), context.DeadlineExceeded, "Close is bounded by its context")
}

// Ensure that events queued at Close are still sent, once.
func TestWebhook_CloseDrains(t *testing.T) {
	rcv := newReceiver(t)
	w, err := NewWebhook(WebhookOptions{URL: rcv.URL, Events: []string{"session.terminated"}, BatchSize: 2}, "n1", testLogger())
	require.NoError(t, err)
	for range 5 {
		w.OnSessionTerminated("d", "x")
	}
	closeWebhook(t, w)
	require.Len(t, rcv.got(), 5)
	require.EqualValues(t, 5, w.Metrics().Sent)
}

// Ensure that webhooks configured in the file reach the broker (WebhooksFromConfig) and that
// their counters are on /metrics.
func TestWebhook_FromConfigAndMetrics(t *testing.T) {
	rcv := newReceiver(t)
	cfg, err := config.Parse([]byte("webhooks:\n  - url: " + rcv.URL + "/mqtt\n    events: [client.connected]\n    batch_size: 10\n"))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	hooks, err := WebhooksFromConfig(cfg, "n1", testLogger())
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	t.Cleanup(func() { closeWebhook(t, hooks[0]) })
	s, addr := startServer(t, &Options{NodeName: "n1"})
	s.AddHook(hooks[0])
	dialRaw(t, addr, mqtt.V5).connect("x", true)
	waitFor(t, "client.connected sent", func() bool { return hooks[0].Metrics().Sent == 1 })
	prom := get(t, s.APIHandler(), "/metrics")
	require.Contains(t, prom, `mqttds_webhook_events_total{result="sent",url="`+rcv.URL+`/mqtt"} 1`)
	require.Contains(t, prom, `mqttds_webhook_retries_total{url="`+rcv.URL+`/mqtt"} 0`)

	cfg.Webhooks[0].Events = []string{"client.nope"}
	_, err = WebhooksFromConfig(cfg, "n1", nil)
	require.ErrorContains(t, err, "webhooks[0]: ")
	cfg.Webhooks[0].URL = "nope"
	require.ErrorContains(t, cfg.Validate(), "webhooks[0].url")
}
