package subscriptions

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// benchIndex is a synthetic population: devices at "site/{s}/dev/{d}/temp" (1000 sites), each
// subscription owned by one of n/10 clients. Seven in ten filters are exact, the rest wildcards whose
// fan-out stays small: "site/{s}/+/{d}/temp", "site/{s}/dev/{d}/#", "+/{s}/dev/{d}/temp". The topics
// that benchmarks publish to are taken from the subscribed devices, so every Match finds something.
type benchIndex struct {
	ix       *Index
	filters  []string // what was subscribed, for the naive baseline
	topics   []string
	bytesPer float64 // heap bytes per subscription after building
}

var (
	benchMu      sync.Mutex
	benchIndexes = map[int]*benchIndex{}
)

func buildBenchIndex(b *testing.B, n int) *benchIndex {
	benchMu.Lock()
	defer benchMu.Unlock()
	if bi := benchIndexes[n]; bi != nil {
		return bi
	}
	r := rand.New(rand.NewPCG(1, uint64(n)))
	bi := &benchIndex{}
	filters := make([]string, n)
	clients := make([]string, n)
	for i := range n {
		s, d := r.IntN(1000), r.IntN(1000)
		switch k := r.IntN(10); {
		case k < 7:
			filters[i] = fmt.Sprintf("site/%d/dev/%d/temp", s, d)
		case k == 7:
			filters[i] = fmt.Sprintf("site/%d/+/%d/temp", s, d)
		case k == 8:
			filters[i] = fmt.Sprintf("site/%d/dev/%d/#", s, d)
		default:
			filters[i] = fmt.Sprintf("+/%d/dev/%d/temp", s, d)
		}
		clients[i] = fmt.Sprintf("client-%d", r.IntN(max(1, n/10)))
		if i%97 == 0 {
			bi.topics = append(bi.topics, fmt.Sprintf("site/%d/dev/%d/temp", s, d))
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ix := New()
	for i := range n {
		if _, err := ix.Add(clients[i], filters[i], Options{QoS: byte(i % 3), SubscriptionID: uint32(i%5) * 3}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	bi.ix, bi.filters = ix, filters
	bi.bytesPer = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	benchIndexes[n] = bi
	return bi
}

// BenchmarkMatch is the figure of the performance goal: matching one topic among up to 1M subscriptions
// in under 2 µs.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			bi := buildBenchIndex(b, n)
			var buf []Subscriber
			found := 0
			i := 0
			cpu := cpuNanos()
			for b.Loop() {
				buf = bi.ix.Match(bi.topics[i%len(bi.topics)], "publisher", buf[:0])
				found += len(buf)
				i++
			}
			b.ReportMetric(float64(cpuNanos()-cpu)/float64(i), "cpu-ns/op")
			b.ReportMetric(float64(found)/float64(i), "subscribers/match")
			b.ReportMetric(bi.bytesPer, "B/subscription")
		})
	}
}

// BenchmarkMatchNaiveScan is the baseline: test every subscription's filter with topic.Match, as a
// broker without an index would. Same population as BenchmarkMatch/subs=10000.
func BenchmarkMatchNaiveScan(b *testing.B) {
	bi := buildBenchIndex(b, 10_000)
	i, found := 0, 0
	cpu := cpuNanos()
	for b.Loop() {
		name := bi.topics[i%len(bi.topics)]
		for _, f := range bi.filters {
			if topic.Match(f, name) {
				found++
			}
		}
		i++
	}
	b.ReportMetric(float64(cpuNanos()-cpu)/float64(i), "cpu-ns/op")
	b.ReportMetric(float64(found)/float64(i), "subscriptions/match")
}

// BenchmarkMatchParallel measures the read lock under parallel Match calls, alone and with a writer
// subscribing and unsubscribing as fast as it can (the worst case for an RWMutex).
func BenchmarkMatchParallel(b *testing.B) {
	bi := buildBenchIndex(b, 1_000_000)
	for _, writer := range []bool{false, true} {
		b.Run(fmt.Sprintf("writer=%v", writer), func(b *testing.B) {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if writer {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						f := fmt.Sprintf("site/%d/dev/extra/%d", i%1000, i%7)
						bi.ix.Add("writer", f, Options{QoS: 1})
						bi.ix.Remove("writer", f)
					}
				}()
			}
			b.RunParallel(func(pb *testing.PB) {
				var buf []Subscriber
				i := rand.IntN(len(bi.topics))
				for pb.Next() {
					buf = bi.ix.Match(bi.topics[i%len(bi.topics)], "publisher", buf[:0])
					i++
				}
			})
			close(stop)
			wg.Wait()
		})
	}
}

// BenchmarkAdd measures subscribing into an index that already holds 1M subscriptions.
func BenchmarkAdd(b *testing.B) {
	bi := buildBenchIndex(b, 1_000_000)
	i := 0
	for b.Loop() {
		bi.ix.Add("bench-add", fmt.Sprintf("site/%d/dev/%d/humidity", i%1000, i), Options{QoS: 1})
		i++
	}
	b.StopTimer()
	bi.ix.RemoveClient("bench-add")
}

// BenchmarkMatchFanOut measures a topic with 10,000 subscribing clients: the cost per delivered
// Subscriber, with one matching subscription per client (no merge needed) and with two (every client's
// hits merged into one entry). The ratio between the two is the price of the merge step.
func BenchmarkMatchFanOut(b *testing.B) {
	for _, overlap := range []bool{false, true} {
		b.Run(fmt.Sprintf("overlap=%v", overlap), func(b *testing.B) {
			ix := New()
			for i := range 10_000 {
				ix.Add(fmt.Sprintf("c%d", i), "news/+", Options{QoS: 1, SubscriptionID: uint32(i%3) + 1})
				if overlap {
					ix.Add(fmt.Sprintf("c%d", i), "news/#", Options{QoS: 0})
				}
			}
			var buf []Subscriber
			for b.Loop() {
				buf = ix.Match("news/today", "", buf[:0])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(buf)), "ns/subscriber")
		})
	}
}

// BenchmarkRetainedMatch measures the filter → topics walk over 100k retained topics.
func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[int]()
	for i := range 100_000 {
		r.Set(fmt.Sprintf("site/%d/dev/%d/temp", i%1000, i), i)
	}
	var buf []RetainedEntry[int]
	for _, f := range []string{"site/7/dev/7007/temp", "site/7/+/+/temp", "site/7/#"} {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				buf = r.Match(f, buf[:0])
			}
			b.ReportMetric(float64(len(buf)), "topics/match")
		})
	}
}
