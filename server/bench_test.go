package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/client"
	"github.com/stretchr/testify/require"
)

// BenchmarkThroughput: 4 publishers → 4 subscribers over loopback, one
// topic per pair, 64-byte payloads; msgs/s counts messages delivered to
// subscribers. Publishers keep a window of QoS 1 messages in flight.
func BenchmarkThroughput(b *testing.B) {
	for _, qos := range []mqtt.QoS{mqtt.QoS0, mqtt.QoS1} {
		b.Run(fmt.Sprintf("qos%d/4x4/64B", qos), func(b *testing.B) { benchThroughput(b, qos, 4) })
	}
}

func benchThroughput(b *testing.B, qos mqtt.QoS, pairs int) {
	_, addr := startServer(b, &Options{MaxQueued: 1 << 20, OutboundQueue: 1 << 16, MaxInflight: 1024})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	payload := make([]byte, 64)
	per := max(b.N/pairs, 1)
	var received atomic.Int64
	done := make(chan struct{})
	want := int64(per * pairs)
	subs := make([]*client.Client, pairs)
	pubs := make([]*client.Client, pairs)
	for i := range pairs {
		var err error
		subs[i], err = client.Dial(ctx, &client.Options{Addr: addr, ClientID: fmt.Sprintf("sub%d", i), CleanStart: true,
			Version: mqtt.V5, ReceiveMaximum: 1024, OnMessage: func(*client.Message) {
				if received.Add(1) == want {
					close(done)
				}
			}})
		require.NoError(b, err)
		defer subs[i].Close()
		_, err = subs[i].Subscribe(ctx, mqtt.Subscription{Filter: fmt.Sprintf("bench/%d", i), QoS: qos})
		require.NoError(b, err)
		pubs[i], err = client.Dial(ctx, &client.Options{Addr: addr, ClientID: fmt.Sprintf("pub%d", i), CleanStart: true,
			Version: mqtt.V5, Inflight: 256})
		require.NoError(b, err)
		defer pubs[i].Close()
	}
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("bench/%d", i)
			for range per {
				if err := pubs[i].Publish(ctx, topic, payload, qos, false, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", received.Load(), want)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkFanIn: 4 publishers → 1 subscriber on bench/#, QoS 1, 64-byte
// payloads, 64-message windows both ways (as in `make compare`), with flow
// control on and off in the same run. It reports what the subscriber got per
// second and the publish-to-receipt latency: without back-pressure the
// publishers are acknowledged faster than the subscriber is served and the
// difference waits in its queue, so latency grows with the run.
func BenchmarkFanIn(b *testing.B) {
	for _, flow := range []struct {
		name string
		high int
	}{{"flow=off", -1}, {"flow=on", 0}} {
		b.Run(flow.name, func(b *testing.B) { benchFanIn(b, flow.high) })
	}
}

func benchFanIn(b *testing.B, high int) {
	const pubs, window = 4, 64
	_, addr := startServer(b, &Options{MaxQueued: 1 << 30, MaxInflight: window, ReceiveMaximum: window,
		FlowHighWatermark: high})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	want := max(b.N, pubs)
	per := want / pubs
	want = per * pubs
	latency := make([]time.Duration, want)
	var received atomic.Int64
	done := make(chan struct{})
	sub, err := client.Dial(ctx, &client.Options{Addr: addr, ClientID: "sub", CleanStart: true, Version: mqtt.V5,
		ReceiveMaximum: window, OnMessage: func(m *client.Message) {
			sent := int64(binary.BigEndian.Uint64(m.Payload))
			i := received.Add(1)
			latency[i-1] = time.Duration(time.Now().UnixNano() - sent)
			if i == int64(want) {
				close(done)
			}
		}})
	require.NoError(b, err)
	defer sub.Close()
	_, err = sub.Subscribe(ctx, mqtt.Subscription{Filter: "bench/#", QoS: 1})
	require.NoError(b, err)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range pubs {
		pub, err := client.Dial(ctx, &client.Options{Addr: addr, ClientID: fmt.Sprintf("pub%d", i), CleanStart: true,
			Version: mqtt.V5, Inflight: window})
		require.NoError(b, err)
		defer pub.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 64)
			topic := fmt.Sprintf("bench/%d", i)
			for range per {
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				if err := pub.Publish(ctx, topic, payload, mqtt.QoS1, false, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", received.Load(), want)
	}
	b.StopTimer()
	slices.Sort(latency)
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(latency[want/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latency[want*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkIdleConnections measures the broker process's resident memory
// per idle connection: the mqttds binary runs as a child, 10,000 clients
// connect (CONNECT/CONNACK, then silence), and the RSS growth is divided by
// the count. The goal is at most 4 KiB per connection: an idle connection
// holds no read or write buffer and one goroutine.
func BenchmarkIdleConnections(b *testing.B) {
	n := 10000
	if s := os.Getenv("MQTTDS_IDLE_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	bin := filepath.Join(b.TempDir(), "mqttds")
	out, err := exec.Command("go", "build", "-o", bin, "../tools/mqttds").CombinedOutput()
	require.NoError(b, err, "%s", out)
	for range b.N {
		b.StopTimer()
		perConn := idleRSS(b, bin, n)
		b.ReportMetric(perConn, "RSS-bytes/conn")
		b.ReportMetric(float64(n), "conns")
	}
}

func idleRSS(b *testing.B, bin string, n int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	cmd := exec.Command(bin, "serve", "--bind", addr, "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MQTTDS_API_BIND=127.0.0.1:0", "MQTTDS_LOG_LEVEL=warn", "MQTTDS_MQTT_IDLE_TIMEOUT=1m")
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var c0 net.Conn
	for range 100 { // wait for the listener
		if c0, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(b, err)
	c0.Close()
	time.Sleep(500 * time.Millisecond)
	before := rss(b, cmd.Process.Pid)

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(b, err)
		conns = append(conns, c)
		p := &mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5,
			ClientID: "idle-" + strconv.Itoa(i), CleanStart: true}}
		raw, _ := mqtt.Encode(nil, p, mqtt.V5)
		_, err = c.Write(raw)
		require.NoError(b, err)
		r := mqtt.NewReader(bufio.NewReaderSize(c, 64), 0)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		ack, err := r.ReadPacket(mqtt.V5)
		require.NoError(b, err)
		require.Equal(b, mqtt.TypeConnack, ack.Type)
	}
	time.Sleep(2 * time.Second) // let the broker settle (GC, scavenger)
	after := rss(b, cmd.Process.Pid)
	return float64(after-before) / float64(n)
}

// rss reads a process's resident set size from /proc.
func rss(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
