package lts_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttds/mqttds/lts"
)

// fleetTopics returns the topics site/{0..sites-1}/dev/{0..devs-1}/temp as levels, in a
// shuffled (but fixed) order so that learning does not see them sorted.
func fleetTopics(sites, devs int) [][]string {
	topics := make([][]string, 0, sites*devs)
	for s := range sites {
		for d := range devs {
			topics = append(topics, []string{"site", fmt.Sprint(s), "dev", fmt.Sprint(d), "temp"})
		}
	}
	shuffle(topics)
	return topics
}

// shuffle puts s in a fixed pseudo-random order.
func shuffle[T any](s []T) {
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

func learnAll(tb testing.TB, tr *lts.Trie, topics [][]string) {
	tb.Helper()
	for _, tp := range topics {
		if _, _, _, err := tr.Learn(tp, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

// heapAfter returns the live heap after running build, minus the live heap before.
func heapAfter(build func() any) (int64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc), v
}

// TestFleetMemory measures the heap a trie holds for the fleet workload (100k topics, default
// options): it must stay well under 10 MB. It also checks that Stats.MemoryBytes tracks the
// measured figure on a trie that learns no wildcard (so it is large enough to measure).
func TestFleetMemory(t *testing.T) {
	topics := fleetTopics(100, 1000)
	measured, v := heapAfter(func() any {
		tr := lts.New(nil)
		learnAll(t, tr, topics)
		return tr
	})
	tr := v.(*lts.Trie)
	if err := lts.CheckInvariants(tr); err != nil {
		t.Fatal(err)
	}
	st := tr.Stats()
	t.Logf("fleet, default options: %d topics, %v, measured heap %d B", len(topics), st, measured)
	if measured > 1<<20 {
		t.Errorf("fleet trie holds %d B, want under 1 MiB", measured)
	}
	if st.Streams != 441 {
		// 20 concrete sites x 20 concrete devices, 20+1 streams with one '+', 1 with two.
		t.Errorf("fleet trie has %d streams, want 441", st.Streams)
	}

	// No wildcards: every topic is its own stream.
	noWild := &lts.Options{Thresholds: []int{1 << 30}}
	measured, v = heapAfter(func() any {
		tr := lts.New(noWild)
		learnAll(t, tr, topics)
		return tr
	})
	tr = v.(*lts.Trie)
	st = tr.Stats()
	t.Logf("fleet, no wildcard: %v, measured heap %d B (%.0f B/topic)", st, measured, float64(measured)/float64(len(topics)))
	if r := float64(st.MemoryBytes) / float64(measured); r < 0.6 || r > 1.6 {
		t.Errorf("Stats.MemoryBytes = %d, measured %d: ratio %.2f", st.MemoryBytes, measured, r)
	}
	runtime.KeepAlive(topics)
}

// TestConcurrentReaders runs one writer learning new topics against readers doing Lookup,
// Match and Stats; run it with -race. Readers check that what they see is consistent: a topic
// once found keeps its index.
func TestConcurrentReaders(t *testing.T) {
	tr := lts.New(&lts.Options{Thresholds: []int{50, 5}})
	topics := fleetTopics(60, 300)
	deadline := time.Now().Add(200 * time.Millisecond)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		// The fleet topics, then new topics (new shapes too) until the deadline.
		for i := 0; time.Now().Before(deadline); i++ {
			tp := []string{"x", fmt.Sprint(i % 7), fmt.Sprint(i), "y"}
			if i < len(topics) {
				tp = topics[i]
			}
			if _, _, _, err := tr.Learn(tp, nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for r := range 3 {
		wg.Go(func() {
			seen := map[string]lts.Index{}
			rnd := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-done:
					return
				default:
				}
				tp := topics[rnd.IntN(len(topics))]
				if idx, _, ok := tr.Lookup(tp); ok {
					key := strings.Join(tp, "/")
					if prev, had := seen[key]; had && prev != idx {
						t.Errorf("%s changed index %d -> %d", key, prev, idx)
						return
					}
					seen[key] = idx
				}
				_ = tr.Match([]string{"site", "+", "dev", tp[3], "#"})
				_ = tr.Match([]string{"x", "#"})
				_ = tr.Stats()
			}
		})
	}
	wg.Wait()
}

// Benchmarks on the fleet workload (100k topics). BenchmarkMapBaseline is the yardstick: a Go
// map lookup of the joined topic string, what a trie-less design would pay per message.

var fleet = sync.OnceValues(func() ([][]string, *lts.Trie) {
	topics := fleetTopics(100, 1000)
	tr := lts.New(nil)
	for _, tp := range topics {
		if _, _, _, err := tr.Learn(tp, nil); err != nil {
			panic(err)
		}
	}
	return topics, tr
})

func BenchmarkLearn(b *testing.B) {
	b.Run("known", func(b *testing.B) {
		topics, tr := fleet()
		b.ReportAllocs()
		var ops []lts.Op
		for i := 0; b.Loop(); i++ {
			_, _, ops, _ = tr.Learn(topics[i%len(topics)], ops[:0])
		}
	})
	b.Run("known-append", func(b *testing.B) {
		topics, tr := fleet()
		b.ReportAllocs()
		var (
			ops     []lts.Op
			varying []string
		)
		for i := 0; b.Loop(); i++ {
			_, varying, ops, _ = tr.LearnAppend(topics[i%len(topics)], varying[:0], ops[:0])
		}
	})
	b.Run("fresh", func(b *testing.B) {
		// Every topic learned by an empty trie: the cost of building the fleet trie, per topic.
		topics, _ := fleet()
		b.ReportAllocs()
		tr := lts.New(nil)
		var ops []lts.Op
		for i := 0; b.Loop(); i++ {
			if i%len(topics) == 0 {
				tr = lts.New(nil)
			}
			_, _, ops, _ = tr.Learn(topics[i%len(topics)], ops[:0])
		}
	})
	b.Run("concrete", func(b *testing.B) {
		// No wildcard ever learned: every topic creates states (worst case for memory).
		topics, _ := fleet()
		b.ReportAllocs()
		opts := &lts.Options{Thresholds: []int{1 << 30}}
		tr := lts.New(opts)
		var ops []lts.Op
		for i := 0; b.Loop(); i++ {
			if i%len(topics) == 0 {
				tr = lts.New(opts)
			}
			_, _, ops, _ = tr.Learn(topics[i%len(topics)], ops[:0])
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	topics, tr := fleet()
	b.Run("new-slice", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, ok := tr.Lookup(topics[i%len(topics)]); !ok {
				b.Fatal("not found")
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var varying []string
		for i := 0; b.Loop(); i++ {
			var ok bool
			if _, varying, ok = tr.LookupAppend(topics[i%len(topics)], varying[:0]); !ok {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkMapBaseline(b *testing.B) {
	// Build the keys in creation order and visit them shuffled, like the trie benchmarks do
	// with their topics, so both pay the same cache misses on the caller's strings.
	topics := fleetTopics(100, 1000)
	slices.SortFunc(topics, func(a, b []string) int { return slices.Compare(a, b) })
	m := make(map[string]lts.Index, len(topics))
	keys := make([]string, len(topics))
	for i, tp := range topics {
		keys[i] = strings.Join(tp, "/")
		m[keys[i]] = lts.Index(i + 1)
	}
	shuffle(keys)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := m[keys[i%len(keys)]]; !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	topics, tr := fleet()
	// One topic of a fully concrete stream and one of the stream with two varying levels.
	var concrete, varying string
	for _, tp := range topics {
		_, v, _ := tr.Lookup(tp)
		switch {
		case len(v) == 0 && concrete == "":
			concrete = strings.Join(tp, "/")
		case len(v) == 2 && varying == "":
			varying = strings.Join(tp, "/")
		}
	}
	for _, bc := range []struct{ name, filter string }{
		{"topic/concrete", concrete},
		{"topic/varying", varying},
		{"all", "site/+/dev/+/temp"},
		{"one-site", "site/7/#"},
		{"one-device", "site/+/dev/777/temp"},
		{"nothing", "$SYS/broker/uptime"},
	} {
		filter := strings.Split(bc.filter, "/")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(tr.Match(filter))
			}
			b.ReportMetric(float64(n), "streams")
		})
	}
}

// BenchmarkFleetMemory reports the live heap of the fleet trie (100k topics), with default
// options and with wildcards disabled. One iteration builds the whole trie.
func BenchmarkFleetMemory(b *testing.B) {
	topics := fleetTopics(100, 1000)
	for _, bc := range []struct {
		name string
		opts *lts.Options
	}{
		{"default", nil},
		{"no-wildcard", &lts.Options{Thresholds: []int{1 << 30}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var heap int64
			for b.Loop() {
				heap, _ = heapAfter(func() any {
					tr := lts.New(bc.opts)
					learnAll(b, tr, topics)
					return tr
				})
			}
			b.ReportMetric(float64(heap), "heap-B")
			b.ReportMetric(float64(heap)/float64(len(topics)), "heap-B/topic")
		})
	}
}
