package subscriptions

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Watch reports exactly the changes of the set of filters with a subscriber (a shared one while
// its group has a member), under
// random subscribes, unsubscribes (shared and not, overlapping clients) and session ends.
func TestWatchFollowsTheFilterSet(t *testing.T) {
	filters := []string{"a", "a/b", "a/+", "a/#", "#", "+/b", "$SYS/x", "$share/g/a", "$share/h/a/#", "$queue/a/b", "/"}
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			ix := New()
			seen := map[string]bool{}
			ix.Watch(func(filter string, present bool) {
				require.NotEqual(t, seen[filter], present, "a repeated change for %q", filter)
				if present {
					seen[filter] = true
				} else {
					delete(seen, filter)
				}
			})
			model := map[string]map[string]bool{} // client → filters
			for range 400 {
				client := fmt.Sprintf("c%d", rng.IntN(6))
				f := filters[rng.IntN(len(filters))]
				switch rng.IntN(5) {
				case 0, 1, 2:
					_, err := ix.Add(client, f, Options{QoS: 1})
					require.NoError(t, err)
					if model[client] == nil {
						model[client] = map[string]bool{}
					}
					model[client][f] = true
				case 3:
					ix.Remove(client, f)
					delete(model[client], f)
				case 4:
					ix.RemoveClient(client)
					delete(model, client)
				}
				want := map[string]bool{}
				for _, fs := range model {
					for f := range fs {
						if f == "$queue/a/b" {
							f = "$share/$queue/a/b" // the canonical form
						}
						want[f] = true
					}
				}
				require.Equal(t, slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(seen)))
			}
		})
	}
}

// A shared Subscriber names its filter in the canonical form Watch uses.
func TestSubscriberFilter(t *testing.T) {
	ix := New()
	for _, f := range []string{"$share/g/a/+", "$queue/a/#", "a/b"} {
		_, err := ix.Add("c", f, Options{})
		require.NoError(t, err)
	}
	var got []string
	for _, s := range ix.Match("a/b", "", nil) {
		got = append(got, s.Filter())
	}
	slices.Sort(got)
	require.Equal(t, []string{"", "$share/$queue/a/#", "$share/g/a/+"}, got)
}
