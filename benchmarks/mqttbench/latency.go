package mqttbench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to one hour with 3 significant digits: enough
// resolution for loopback round trips and enough range for a broker that stalls.
const (
	latencyMinMicros = 1
	latencyMaxMicros = int64(time.Hour / time.Microsecond)
	latencySigFigs   = 3
)

// latency is an HDR histogram pair shared by the clients of a run: one for the current progress
// interval (reset each second), one for the whole run.
type latency struct {
	mu struct {
		sync.Mutex
		interval, total *hdrhistogram.Histogram
	}
}

func newLatency() *latency {
	l := &latency{}
	l.mu.interval = hdrhistogram.New(latencyMinMicros, latencyMaxMicros, latencySigFigs)
	l.mu.total = hdrhistogram.New(latencyMinMicros, latencyMaxMicros, latencySigFigs)
	return l
}

// record adds one sample. Values outside the range are clamped rather than dropped, so a sample is
// never silently missing from the count.
func (l *latency) record(d time.Duration) {
	us := max(latencyMinMicros, min(int64(d/time.Microsecond), latencyMaxMicros))
	l.mu.Lock()
	_ = l.mu.interval.RecordValue(us)
	_ = l.mu.total.RecordValue(us)
	l.mu.Unlock()
}

// takeInterval summarises the samples since the previous call and starts a new interval.
func (l *latency) takeInterval() LatencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := summarize(l.mu.interval)
	l.mu.interval.Reset()
	return s
}

// summary summarises the whole run.
func (l *latency) summary() LatencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return summarize(l.mu.total)
}

// LatencySummary is a latency distribution in milliseconds.
type LatencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(h *hdrhistogram.Histogram) LatencySummary {
	if h.TotalCount() == 0 {
		return LatencySummary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	q := h.ValueAtPercentiles([]float64{50, 90, 99, 99.9})
	return LatencySummary{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(q[50]),
		P90:   ms(q[90]),
		P99:   ms(q[99]),
		P999:  ms(q[99.9]),
		Max:   ms(h.Max()),
	}
}
