package subscriptions

import (
	"fmt"
	"maps"
	"testing"
)

// TestChildren drives the small-slice/map set through its switch-over in both directions against a
// plain map.
func TestChildren(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	var c children[int]
	model := map[string]*int{}
	for i := range randomOps(t, 20000) {
		level := fmt.Sprint(r.IntN(3 * smallKids))
		if r.IntN(2) == 0 {
			if model[level] == nil {
				v := i
				c.put(level, &v)
				model[level] = &v
			}
		} else {
			c.del(level)
			delete(model, level)
		}
		if c.len() != len(model) {
			t.Fatalf("seed %d op %d: len %d, want %d", seed, i, c.len(), len(model))
		}
		if c.big != nil && c.small != nil {
			t.Fatalf("seed %d op %d: both representations in use", seed, i)
		}
		probe := fmt.Sprint(r.IntN(3 * smallKids))
		if c.get(probe) != model[probe] {
			t.Fatalf("seed %d op %d: get(%q) disagrees", seed, i, probe)
		}
		got := map[string]*int{}
		c.each(func(l string, n *int) { got[l] = n })
		if !maps.Equal(got, model) {
			t.Fatalf("seed %d op %d: each = %v, want %v", seed, i, got, model)
		}
	}
}
