package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/client"
	"github.com/mqttds/mqttds/mqtt/client/clienttest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// inbox collects received messages (copied: a Message is valid only during OnMessage).
type inbox struct {
	mu   sync.Mutex
	msgs []client.Message
	got  chan struct{}
}

func newInbox() *inbox { return &inbox{got: make(chan struct{}, 1<<16)} }

func (b *inbox) onMessage(m *client.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, client.Message{Topic: string([]byte(m.Topic)), Payload: bytes.Clone(m.Payload),
		QoS: m.QoS, Retain: m.Retain, Dup: m.Dup})
	b.mu.Unlock()
	b.got <- struct{}{}
}

func (b *inbox) wait(t *testing.T, n int) []client.Message {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-b.got:
		case <-time.After(5 * time.Second):
			b.mu.Lock()
			defer b.mu.Unlock()
			t.Fatalf("received %d of %d messages", len(b.msgs), n)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]client.Message(nil), b.msgs...)
}

// TestClientAgainstMosquitto publishes at every QoS over every transport and version, and checks
// what a subscriber gets, byte for byte.
func TestClientAgainstMosquitto(t *testing.T) {
	m := clienttest.StartMosquitto(t, nil)
	pem, err := os.ReadFile(m.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	transports := []struct {
		name string
		opts client.Options
	}{
		{"tcp", client.Options{Addr: m.Addr()}},
		{"tls", client.Options{Addr: fmt.Sprintf("127.0.0.1:%d", m.TLSPort), TLS: &tls.Config{RootCAs: roots}}},
		{"ws", client.Options{Addr: fmt.Sprintf("127.0.0.1:%d", m.WSPort), WebSocket: true}},
	}
	for _, tr := range transports {
		for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
			t.Run(fmt.Sprintf("%s/v%s", tr.name, v), func(t *testing.T) {
				ctx := testCtx(t)
				box := newInbox()
				so := tr.opts
				so.Version, so.ClientID, so.CleanStart, so.OnMessage = v, "sub-"+tr.name+v.String(), true, box.onMessage
				sub, err := client.Dial(ctx, &so)
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Disconnect()
				codes, err := sub.Subscribe(ctx, mqtt.Subscription{Filter: "t/" + tr.name + "/#", QoS: mqtt.QoS2})
				if err != nil || len(codes) != 1 || codes[0] != mqtt.GrantedQoS2 {
					t.Fatalf("Subscribe = %v, %v", codes, err)
				}

				po := tr.opts
				po.Version, po.ClientID, po.CleanStart = v, "pub-"+tr.name+v.String(), true
				pub, err := client.Dial(ctx, &po)
				if err != nil {
					t.Fatal(err)
				}
				defer pub.Disconnect()
				var acked sync.WaitGroup
				for q := mqtt.QoS0; q <= mqtt.QoS2; q++ {
					acked.Add(1)
					payload := []byte(fmt.Sprintf("payload at %v", q))
					err := pub.Publish(ctx, fmt.Sprintf("t/%s/%d", tr.name, q), payload, q, false, func(err error) {
						if err != nil {
							t.Errorf("publish %v: %v", q, err)
						}
						acked.Done()
					})
					if err != nil {
						t.Fatal(err)
					}
					payload[0] = 'X' // Publish copied it
				}
				acked.Wait()
				msgs := box.wait(t, 3)
				for q, msg := range msgs {
					want := fmt.Sprintf("payload at %v", mqtt.QoS(q))
					if msg.Topic != fmt.Sprintf("t/%s/%d", tr.name, q) || string(msg.Payload) != want || msg.QoS != mqtt.QoS(q) {
						t.Errorf("message %d = %q %q %v, want %q at %v", q, msg.Topic, msg.Payload, msg.QoS, want, mqtt.QoS(q))
					}
				}
			})
		}
	}
}

// TestClientWindow publishes many QoS 1 and 2 messages through a small window: every callback runs
// exactly once, with success, and the subscriber gets every message.
func TestClientWindow(t *testing.T) {
	m := clienttest.StartMosquitto(t, nil)
	ctx := testCtx(t)
	for _, q := range []mqtt.QoS{mqtt.QoS1, mqtt.QoS2} {
		box := newInbox()
		sub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "wsub", CleanStart: true, OnMessage: box.onMessage})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Subscribe(ctx, mqtt.Subscription{Filter: "w", QoS: q}); err != nil {
			t.Fatal(err)
		}
		pub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "wpub", CleanStart: true, Inflight: 4})
		if err != nil {
			t.Fatal(err)
		}
		const n = 2000
		var calls, fails atomic.Int64
		for i := 0; i < n; i++ {
			err := pub.Publish(ctx, "w", []byte{byte(i)}, q, false, func(err error) {
				calls.Add(1)
				if err != nil {
					fails.Add(1)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := len(box.wait(t, n)); got != n {
			t.Fatalf("%v: received %d", q, got)
		}
		deadline := time.Now().Add(5 * time.Second)
		for calls.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if calls.Load() != n || fails.Load() != 0 {
			t.Fatalf("%v: %d callbacks, %d failed; want %d, 0", q, calls.Load(), fails.Load(), n)
		}
		_ = pub.Disconnect()
		_ = sub.Disconnect()
	}
}

// TestClientPersistentSession: a session with clean start false keeps its subscription and queues
// QoS 1 messages while offline, in both versions.
func TestClientPersistentSession(t *testing.T) {
	m := clienttest.StartMosquitto(t, nil)
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		t.Run("v"+v.String(), func(t *testing.T) {
			ctx := testCtx(t)
			o := &client.Options{Addr: m.Addr(), Version: v, ClientID: "durable-" + v.String(), CleanStart: true}
			if v == mqtt.V5 {
				o.SessionExpiry = 300
			}
			c, err := client.Dial(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Disconnect()
			o.CleanStart = false
			if c, err = client.Dial(ctx, o); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Subscribe(ctx, mqtt.Subscription{Filter: "d/" + v.String(), QoS: mqtt.QoS1}); err != nil {
				t.Fatal(err)
			}
			_ = c.Disconnect()

			pub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), Version: v, ClientID: "dpub", CleanStart: true})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := 0; i < 10; i++ {
				wg.Add(1)
				if err := pub.Publish(ctx, "d/"+v.String(), []byte{byte(i)}, mqtt.QoS1, false, func(error) { wg.Done() }); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			_ = pub.Disconnect()

			box := newInbox()
			o.OnMessage = box.onMessage
			if c, err = client.Dial(ctx, o); err != nil {
				t.Fatal(err)
			}
			defer c.Disconnect()
			if !c.SessionPresent() {
				t.Fatal("session not present")
			}
			for i, msg := range box.wait(t, 10) {
				if msg.Payload[0] != byte(i) {
					t.Fatalf("message %d has payload %v", i, msg.Payload)
				}
			}
		})
	}
}

// TestClientKeepAlive: an idle client pings and stays connected past several keep-alive intervals.
func TestClientKeepAlive(t *testing.T) {
	m := clienttest.StartMosquitto(t, nil)
	ctx := testCtx(t)
	c, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "idle", CleanStart: true, KeepAlive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
		t.Fatalf("connection ended while idle: %v", c.Err())
	case <-time.After(3500 * time.Millisecond):
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Fatalf("Err after Disconnect = %v", c.Err())
	}
	if err := c.Publish(ctx, "x", nil, mqtt.QoS1, false, nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Publish after Disconnect = %v, want ErrClosed", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := testCtx(t)
	if _, err := client.Dial(ctx, &client.Options{Addr: "127.0.0.1:1", ClientID: ""}); !errors.Is(err, client.ErrBadOptions) {
		t.Errorf("empty client id without clean start: %v", err)
	}
	if _, err := client.Dial(ctx, &client.Options{Addr: "127.0.0.1:1", Version: mqtt.V311, SessionExpiry: 5, ClientID: "x"}); !errors.Is(err, client.ErrBadOptions) {
		t.Errorf("session expiry with 3.1.1: %v", err)
	}
	if _, err := client.Dial(ctx, &client.Options{Addr: "127.0.0.1:1", ClientID: "x"}); err == nil {
		t.Error("dialing a closed port succeeded")
	}
}

// TestClientLargePayload sends messages larger than the reader's buffer, which must grow to hold
// them, interleaved with small ones.
func TestClientLargePayload(t *testing.T) {
	m := clienttest.StartMosquitto(t, nil)
	ctx := testCtx(t)
	box := newInbox()
	sub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "lsub", CleanStart: true, OnMessage: box.onMessage})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Disconnect()
	if _, err := sub.Subscribe(ctx, mqtt.Subscription{Filter: "big", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
	pub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "lpub", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect()
	sizes := []int{10, 300 << 10, 7, 1 << 20, 0, 70 << 10}
	for i, n := range sizes {
		payload := bytes.Repeat([]byte{byte('a' + i)}, n)
		if err := pub.Publish(ctx, "big", payload, mqtt.QoS1, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, msg := range box.wait(t, len(sizes)) {
		if len(msg.Payload) != sizes[i] || sizes[i] > 0 && (msg.Payload[0] != byte('a'+i) || msg.Payload[sizes[i]-1] != byte('a'+i)) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(msg.Payload), sizes[i])
		}
	}
}
