package subscriptions

import (
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

// TestIndexConcurrent runs writers (Add, Remove, RemoveClient on disjoint client sets) against readers
// (Match and Pick) and checks, while they run, that a subscription present throughout is always seen,
// then that the final index agrees with the union of the writers' models. Run it with -race.
func TestIndexConcurrent(t *testing.T) {
	seed := testSeed(t)
	ix := New()
	if _, err := ix.Add("always", "#", Options{QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Add("always", "$share/g/#", Options{QoS: 1}); err != nil {
		t.Fatal(err)
	}
	const writers, readers = 3, 3
	ops := randomOps(t, 3000)
	models := make([]*naiveIndex, writers)
	var wg, writersDone sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		models[w] = &naiveIndex{subs: map[[2]string]Options{}}
		wg.Add(1)
		writersDone.Add(1)
		go func() {
			defer wg.Done()
			defer writersDone.Done()
			r, m := newRand(seed+uint64(w)), models[w]
			for range ops {
				c, f, o := randomSubscription(r)
				c = fmt.Sprintf("w%d-%s", w, c) // writers own disjoint clients
				switch r.IntN(10) {
				case 0:
					ix.RemoveClient(c)
					m.removeClient(c)
				case 1, 2, 3:
					ix.Remove(c, f)
					m.remove(c, f)
				default:
					if _, err := ix.Add(c, f, o); err != nil {
						t.Errorf("Add(%q, %q): %v", c, f, err)
						return
					}
					m.add(c, f, o)
				}
			}
		}()
	}
	for rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRand(seed + 100 + uint64(rd))
			var buf []Subscriber
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := topictest.RandomName(r)
				buf = ix.Match(name, "", buf[:0])
				sawClient, sawGroup := false, false
				for i := range buf {
					sawClient = sawClient || buf[i].ClientID == "always"
					if buf[i].Shared() {
						_, ok := buf[i].Pick(Strategy(r.IntN(4)), "p", nil)
						sawGroup = sawGroup || (ok && buf[i].Group == "g")
					}
				}
				if name[0] != '$' && (!sawClient || !sawGroup) {
					t.Errorf("Match(%q) lost a permanent subscription: %v", name, formatSubscribers(buf))
					return
				}
			}
		}()
	}
	writersDone.Wait()
	close(stop)
	wg.Wait()

	final := &naiveIndex{subs: map[[2]string]Options{}}
	for _, m := range models {
		maps.Copy(final.subs, m.subs)
	}
	final.add("always", "#", Options{QoS: 1})
	final.add("always", "$share/g/#", Options{QoS: 1})
	if ix.Len() != len(final.subs) {
		t.Fatalf("seed %d: Len = %d, want %d", seed, ix.Len(), len(final.subs))
	}
	r := newRand(seed + 1000)
	for range 500 {
		name := topictest.RandomName(r)
		if got, want := formatSubscribers(ix.Match(name, "", nil)), final.match(name, ""); got != want {
			t.Fatalf("seed %d: Match(%q):\n%s\nwant:\n%s", seed, name, got, want)
		}
	}
}

// TestRetainedConcurrent runs Set and Delete against Match and Get, then checks the final content against
// the writers' models. Run it with -race.
func TestRetainedConcurrent(t *testing.T) {
	seed := testSeed(t)
	r := NewRetained[int]()
	const writers = 2
	ops := randomOps(t, 3000)
	models := make([]map[string]int, writers)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		models[w] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng, m := newRand(seed+uint64(w)), models[w]
			for i := range ops {
				name := fmt.Sprintf("w%d/%s", w, topictest.RandomName(rng)) // disjoint subtrees
				if rng.IntN(3) == 0 {
					r.Delete(name)
					delete(m, name)
					continue
				}
				if _, err := r.Set(name, i); err != nil {
					t.Errorf("Set(%q): %v", name, err)
					return
				}
				m[name] = i
			}
		}()
	}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		rng := newRand(seed + 100)
		var buf []RetainedEntry[int]
		for {
			select {
			case <-stop:
				return
			default:
			}
			buf = r.Match(topictest.RandomFilter(rng), buf[:0])
			r.Get(topictest.RandomName(rng))
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	want := map[string]int{}
	for _, m := range models {
		maps.Copy(want, m)
	}
	got := map[string]int{}
	for _, e := range r.All(nil) {
		got[e.Topic] = e.Value
	}
	if !maps.Equal(got, want) {
		t.Fatalf("seed %d: final content differs: %d topics, want %d", seed, len(got), len(want))
	}
}
