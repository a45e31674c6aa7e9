package durable

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt/topic"
)

func TestRouteIndex(t *testing.T) {
	for _, tc := range []struct {
		filters []string
		name    string
		want    bool
	}{
		{nil, "a", false},
		{[]string{"a/b"}, "a/b", true},
		{[]string{"a/b"}, "a/c", false},
		{[]string{"a/+"}, "a/c", true},
		{[]string{"a/+"}, "a", false},
		{[]string{"a/+"}, "a/", true},
		{[]string{"a/#"}, "a", true},
		{[]string{"a/#"}, "a/b/c", true},
		{[]string{"#"}, "x/y", true},
		{[]string{"#"}, "$SYS/x", false},                // [MQTT-4.7.2-1]
		{[]string{"+/x"}, "$SYS/x", false},              // [MQTT-4.7.2-1]
		{[]string{"$SYS/#"}, "$SYS/x", true},            // a literal '$' level matches
		{[]string{"+/+/c", "a/b/d"}, "a/b/c", true},     // the second branch
		{[]string{"a/+/c", "a/b/+/#"}, "a/b/c/d", true}, // '#' after '+'
		{[]string{"a/+/c", "a/b/+/#"}, "a/x/d", false},  // neither
		{[]string{"sport/tennis/+"}, "sport/tennis", false},
	} {
		var r RouteIndex
		for _, f := range tc.filters {
			r.Add(f)
		}
		require.Equal(t, tc.want, r.Match(tc.name), "%v ~ %q", tc.filters, tc.name)
	}
}

func TestRouteIndexCountsAndPrunes(t *testing.T) {
	var r RouteIndex
	r.Add("a/+")
	r.Add("a/+")
	require.Equal(t, 1, r.Len())
	require.True(t, r.Remove("a/+"))
	require.True(t, r.Match("a/b"), "one holder left")
	require.True(t, r.Remove("a/+"))
	require.False(t, r.Match("a/b"))
	require.False(t, r.Remove("a/+"))
	require.False(t, r.Remove("a"))
	require.Equal(t, 0, r.Len())
	require.Empty(t, r.root.children, "empty nodes are pruned")
}

// TestRouteIndexRandom checks Match against topic.Match over every filter, with random adds
// and removes.
func TestRouteIndexRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "$c", ""}
	gen := func(wild bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
			if wild && rng.IntN(3) == 0 {
				parts[i] = "+"
			}
		}
		if wild && rng.IntN(4) == 0 {
			parts[n-1] = "#"
		}
		return strings.Join(parts, "/")
	}
	var r RouteIndex
	held := map[string]int{}
	for range 3000 {
		f := gen(true)
		if rng.IntN(3) == 0 && held[f] > 0 {
			require.True(t, r.Remove(f))
			held[f]--
		} else {
			r.Add(f)
			held[f]++
		}
		name := gen(false)
		want := false
		for hf, n := range held {
			if n > 0 && topic.Match(hf, name) {
				want = true
				break
			}
		}
		require.Equal(t, want, r.Match(name), "name %q", name)
	}
}
