package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/config"
	"github.com/prometheus/client_golang/prometheus"
)

// WebhookOptions configures one webhook: the hook events POSTed, in batches, to one URL.
type WebhookOptions struct {
	URL string
	// Events are the event names ("client.connected", "message.publish", …); at least one.
	Events []string
	// Topic, if set, keeps only the message.* events whose topic matches this filter.
	Topic string
	// BatchSize is the most events in one POST; default 100.
	BatchSize int
	// QueueSize bounds the events waiting to be sent; an event that finds the queue full is
	// dropped and counted, never waited for. Default 10,000.
	QueueSize int
	// MaxRetries is how many times a failed batch is sent again, with back-off from 100 ms
	// doubling to at most 5 s, before it is counted as failed; default 3, -1 for none.
	MaxRetries int
	// Timeout bounds one POST; default 5s.
	Timeout time.Duration
}

// WebhookEvent is one event as a webhook sends it; a POST body is a JSON array of them.
type WebhookEvent struct {
	Event    string    `json:"event"`
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	ClientID string    `json:"client_id"`
	Username string    `json:"username,omitempty"`
	Peer     string    `json:"peer,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	// Reason: why a client disconnected, a session ended, or a message was dropped.
	Reason string `json:"reason,omitempty"`
	// Filter and QoS of client.subscribe/unsubscribe and session.subscribed/unsubscribed.
	Filter string `json:"filter,omitempty"`
	// The message of message.* events.
	Topic     string `json:"topic,omitempty"`
	QoS       *byte  `json:"qos,omitempty"`
	Retain    bool   `json:"retain,omitempty"`
	Payload   []byte `json:"payload,omitempty"` // base64
	Publisher string `json:"publisher,omitempty"`
}

// WebhookMetrics counts one webhook's work.
type WebhookMetrics struct {
	URL                                        string
	Sent, Dropped, Failed, Retries, BatchesOut int64
}

// Webhook is a Hook that sends events to one URL from its own goroutine.
type Webhook struct {
	Base
	o       WebhookOptions
	node    string
	log     *slog.Logger
	events  [numEvents]bool
	client  *http.Client
	queue   chan WebhookEvent
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once

	sent, dropped, failed, retries, batches atomic.Int64
}

// NewWebhook checks o and starts the webhook's sender; node names the broker in events. Add
// it with Server.AddHook; Close stops it.
func NewWebhook(o WebhookOptions, node string, log *slog.Logger) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook url %q: want http://HOST[:PORT]/PATH or https://", o.URL)
	}
	if len(o.Events) == 0 {
		return nil, fmt.Errorf("webhook %s: no events", o.URL)
	}
	if o.Topic != "" {
		if err := topic.ValidateFilter(o.Topic); err != nil {
			return nil, fmt.Errorf("webhook %s: topic %q: %v", o.URL, o.Topic, err)
		}
	}
	setDefault(&o.BatchSize, 100)
	setDefault(&o.QueueSize, 10000)
	setDefault(&o.MaxRetries, 3)
	setDefault(&o.Timeout, 5*time.Second)
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if log == nil {
		log = slog.Default()
	}
	w := &Webhook{o: o, node: node, log: log, client: &http.Client{Timeout: o.Timeout},
		queue: make(chan WebhookEvent, o.QueueSize), stop: make(chan struct{}), done: make(chan struct{})}
	for _, name := range o.Events {
		found := false
		for e := range numEvents {
			if e.String() == name {
				w.events[e], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("webhook %s: unknown event %q", o.URL, name)
		}
	}
	go w.run()
	return w, nil
}

// ID implements Hook.
func (w *Webhook) ID() string { return "webhook " + w.o.URL }

// Provides implements Hook.
func (w *Webhook) Provides(e Event) bool { return e < numEvents && w.events[e] }

// Metrics returns the webhook's counters.
func (w *Webhook) Metrics() WebhookMetrics {
	return WebhookMetrics{URL: w.o.URL, Sent: w.sent.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load(),
		Retries: w.retries.Load(), BatchesOut: w.batches.Load()}
}

// enqueue never blocks: the event paths are the broker's message paths.
func (w *Webhook) enqueue(ev WebhookEvent) {
	ev.Time, ev.Node = time.Now().UTC(), w.node
	select {
	case w.queue <- ev:
	default:
		w.dropped.Add(1)
	}
}

func clientEvent(e Event, c ClientInfo) WebhookEvent {
	ev := WebhookEvent{Event: e.String(), ClientID: c.ClientID, Username: c.Username, Protocol: c.Version.String()}
	if c.RemoteAddr != nil {
		ev.Peer = c.RemoteAddr.String()
	}
	return ev
}

func (w *Webhook) messageEvent(e Event, clientID string, m *Message) {
	if w.o.Topic != "" && !topic.Match(w.o.Topic, m.Topic) {
		return
	}
	q := byte(m.QoS)
	w.enqueue(WebhookEvent{Event: e.String(), ClientID: clientID, Topic: m.Topic, QoS: &q, Retain: m.Retain,
		Payload: m.Payload, Publisher: m.Publisher})
}

// The Hook methods: each builds the event and queues it.

func (w *Webhook) OnClientConnected(c ClientInfo) { w.enqueue(clientEvent(ClientConnected, c)) }
func (w *Webhook) OnClientDisconnected(c ClientInfo, reason error) {
	ev := clientEvent(ClientDisconnected, c)
	ev.Reason = "normal"
	if reason != nil {
		ev.Reason = reason.Error()
	}
	w.enqueue(ev)
}
func (w *Webhook) OnClientSubscribe(c ClientInfo, subs []mqtt.Subscription) {
	for _, s := range subs {
		ev := clientEvent(ClientSubscribe, c)
		q := byte(s.QoS)
		ev.Filter, ev.QoS = s.Filter, &q
		w.enqueue(ev)
	}
}
func (w *Webhook) OnClientUnsubscribe(c ClientInfo, filters []string) {
	for _, f := range filters {
		ev := clientEvent(ClientUnsubscribe, c)
		ev.Filter = f
		w.enqueue(ev)
	}
}
func (w *Webhook) OnSessionCreated(c ClientInfo) { w.enqueue(clientEvent(SessionCreated, c)) }
func (w *Webhook) OnSessionResumed(c ClientInfo) { w.enqueue(clientEvent(SessionResumed, c)) }
func (w *Webhook) OnSessionSubscribed(clientID string, s mqtt.Subscription) {
	q := byte(s.QoS)
	w.enqueue(WebhookEvent{Event: SessionSubscribed.String(), ClientID: clientID, Filter: s.Filter, QoS: &q})
}
func (w *Webhook) OnSessionUnsubscribed(clientID, filter string) {
	w.enqueue(WebhookEvent{Event: SessionUnsubscribed.String(), ClientID: clientID, Filter: filter})
}
func (w *Webhook) OnSessionTerminated(clientID, reason string) {
	w.enqueue(WebhookEvent{Event: SessionTerminated.String(), ClientID: clientID, Reason: reason})
}
func (w *Webhook) OnMessagePublish(c ClientInfo, m *Message) {
	w.messageEvent(MessagePublish, c.ClientID, m)
}
func (w *Webhook) OnMessageDelivered(clientID string, m *Message) {
	w.messageEvent(MessageDelivered, clientID, m)
}
func (w *Webhook) OnMessageAcked(clientID string, m *Message) {
	w.messageEvent(MessageAcked, clientID, m)
}
func (w *Webhook) OnMessageDropped(clientID string, m *Message, r DropReason) {
	if w.o.Topic != "" && !topic.Match(w.o.Topic, m.Topic) {
		return
	}
	q := byte(m.QoS)
	w.enqueue(WebhookEvent{Event: MessageDropped.String(), ClientID: clientID, Topic: m.Topic, QoS: &q,
		Retain: m.Retain, Payload: m.Payload, Publisher: m.Publisher, Reason: r.String()})
}

// run sends batches: it takes what is queued (up to BatchSize; it waits for the first event
// only), and POSTs it, retrying with back-off; on Close it sends what is left, once.
func (w *Webhook) run() {
	defer close(w.done)
	batch := make([]WebhookEvent, 0, w.o.BatchSize)
	for {
		select {
		case ev := <-w.queue:
			batch = append(batch[:0], ev)
		case <-w.stop:
			w.drain(batch[:0])
			return
		}
	fill:
		for len(batch) < w.o.BatchSize {
			select {
			case ev := <-w.queue:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		w.send(batch, w.o.MaxRetries)
	}
}

// drain sends the queued events left at Close, without retries.
func (w *Webhook) drain(batch []WebhookEvent) {
	for {
		select {
		case ev := <-w.queue:
			batch = append(batch, ev)
			if len(batch) == w.o.BatchSize {
				w.send(batch, 0)
				batch = batch[:0]
			}
		default:
			if len(batch) > 0 {
				w.send(batch, 0)
			}
			return
		}
	}
}

func (w *Webhook) send(batch []WebhookEvent, retries int) {
	body, err := json.Marshal(batch)
	if err != nil {
		w.failed.Add(int64(len(batch)))
		return
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err = w.post(body)
		if err == nil {
			w.sent.Add(int64(len(batch)))
			w.batches.Add(1)
			return
		}
		if attempt >= retries {
			break
		}
		w.retries.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.stop: // closing: one last try
			t.Stop()
			retries = attempt + 1
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	w.failed.Add(int64(len(batch)))
	w.log.Warn("webhook batch failed", "url", w.o.URL, "events", len(batch), "err", err)
}

func (w *Webhook) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// Close stops the webhook: queued events are sent once more (no retries) until ctx ends.
func (w *Webhook) Close(ctx context.Context) error {
	w.closing.Do(func() { close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WebhooksFromConfig starts the configured webhooks (the caller adds them with AddHook and
// closes them at stop); node names the broker in their events.
func WebhooksFromConfig(cfg *config.Config, node string, log *slog.Logger) ([]*Webhook, error) {
	var out []*Webhook
	for i, c := range cfg.Webhooks {
		w, err := NewWebhook(WebhookOptions{URL: c.URL, Events: c.Events, Topic: c.Topic, BatchSize: c.BatchSize,
			QueueSize: c.QueueSize, MaxRetries: c.MaxRetries, Timeout: c.Timeout.D()}, node, log)
		if err != nil {
			for _, w := range out {
				_ = w.Close(context.Background())
			}
			return nil, fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// webhooks returns the webhooks added as hooks.
func (s *Server) webhooks() []*Webhook {
	seen := map[*Webhook]bool{}
	var out []*Webhook
	for e := range numEvents {
		for _, h := range s.hooks.get(e) {
			if w, ok := h.(*Webhook); ok && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// webhookCollector exports the webhooks' counters.
type webhookCollector struct{ s *Server }

var (
	descWebhookEvents  = promDesc("webhook_events_total", "Webhook events by outcome: sent, dropped (queue full), failed (out of retries).", "url", "result")
	descWebhookRetries = promDesc("webhook_retries_total", "Webhook batches sent again after a failure.", "url")
)

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWebhookEvents
	ch <- descWebhookRetries
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.s.webhooks() {
		m := w.Metrics()
		for _, r := range []struct {
			name string
			n    int64
		}{{"sent", m.Sent}, {"dropped", m.Dropped}, {"failed", m.Failed}} {
			ch <- prometheus.MustNewConstMetric(descWebhookEvents, prometheus.CounterValue, float64(r.n), m.URL, r.name)
		}
		ch <- prometheus.MustNewConstMetric(descWebhookRetries, prometheus.CounterValue, float64(m.Retries), m.URL)
	}
}

// httpAuthCollector exports the HTTP auth backend's counters (auth.http), when there is one.
type httpAuthCollector struct{ s *Server }

var (
	descHTTPAuthRequests = promDesc("auth_http_requests_total", "Requests sent to the HTTP auth backend.")
	descHTTPAuthHits     = promDesc("auth_http_cache_hits_total", "HTTP auth decisions answered from the cache.")
	descHTTPAuthFailures = promDesc("auth_http_failures_total", "HTTP auth requests that failed or timed out (the next link decided).")
)

func (c *httpAuthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHTTPAuthRequests
	ch <- descHTTPAuthHits
	ch <- descHTTPAuthFailures
}

func (c *httpAuthCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.opts.httpAuth
	if h == nil {
		return
	}
	m := h.Metrics()
	for _, x := range []struct {
		d *prometheus.Desc
		n int64
	}{{descHTTPAuthRequests, m.Requests.Load()}, {descHTTPAuthHits, m.CacheHits.Load()}, {descHTTPAuthFailures, m.Failures.Load()}} {
		ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.n))
	}
}
