package replication

import (
	"fmt"
	"slices"

	"github.com/mqttds/mqttds/replication/site"
)

// Placement decides which sites hold a replica of each shard. It is a pure function of the
// site list and the replication factor, so every site computes the same answer without
// asking: the sites sorted by id, shard s on the replicationFactor sites that follow
// position s mod n. Consecutive shards start on consecutive sites, so leaders and replicas
// spread evenly.
type Placement struct {
	sites  []site.ID
	factor int
}

// NewPlacement returns the placement of shards over sites with the given replication factor.
func NewPlacement(sites []site.ID, replicationFactor int) (*Placement, error) {
	sorted := slices.Clone(sites)
	slices.Sort(sorted)
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return nil, fmt.Errorf("replication: duplicate site in %v", sites)
	}
	if replicationFactor < 1 || replicationFactor > len(sorted) {
		return nil, fmt.Errorf("replication: replication factor %d with %d sites", replicationFactor, len(sorted))
	}
	return &Placement{sites: sorted, factor: replicationFactor}, nil
}

// Replicas returns the sites of shard's replicas, in placement order.
func (p *Placement) Replicas(shard int) []site.ID {
	out := make([]site.ID, p.factor)
	for i := range out {
		out[i] = p.sites[(shard+i)%len(p.sites)]
	}
	return out
}

// Holds reports whether id holds a replica of shard.
func (p *Placement) Holds(id site.ID, shard int) bool {
	return slices.Contains(p.Replicas(shard), id)
}

// Sites returns every site, sorted.
func (p *Placement) Sites() []site.ID { return slices.Clone(p.sites) }
