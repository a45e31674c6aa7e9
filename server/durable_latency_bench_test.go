package server

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
)

// latencyRate is the default total publish rate of BenchmarkDurable_Latency (messages/s): half
// of what a durable broker sustains on a small machine, the "half load" of the latency goal.
const latencyRate = 10000

// BenchmarkDurable_Latency measures latency at a paced load: 4 publishers send QoS 1 at
// DURABLE_BENCH_RATE messages/s in total (default latencyRate), each message carrying its send
// time, to 4 subscribers of "lat/#". It reports the percentiles of publish → PUBACK ("ack":
// for durable sessions this includes the fsync) and of publish → delivery to a subscriber
// ("dlv"), in µs, for in-memory sessions and durable ones in the same run. Each iteration is
// one message, so -benchtime 50000x runs 5 s per mode at the default rate.
func BenchmarkDurable_Latency(b *testing.B) {
	rate := float64(latencyRate)
	if v, err := strconv.ParseFloat(os.Getenv("DURABLE_BENCH_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	for _, mode := range []string{"memory", "durable"} {
		b.Run(mode, func(b *testing.B) {
			durableOn := mode == "durable"
			srv, addr := benchServerWith(b, durableOn)
			expiry := uint32(0)
			if durableOn {
				expiry = 3600
			}
			subs := make([]*latencyClient, 4)
			for i := range subs {
				subs[i] = &latencyClient{benchClient: benchConnect(b, addr, fmt.Sprintf("lsub%d", i), true, expiry)}
				subs[i].subscribeTimed(b, "lat/#")
			}
			pubs := make([]*latencyClient, 4)
			for i := range pubs {
				pubs[i] = &latencyClient{benchClient: benchConnect(b, addr, fmt.Sprintf("lpub%d", i), true, 0)}
			}
			per := max(1, b.N/len(pubs))
			interval := time.Duration(float64(time.Second) * float64(len(pubs)) / rate)
			var before *ds.Metrics
			if durableOn {
				before = srv.Storage().Metrics()
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, p := range pubs {
				wg.Add(1)
				// Stagger the publishers over one interval so that they do not send in step.
				first := start.Add(interval * time.Duration(i) / time.Duration(len(pubs)))
				go func() { defer wg.Done(); p.publishPaced(fmt.Sprintf("lat/%d", i), per, first, interval) }()
			}
			wg.Wait()
			elapsed := time.Since(start)
			want := int64(per * len(pubs))
			for _, s := range subs {
				awaitCount(b, want, s.got.Load)
			}
			b.StopTimer()
			ack, dlv := mergeLatency(pubs), mergeLatency(subs)
			b.ReportMetric(float64(want)/elapsed.Seconds(), "pub/s")
			b.ReportMetric(float64(ack.ValueAtQuantile(50)), "ack-p50-µs")
			b.ReportMetric(float64(ack.ValueAtQuantile(99)), "ack-p99-µs")
			b.ReportMetric(float64(dlv.ValueAtQuantile(50)), "dlv-p50-µs")
			b.ReportMetric(float64(dlv.ValueAtQuantile(99)), "dlv-p99-µs")
			b.ReportMetric(float64(dlv.Max()), "dlv-max-µs")
			if durableOn {
				reportBuffer(b, srv.Storage().Metrics().Sub(before))
			}
			for _, c := range subs {
				c.close()
			}
			for _, c := range pubs {
				c.close()
			}
		})
	}
}

// latencyClient is a benchClient that records latencies (µs) in its own histogram: a
// publisher its PUBACK round trips, a subscriber how long each message took from its send time
// (the first 8 payload bytes, Unix ns) to its arrival.
type latencyClient struct {
	*benchClient
	hist *hdrhistogram.Histogram
}

func newLatencyHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 2) }

// subscribeTimed subscribes at QoS 1 and then acknowledges and times every PUBLISH until the
// connection closes.
func (c *latencyClient) subscribeTimed(b *testing.B, filter string) {
	c.subscribeOnly(b, filter, mqtt.QoS1)
	c.hist = newLatencyHistogram()
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			p, err := c.r.ReadPacket(mqtt.V5)
			if err != nil {
				return
			}
			if p.Type != mqtt.TypePublish {
				continue
			}
			if len(p.Payload) >= 8 {
				sent := int64(binary.BigEndian.Uint64(p.Payload))
				_ = c.hist.RecordValue(max(1, (time.Now().UnixNano()-sent)/1000))
			}
			c.got.Add(1)
			if p.QoS == mqtt.QoS1 {
				c.write(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID}, c.br.Buffered() == 0)
			}
		}
	}()
}

// publishPaced sends n QoS 1 messages of 64 bytes, the i-th at first + i*interval (or as soon
// as the window of 32 allows, when late), and returns once all are acknowledged or the
// connection ends.
func (c *latencyClient) publishPaced(topic string, n int, first time.Time, interval time.Duration) {
	const window = 32
	c.hist = newLatencyHistogram()
	var sent [window + 1]time.Time // by packet id; a slot is reused only after its PUBACK
	var mu sync.Mutex
	free := make(chan struct{}, window)
	for range window {
		free <- struct{}{}
	}
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for got := 0; got < n; {
			p, err := c.r.ReadPacket(mqtt.V5)
			if err != nil {
				return
			}
			if p.Type != mqtt.TypePuback || p.PacketID == 0 || p.PacketID > window {
				continue
			}
			mu.Lock()
			rtt := time.Since(sent[p.PacketID])
			mu.Unlock()
			_ = c.hist.RecordValue(max(1, rtt.Microseconds()))
			got++
			free <- struct{}{}
		}
	}()
	payload := make([]byte, 64)
	for i := range n {
		time.Sleep(time.Until(first.Add(time.Duration(i) * interval)))
		select {
		case <-free:
		case <-acked:
			return // the connection ended; the caller finds messages missing
		}
		pid := uint16(i%window + 1)
		now := time.Now()
		mu.Lock()
		sent[pid] = now
		mu.Unlock()
		binary.BigEndian.PutUint64(payload, uint64(now.UnixNano()))
		c.write(&mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, QoS: mqtt.QoS1, PacketID: pid, Payload: payload}, true)
	}
	<-acked
}

// mergeLatency merges the clients' histograms.
func mergeLatency(cs []*latencyClient) *hdrhistogram.Histogram {
	h := newLatencyHistogram()
	for _, c := range cs {
		h.Merge(c.hist)
	}
	return h
}
