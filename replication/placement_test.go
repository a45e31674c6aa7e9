package replication

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/replication/site"
)

func TestPlacementSpreadsEvenly(t *testing.T) {
	sites := []site.ID{50, 10, 40, 20, 30}
	p, err := NewPlacement(sites, 3)
	require.NoError(t, err)
	count := map[site.ID]int{}
	first := map[site.ID]int{}
	const shards = 20
	for s := range shards {
		r := p.Replicas(s)
		require.Len(t, r, 3)
		seen := map[site.ID]bool{}
		for _, id := range r {
			require.False(t, seen[id], "shard %d: a site holds two replicas", s)
			seen[id] = true
			count[id]++
		}
		first[r[0]]++
	}
	for _, id := range sites {
		require.Equal(t, shards*3/len(sites), count[id], "replicas on %v", id)
		require.Equal(t, shards/len(sites), first[id], "first replicas on %v", id)
	}
	again, err := NewPlacement([]site.ID{30, 20, 10, 50, 40}, 3)
	require.NoError(t, err)
	for s := range shards {
		require.Equal(t, p.Replicas(s), again.Replicas(s), "the order sites are listed in does not matter")
	}
}

func TestPlacementRejects(t *testing.T) {
	for _, tc := range []struct {
		sites  []site.ID
		factor int
	}{
		{[]site.ID{1, 2}, 3},
		{[]site.ID{1, 2}, 0},
		{[]site.ID{1, 1, 2}, 2},
	} {
		_, err := NewPlacement(tc.sites, tc.factor)
		require.Error(t, err, "%v factor %d", tc.sites, tc.factor)
	}
}
