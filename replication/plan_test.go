package replication

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/replication/site"
)

// TestPlanTargets: the targets of a join, a leave, a change of sites and of the replication
// factor; every plan is also checked by CheckPlan (valid and balanced).
func TestPlanTargets(t *testing.T) {
	a, b, c, d, e := site.ID(0xa), site.ID(0xb), site.ID(0xc), site.ID(0xd), site.ID(0xe)
	ids := func(s ...site.ID) []site.ID { return s }
	placed := func(sites []site.ID, shards, rf int) [][]site.ID {
		p, err := NewPlacement(sites, rf)
		require.NoError(t, err)
		var out [][]site.ID
		for s := range shards {
			r := p.Replicas(s)
			slices.Sort(r)
			out = append(out, r)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		current [][]site.ID
		sites   []site.ID
		rf      int
		want    [][]site.ID // nil: only the properties are checked
		moves   int         // replicas added by the plan
	}{
		{name: "balanced stays", current: placed(ids(a, b, c), 3, 3), sites: ids(a, b, c), rf: 3,
			want: placed(ids(a, b, c), 3, 3)},
		{name: "join a fourth site", current: placed(ids(a, b, c), 4, 3), sites: ids(a, b, c, d), rf: 3, moves: 3},
		{name: "join, many shards", current: placed(ids(a, b, c), 12, 3), sites: ids(a, b, c, d), rf: 3, moves: 9},
		{name: "leave", current: placed(ids(a, b, c, d), 4, 3), sites: ids(a, b, c), rf: 3, moves: 3,
			want: [][]site.ID{{a, b, c}, {a, b, c}, {a, b, c}, {a, b, c}}},
		{name: "replace a site", current: [][]site.ID{{a, b, c}, {a, b, c}}, sites: ids(a, b, d), rf: 3, moves: 2,
			want: [][]site.ID{{a, b, d}, {a, b, d}}},
		{name: "move everything", current: [][]site.ID{{a, b, c}}, sites: ids(d, e), rf: 3, moves: 2,
			want: [][]site.ID{{d, e}}},
		{name: "lower the factor", current: placed(ids(a, b, c), 3, 3), sites: ids(a, b, c), rf: 1},
		{name: "raise the factor", current: placed(ids(a, b, c), 3, 1), sites: ids(a, b, c), rf: 3, moves: 6,
			want: [][]site.ID{{a, b, c}, {a, b, c}, {a, b, c}}},
		{name: "empty current", current: [][]site.ID{{}, {}, {}}, sites: ids(a, b, c), rf: 2, moves: 6},
		{name: "one site", current: [][]site.ID{{a, b, c}, {b, c}}, sites: ids(c), rf: 3, moves: 0,
			want: [][]site.ID{{c}, {c}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlanTargets(tc.current, tc.sites, tc.rf)
			require.NoError(t, err)
			require.NoError(t, CheckPlan(tc.current, tc.sites, tc.rf, got))
			if tc.want != nil {
				require.Equal(t, tc.want, got)
			}
			if tc.moves > 0 || tc.want != nil {
				require.Equal(t, tc.moves, added(tc.current, got), "replicas added: %v → %v", tc.current, got)
			}
		})
	}
	_, err := PlanTargets([][]site.ID{{a}}, nil, 3)
	require.Error(t, err)
	_, err = PlanTargets([][]site.ID{{a}}, ids(a, a), 3)
	require.Error(t, err)
}

// added counts the replicas in the targets that were not in current.
func added(current, targets [][]site.ID) int {
	n := 0
	for s, tgt := range targets {
		for _, id := range tgt {
			if !slices.Contains(current[s], id) {
				n++
			}
		}
	}
	return n
}

// TestPlanLeaders: shards keep their leaders within each site's share; the others go to the
// sites of their target that lead the fewest.
func TestPlanLeaders(t *testing.T) {
	a, b, c, d := site.ID(0xa), site.ID(0xb), site.ID(0xc), site.ID(0xd)
	all := []site.ID{a, b, c, d}
	for _, tc := range []struct {
		name             string
		targets          [][]site.ID
		current, want    []site.ID
		balancedAtMostBy int
	}{
		{"kept", [][]site.ID{{a, b, c}, {a, b, c}, {a, b, c}}, []site.ID{a, b, c}, []site.ID{a, b, c}, 0},
		{"a joining site takes one", [][]site.ID{all, all, all, all}, []site.ID{a, b, c, a}, []site.ID{a, b, c, d}, 0},
		{"a leaving leader is replaced", [][]site.ID{{b, c}, {b, c}}, []site.ID{a, b}, []site.ID{c, b}, 0},
		{"unknown leaders", [][]site.ID{all, all, all, all, all}, nil, nil, 1},
		// The greedy pass keeps a and b and gives shard 2 to a or c; d leads nothing until
		// the leaderships shift along a path: shard 2 to c, shard 1 to d... as the targets allow.
		{"through a path", [][]site.ID{{a, b, d}, {b, c, d}, {a, b, c}, {a, b, c}}, []site.ID{a, b, a, b}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanLeaders(tc.targets, tc.current)
			if tc.want != nil {
				require.Equal(t, tc.want, got)
			}
			leads := map[site.ID]int{}
			for s, l := range got {
				require.Contains(t, tc.targets[s], l)
				leads[l]++
			}
			lo, hi := len(got), 0
			for _, id := range all {
				lo, hi = min(lo, leads[id]), max(hi, leads[id])
			}
			require.LessOrEqual(t, hi-lo, max(tc.balancedAtMostBy, 1), "leaders %v", got)
			if tc.want == nil && tc.balancedAtMostBy == 0 {
				require.Equal(t, 1, hi, "every site leads one shard: %v", got)
			}
		})
	}
}
