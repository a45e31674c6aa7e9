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
	keys := 3 * smallKids
	for i := range randomOps(t, 40000) {
		if i%5000 == 0 {
			keys = []int{3 * smallKids, 200, smallKids + 1, 1000}[i/5000%4] // grow, shrink, grow again
		}
		level := fmt.Sprint(r.IntN(keys))
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
		probe := fmt.Sprint(r.IntN(keys))
		for _, l := range []string{level, probe} {
			if c.get(l) != model[l] {
				t.Fatalf("seed %d op %d: get(%q) disagrees", seed, i, l)
			}
		}
		if i%64 != 0 {
			continue
		}
		for l, n := range model {
			if c.get(l) != n {
				t.Fatalf("seed %d op %d: get(%q) lost a child", seed, i, l)
			}
		}
		got := map[string]*int{}
		c.each(func(l string, n *int) { got[l] = n })
		if !maps.Equal(got, model) {
			t.Fatalf("seed %d op %d: each = %v, want %v", seed, i, got, model)
		}
	}
}
