package ds

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mqttds/mqttds/layout"
)

// benchWriters is the number of concurrent writers of the throughput benchmarks.
const benchWriters = 512

func benchOptions() *Options {
	return &Options{Retention: RetentionOptions{Disabled: true}}
}

// recordingApplier keeps every batch it applies, per shard, for the raw-pebble baseline.
type recordingApplier struct {
	inner Applier
	mu    sync.Mutex
	log   [][]*layout.CookedBatch
}

func (a *recordingApplier) Apply(shard int, b *layout.CookedBatch) (Commit, error) {
	a.mu.Lock()
	for len(a.log) <= shard {
		a.log = append(a.log, nil)
	}
	// The writes' slices are not reused by ds after Apply: keeping them is enough.
	a.log[shard] = append(a.log[shard], &layout.CookedBatch{Writes: append([]layout.Write(nil), b.Writes...)})
	a.mu.Unlock()
	return a.inner.Apply(shard, b)
}

// take returns the batches recorded so far and forgets them.
func (a *recordingApplier) take() [][]*layout.CookedBatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	log := a.log
	a.log = nil
	return log
}

// storeBenchRounds is how many times BenchmarkStore alternates between ds and raw pebble.
const storeBenchRounds = 8

// BenchmarkStore measures durable Store throughput: 64-byte payloads, 16 shards, benchWriters
// concurrent writers storing one message per call. In the same run it commits the very same
// batches (same keys, values and batch sizes, recorded from ds's applier) to a raw pebble
// instance, one committing goroutine per shard with a synced write, and reports both rates and
// their ratio. The two alternate in storeBenchRounds rounds (ds stores an eighth of the
// messages, raw pebble commits that eighth's batches, and so on), so that load from outside the
// benchmark, which on a shared machine comes and goes within seconds, weighs on both alike.
func BenchmarkStore(b *testing.B) {
	for _, kind := range []string{layout.KindWildcardOptimized, layout.KindReference} {
		b.Run(kind, func(b *testing.B) { benchmarkStore(b, kind) })
	}
}

func benchmarkStore(b *testing.B, kind string) {
	rec := &recordingApplier{}
	opts := benchOptions()
	opts.Layout.Kind = kind
	opts.NewApplier = func(db *pebble.DB) Applier { rec.inner = NewLocalApplier(db); return rec }
	db, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := pebble.Open(b.TempDir(), pebbleOptions(nil, vfs.Default))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	payload := make([]byte, 64)
	topics := make([]string, 10000)
	for i := range topics {
		topics[i] = fmt.Sprintf("devices/%d/telemetry", i)
	}
	var dsElapsed, dsCPU, rawElapsed, rawCPU time.Duration
	var next atomic.Int64
	b.ResetTimer()
	for round := 1; round <= storeBenchRounds; round++ {
		end := int64(b.N) * int64(round) / storeBenchRounds
		start, cpuStart := time.Now(), cpuTime()
		var wg sync.WaitGroup
		for w := 0; w < benchWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := Message{ClientID: fmt.Sprintf("client-%d", w), Payload: payload, QoS: 1}
				for {
					i := next.Add(1)
					if i > end {
						next.Add(-1)
						return
					}
					m.Topic = topics[i%int64(len(topics))]
					if err := db.Store(context.Background(), []Message{m}, Sync); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		dsElapsed, dsCPU = dsElapsed+time.Since(start), dsCPU+cpuTime()-cpuStart
		b.StopTimer()
		cpuStart = cpuTime()
		rawElapsed += replayRaw(b, raw, rec.take())
		rawCPU += cpuTime() - cpuStart
		b.StartTimer()
	}
	b.StopTimer()
	metrics := db.Metrics()
	db.Close()
	if testing.Verbose() {
		b.Logf("%s", metrics)
	}
	// CPU per message (user + system, every thread of the process, pebble's background work
	// included) says whether a rate is bound by the 2 cores or by waiting for syncs.
	b.ReportMetric(float64(dsCPU.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(rawCPU.Microseconds())/float64(b.N), "raw-cpu-µs/msg")
	dsRate := float64(b.N) / dsElapsed.Seconds()
	rawRate := float64(b.N) / rawElapsed.Seconds()
	b.ReportMetric(dsRate, "msgs/s")
	b.ReportMetric(rawRate, "raw-pebble-msgs/s")
	b.ReportMetric(dsRate/rawRate, "ds/raw")
	if metrics.Buffer.Batches > 0 {
		b.ReportMetric(float64(metrics.Buffer.Messages)/float64(metrics.Buffer.Batches), "msgs/batch")
	}
	b.ReportMetric(float64(metrics.Buffer.StoreLatency.P99.Microseconds()), "p99-µs")
}

// cpuTime returns the CPU time (user + system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// replayRaw commits the recorded batches to db (a pebble instance with ds's pebble options),
// each batch with a synced write, from eagerFlushes goroutines per shard (the concurrency ds
// itself commits with), and returns the elapsed time.
func replayRaw(b *testing.B, db *pebble.DB, log [][]*layout.CookedBatch) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, batches := range log {
		for g := 0; g < eagerFlushes; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(batches); i += eagerFlushes {
					cb := batches[i]
					pb := db.NewBatch()
					if err := WriteCooked(pb, cb); err != nil {
						b.Error(err)
					}
					if err := pb.Commit(pebble.Sync); err != nil {
						b.Error(err)
					}
					pb.Close()
				}
			}()
		}
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkStoreLatencyHalfLoad measures Store latency at half load: it first measures the
// store's throughput with benchWriters closed-loop writers (50000 messages), then offers half
// of that rate (or DS_BENCH_RATE messages/s) from 64 paced writers and reports the latency
// percentiles of that second phase. The goal is p99 <= FlushInterval + 2ms.
func BenchmarkStoreLatencyHalfLoad(b *testing.B) {
	db, err := Open(b.TempDir(), benchOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rate, _ := strconv.ParseFloat(os.Getenv("DS_BENCH_RATE"), 64)
	if rate == 0 {
		const n = 50000
		var next atomic.Int64
		elapsed, _ := storeLoop(db, benchWriters, func(int) (time.Time, bool) { return time.Time{}, next.Add(1) <= n })
		rate = n / elapsed.Seconds() / 2
	}
	const writers = 64
	interval := time.Duration(float64(time.Second) * writers / rate)
	start := time.Now()
	due := make([]time.Time, writers)
	for w := range due {
		due[w] = start.Add(time.Duration(rand.Int64N(int64(interval))))
	}
	var next atomic.Int64
	b.ResetTimer()
	elapsed, h := storeLoop(db, writers, func(w int) (time.Time, bool) {
		at := due[w]
		due[w] = at.Add(interval)
		return at, next.Add(1) <= int64(b.N)
	})
	b.StopTimer()
	if testing.Verbose() {
		b.Logf("%s", db.Metrics())
	}
	raw := rawLatency(b, writers, rate, b.N)
	b.ReportMetric(float64(raw.ValueAtQuantile(99)), "raw-pebble-p99-µs")
	b.ReportMetric(rate, "offered-msgs/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(h.Max()), "max-µs")
}

// rawLatency offers the same load to a raw pebble instance: writers paced goroutines each
// committing one 64-byte value per synced batch. It returns the commit latency distribution
// (µs): the floor that Store latency is compared with.
func rawLatency(b *testing.B, writers int, rate float64, n int) *hdrhistogram.Histogram {
	db, err := pebble.Open(b.TempDir(), pebbleOptions(nil, vfs.Default))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	interval := time.Duration(float64(time.Second) * float64(writers) / rate)
	start := time.Now()
	var next atomic.Int64
	hists := make([]*hdrhistogram.Histogram, writers)
	var wg sync.WaitGroup
	for w := range hists {
		hists[w] = hdrhistogram.New(1, 10_000_000, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := make([]byte, 64)
			due := start.Add(time.Duration(rand.Int64N(int64(interval))))
			for i := 0; next.Add(1) <= int64(n); i++ {
				time.Sleep(time.Until(due))
				due = due.Add(interval)
				t0 := time.Now()
				if err := db.Set(fmt.Appendf(nil, "w%d/%d", w, i), value, pebble.Sync); err != nil {
					panic(err)
				}
				hists[w].RecordValue(time.Since(t0).Microseconds())
			}
		}()
	}
	wg.Wait()
	for _, h := range hists[1:] {
		hists[0].Merge(h)
	}
	return hists[0]
}

// storeLoop runs writers goroutines that each Store one 64-byte message per call for as long
// as schedule says so, first sleeping until the time it returns, and returns the elapsed time
// and the latency distribution (µs) of the calls.
func storeLoop(db *DB, writers int, schedule func(w int) (time.Time, bool)) (time.Duration, *hdrhistogram.Histogram) {
	payload := make([]byte, 64)
	hists := make([]*hdrhistogram.Histogram, writers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		hists[w] = hdrhistogram.New(1, 10_000_000, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := Message{ClientID: fmt.Sprintf("client-%d", w), Topic: fmt.Sprintf("devices/%d/telemetry", w), Payload: payload}
			for {
				at, ok := schedule(w)
				if !ok {
					return
				}
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				if err := db.Store(context.Background(), []Message{m}, Sync); err != nil {
					panic(err)
				}
				hists[w].RecordValue(time.Since(t0).Microseconds())
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, h := range hists[1:] {
		hists[0].Merge(h)
	}
	return elapsed, hists[0]
}

// BenchmarkReopen measures Open+Close of a store holding DS_BENCH_REOPEN_MSGS messages
// (default 500000) over DS_BENCH_REOPEN_TOPICS topics (default 5000) in the default layout.
// The storage goal is DS_BENCH_REOPEN_MSGS=10000000 DS_BENCH_REOPEN_TOPICS=100000 under 1 s.
func BenchmarkReopen(b *testing.B) {
	n, topics := 500000, 5000
	if s := os.Getenv("DS_BENCH_REOPEN_MSGS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("DS_BENCH_REOPEN_TOPICS"); s != "" {
		topics, _ = strconv.Atoi(s)
	}
	if n <= 0 || topics <= 0 {
		b.Fatal("DS_BENCH_REOPEN_MSGS and DS_BENCH_REOPEN_TOPICS must be positive integers")
	}
	dir := b.TempDir()
	db, err := Open(dir, benchOptions())
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 64)
	msgs := make([]Message, 1000)
	for i := 0; i < n; i += len(msgs) {
		for j := range msgs {
			k := i + j
			msgs[j] = Message{ClientID: fmt.Sprintf("c%d", k%64), Topic: fmt.Sprintf("devices/%d/telemetry", k%topics), Payload: payload}
		}
		if err := db.Store(context.Background(), msgs, Sync); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db, err := Open(dir, benchOptions())
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64(n), "msgs")
	b.ReportMetric(float64(topics), "topics")
}

// BenchmarkCompression encodes and decodes 1 KiB payloads of three kinds with and without s2
// and reports the stored bytes per payload byte: s2 pays for repetitive text (JSON telemetry),
// not for random or already-compressed bytes (which ds then stores raw, paying only the try).
func BenchmarkCompression(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1024)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var json []byte
	for i := 0; len(json) < 1024; i++ {
		json = fmt.Appendf(json, `{"sensor":"temp-%d","value":%d.%d,"unit":"C","ok":true},`, i%7, 20+i%5, i%10)
	}
	json = json[:1024]
	small := []byte(`{"v":21.5}`)
	for _, p := range []struct {
		name    string
		payload []byte
	}{{"json-1KiB", json}, {"random-1KiB", random}, {"small", small}} {
		for _, compress := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/s2=%v", p.name, compress), func(b *testing.B) {
				m := Message{ClientID: "c", Topic: "t", Payload: p.payload}
				var buf []byte
				var out Message
				b.SetBytes(int64(len(p.payload)))
				for i := 0; i < b.N; i++ {
					buf = appendMessage(buf[:0], &m, compress)
					if err := decodeMessage(buf, &out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(buf))/float64(len(p.payload)), "stored/payload")
			})
		}
	}
}
