package replication

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/mqttds/mqttds/replication/site"
)

// PlanTargets computes the replica set every shard should have once a storage lives on sites:
// current[s] is shard s's replica set now (its target if a change is under way), sites the
// sites the storage should be on, rf the replication factor (min(rf, len(sites)) replicas per
// shard). It is a pure function, so that a plan can be shown before it is carried out and
// tested on its own.
//
// The targets are balanced: every site holds ⌊shards·r / sites⌋ or one more replicas. Within
// that, the plan is greedy and keeps what it can: a replica on a site that stays is kept unless
// its site holds more than its share, the sites that keep the larger share are those that hold
// the most now, and the places left are filled with the most constrained sites first. When the
// last shards find no site below its share that they lack, a replica moves between shards
// (swapInto): rare, and a minimum-cost assignment would avoid some of those moves. Each target
// is sorted.
func PlanTargets(current [][]site.ID, sites []site.ID, rf int) ([][]site.ID, error) {
	all := slices.Clone(sites)
	slices.Sort(all)
	if len(all) == 0 {
		return nil, errors.New("replication: a storage needs at least one site")
	}
	if len(slices.Compact(slices.Clone(all))) != len(all) {
		return nil, fmt.Errorf("replication: duplicate site in %v", sites)
	}
	if rf < 1 {
		return nil, fmt.Errorf("replication: replication factor %d", rf)
	}
	r := min(rf, len(all), maxReplicas)
	p := newPlanner(current, all)
	p.capacities(r)
	p.trim(r)
	p.shed()
	p.fill(r)
	out := make([][]site.ID, len(p.shards))
	for s, members := range p.shards {
		out[s] = slices.Sorted(func(yield func(site.ID) bool) {
			for id := range members {
				if !yield(id) {
					return
				}
			}
		})
	}
	return out, nil
}

// PlanLeaders chooses the site that should lead each shard once it has its target: each shard
// keeps its current leader while that site is in the target and leads no more than its share
// (⌈shards / sites⌉); the others go to the site of their target that leads the fewest so far.
// When every target holds every site, every site leads ⌊shards / sites⌋ or one more shards.
func PlanLeaders(targets [][]site.ID, current []site.ID) []site.ID {
	sites := map[site.ID]bool{}
	for _, t := range targets {
		for _, id := range t {
			sites[id] = true
		}
	}
	out := make([]site.ID, len(targets))
	if len(sites) == 0 {
		return out
	}
	floor := len(targets) / len(sites)
	extra := len(targets) % len(sites)
	leads := map[site.ID]int{}
	// A site may lead floor+1 shards only while fewer than extra sites do.
	full := func(id site.ID) bool {
		over := 0
		for _, n := range leads {
			if n > floor {
				over++
			}
		}
		return leads[id] > floor || leads[id] == floor && over >= extra
	}
	for s, t := range targets {
		if s < len(current) && slices.Contains(t, current[s]) && !full(current[s]) {
			out[s] = current[s]
			leads[current[s]]++
		}
	}
	for s, t := range targets {
		if out[s] != 0 || len(t) == 0 {
			continue
		}
		best := site.ID(0)
		for i := range t {
			id := t[(s+i)%len(t)]
			if best == 0 || leads[id] < leads[best] {
				best = id
			}
		}
		out[s] = best
		leads[best]++
	}
	balanceLeaders(targets, out, leads)
	return out
}

// balanceLeaders evens out the leaders chosen greedily: while a site leads at least two shards
// more than another site it can reach — through shards whose targets hold the next site, each
// handing its leadership one step along — the leaderships along that path move, one shard
// each, so the first site leads one less and the last one more. Each move lowers the sum of
// the squares of the counts, so it ends.
func balanceLeaders(targets [][]site.ID, out []site.ID, leads map[site.ID]int) {
	sites := slices.Sorted(maps.Keys(leads))
	for _, t := range targets {
		for _, id := range t {
			if _, ok := leads[id]; !ok {
				leads[id] = 0
				sites = append(sites, id)
			}
		}
	}
	slices.Sort(sites)
	type step struct {
		from  site.ID
		shard int
	}
	for moved := true; moved; {
		moved = false
		for _, start := range sites {
			prev := map[site.ID]step{start: {}}
			queue := []site.ID{start}
			for len(queue) > 0 && !moved {
				a := queue[0]
				queue = queue[1:]
				for s, t := range targets {
					if out[s] != a {
						continue
					}
					for _, b := range t {
						if _, seen := prev[b]; seen {
							continue
						}
						prev[b] = step{a, s}
						if leads[b] <= leads[start]-2 {
							for at := b; at != start; at = prev[at].from {
								out[prev[at].shard] = at
							}
							leads[start]--
							leads[b]++
							moved = true
							break
						}
						queue = append(queue, b)
					}
					if moved {
						break
					}
				}
			}
		}
	}
}

// planner is PlanTargets's working state.
type planner struct {
	sites  []site.ID // sorted
	shards []map[site.ID]bool
	added  []map[site.ID]bool // replicas the plan put in a shard
	count  map[site.ID]int
	cap    map[site.ID]int
}

func newPlanner(current [][]site.ID, sites []site.ID) *planner {
	p := &planner{sites: sites, shards: make([]map[site.ID]bool, len(current)), added: make([]map[site.ID]bool, len(current)),
		count: map[site.ID]int{}, cap: map[site.ID]int{}}
	for s, members := range current {
		p.shards[s], p.added[s] = map[site.ID]bool{}, map[site.ID]bool{}
		for _, id := range members {
			if _, ok := slices.BinarySearch(sites, id); ok && !p.shards[s][id] {
				p.shards[s][id] = true
				p.count[id]++
			}
		}
	}
	return p
}

// capacities shares the shards·r replicas out: every site gets the floor, and the remainder
// goes to the sites that hold the most replicas now (ties: lower id).
func (p *planner) capacities(r int) {
	total := len(p.shards) * r
	base, extra := total/len(p.sites), total%len(p.sites)
	order := slices.Clone(p.sites)
	slices.SortStableFunc(order, func(a, b site.ID) int { return p.count[b] - p.count[a] })
	for i, id := range order {
		p.cap[id] = base
		if i < extra {
			p.cap[id]++
		}
	}
}

// over is how far a site is above its share.
func (p *planner) over(id site.ID) int { return p.count[id] - p.cap[id] }

// remove takes id out of shard s.
func (p *planner) remove(s int, id site.ID) {
	delete(p.shards[s], id)
	delete(p.added[s], id)
	p.count[id]--
}

func (p *planner) add(s int, id site.ID) {
	p.shards[s][id] = true
	p.added[s][id] = true
	p.count[id]++
}

// trim removes replicas from shards that have more than r, the most overloaded sites first.
func (p *planner) trim(r int) {
	for s, members := range p.shards {
		for len(members) > r {
			var worst site.ID
			for _, id := range p.sites {
				if members[id] && (worst == 0 || p.over(id) > p.over(worst)) {
					worst = id
				}
			}
			p.remove(s, worst)
		}
	}
}

// shed removes replicas of sites above their share, from the last shards first.
func (p *planner) shed() {
	for _, id := range p.sites {
		for s := len(p.shards) - 1; s >= 0 && p.over(id) > 0; s-- {
			if p.shards[s][id] {
				p.remove(s, id)
			}
		}
	}
}

// fill gives every shard r replicas from the sites below their share (pick), ties broken in an
// order that starts at a different site for each shard, so that consecutive shards spread. When every site below its share already holds the shard, a replica of another
// shard is moved into this one and the site below its share takes its place there.
func (p *planner) fill(r int) {
	for s := range p.shards {
		for len(p.shards[s]) < r {
			if id, ok := p.pick(s); ok {
				p.add(s, id)
				continue
			}
			p.swapInto(s, r)
		}
	}
}

// pick chooses a site below its share that does not hold shard s: the one furthest below it
// (it has the most shards left to take), then the one holding the most (it is excluded from
// more shards): the most constrained first, so that the last shards still find sites.
func (p *planner) pick(s int) (site.ID, bool) {
	var best site.ID
	for i := range p.sites {
		id := p.sites[(s+i)%len(p.sites)]
		if p.shards[s][id] || p.over(id) >= 0 {
			continue
		}
		if best == 0 || p.over(id) < p.over(best) || p.over(id) == p.over(best) && p.count[id] > p.count[best] {
			best = id
		}
	}
	return best, best != 0
}

// swapInto fills one place of shard s when every site below its share holds s already. Such a
// site y is missing from some shard t (its share is at most the number of shards); t either has
// a free place, which y takes, or, being full, holds a site x that s lacks (s has fewer than r
// replicas): x moves from t to s and y takes x's place in t. Either way one more place is
// filled. Shards before s are full, so the loop in fill ends.
func (p *planner) swapInto(s, r int) {
	var y site.ID
	for _, id := range p.sites {
		if p.over(id) < 0 {
			y = id
			break
		}
	}
	if y == 0 {
		panic("replication: plan: a shard lacks replicas but every site has its share")
	}
	for t := range p.shards {
		if t == s || p.shards[t][y] {
			continue
		}
		if len(p.shards[t]) < r {
			p.add(t, y)
			return
		}
	}
	// Every shard that lacks y is full: move a replica of one of them into s, one that the plan
	// added there if it can (a replica the shard has now stays where it is).
	var from int
	var x site.ID
	for t := range p.shards {
		if t == s || p.shards[t][y] {
			continue
		}
		for _, id := range p.sites {
			if p.shards[t][id] && !p.shards[s][id] && (x == 0 || p.added[t][id] && !p.added[from][x]) {
				from, x = t, id
			}
		}
	}
	if x == 0 {
		panic("replication: plan: no shard to exchange a replica with")
	}
	p.remove(from, x)
	p.add(s, x)
	p.add(from, y)
}

// CheckPlan checks targets computed by PlanTargets (tests and the fuzz target use it): every
// shard on min(rf, sites) distinct sites of the storage, sorted; every site within one replica
// of every other; and nothing moved if current already was such a plan.
func CheckPlan(current [][]site.ID, sites []site.ID, rf int, targets [][]site.ID) error {
	all := slices.Sorted(slices.Values(sites))
	if len(targets) != len(current) {
		return fmt.Errorf("%d targets for %d shards", len(targets), len(current))
	}
	if err := checkBalanced(targets, all, rf); err != nil {
		return err
	}
	if checkBalanced(current, all, rf) == nil {
		for s := range current {
			if !slices.Equal(current[s], targets[s]) {
				return fmt.Errorf("shard %d moved from %v to %v, though the replica sets were balanced", s, current[s], targets[s])
			}
		}
	}
	return nil
}

// checkBalanced checks that every shard is on min(rf, sites) distinct sites of all (sorted),
// sorted, and that no site holds two replicas more than another.
func checkBalanced(sets [][]site.ID, all []site.ID, rf int) error {
	r := min(rf, len(all))
	count := map[site.ID]int{}
	for s, set := range sets {
		if len(set) != r {
			return fmt.Errorf("shard %d: %d replicas, want %d", s, len(set), r)
		}
		for i, id := range set {
			if _, ok := slices.BinarySearch(all, id); !ok {
				return fmt.Errorf("shard %d: site %v is not a storage site", s, id)
			}
			if i > 0 && id <= set[i-1] {
				return fmt.Errorf("shard %d: %v not sorted and distinct", s, set)
			}
			count[id]++
		}
	}
	lo, hi := len(sets)*r, 0
	for _, id := range all {
		lo, hi = min(lo, count[id]), max(hi, count[id])
	}
	if hi-lo > 1 {
		return fmt.Errorf("unbalanced: sites hold between %d and %d replicas (%v)", lo, hi, count)
	}
	return nil
}
