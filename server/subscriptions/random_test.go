package subscriptions

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

// randomSubscription draws a client and a filter from small sets, so that overlaps, replacements and
// shared groups happen often.
func randomSubscription(r *rand.Rand) (client, filter string, o Options) {
	client = fmt.Sprintf("c%d", r.IntN(6))
	filter = topictest.RandomFilter(r)
	shared := false
	switch r.IntN(6) {
	case 0:
		filter, shared = fmt.Sprintf("$share/g%d/%s", r.IntN(2), filter), true
	case 1:
		filter, shared = "$queue/"+filter, true
	}
	o = Options{QoS: byte(r.IntN(3)), RetainAsPublished: r.IntN(2) == 0, RetainHandling: byte(r.IntN(3))}
	if r.IntN(2) == 0 {
		o.SubscriptionID = uint32(1 + r.IntN(20))
	}
	if !shared && r.IntN(3) == 0 {
		o.NoLocal = true
	}
	return client, filter, o
}

// TestIndexRandom runs random Add/Remove/RemoveClient/Match operations against Index and naiveIndex and
// compares every result. It covers overlapping subscriptions, No Local, shared groups, '$' topics and the
// pruning of emptied nodes (the final state must be an empty trie).
func TestIndexRandom(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix, model := New(), &naiveIndex{subs: map[[2]string]Options{}}
	var buf []Subscriber
	ops := randomOps(t, 20000)
	for i := 0; i < ops; i++ {
		switch op := r.IntN(20); {
		case op < 8:
			c, f, o := randomSubscription(r)
			got, err := ix.Add(c, f, o)
			if err != nil {
				t.Fatalf("seed %d op %d: Add(%q, %q): %v", seed, i, c, f, err)
			}
			if want := model.add(c, f, o); got != want {
				t.Fatalf("seed %d op %d: Add(%q, %q) replaced = %v, want %v", seed, i, c, f, got, want)
			}
		case op < 11:
			c, f, _ := randomSubscription(r)
			if r.IntN(2) == 0 {
				c, f = model.pick(r, c, f)
			}
			if got, want := ix.Remove(c, f), model.remove(c, f); got != want {
				t.Fatalf("seed %d op %d: Remove(%q, %q) = %v, want %v", seed, i, c, f, got, want)
			}
		case op < 12:
			c, _, _ := randomSubscription(r)
			if got, want := ix.RemoveClient(c), model.removeClient(c); got != want {
				t.Fatalf("seed %d op %d: RemoveClient(%q) = %d, want %d", seed, i, c, got, want)
			}
		default:
			name := topictest.RandomName(r)
			from := fmt.Sprintf("c%d", r.IntN(7))
			buf = ix.Match(name, from, buf[:0])
			if got, want := formatSubscribers(buf), model.match(name, from); got != want {
				t.Fatalf("seed %d op %d: Match(%q, from %q):\n%s\nwant:\n%s", seed, i, name, from, got, want)
			}
		}
		if ix.Len() != len(model.subs) {
			t.Fatalf("seed %d op %d: Len = %d, want %d", seed, i, ix.Len(), len(model.subs))
		}
	}
	// Removing everything must leave the root bare: no node leaks.
	for c := range 6 {
		ix.RemoveClient(fmt.Sprintf("c%d", c))
	}
	if root := &ix.mu.root; !root.empty() || ix.Metrics() != (Metrics{}) {
		t.Fatalf("seed %d: index not empty after removing every client: %+v, %+v", seed, root, ix.Metrics())
	}
}
