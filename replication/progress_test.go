package replication

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/replication/site"
)

// TestLeaderReportsReplicaLag: the leader's Status shows how far each other replica has the
// log. A follower cut off from the leader falls behind by what is written meanwhile and
// catches up once healed; the leader counts its proposals and each acknowledged batch's
// commit latency.
func TestLeaderReportsReplicaLag(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	p, _ := topics(0, 0, 5)
	c.write(0, p...)
	l := c.leader(0)
	leader := c.sites[l].node
	cut := c.sites[(l+1)%3].id
	progressOf := func(id site.ID) (ReplicaProgress, bool) {
		st, err := leader.Status(0)
		require.NoError(t, err)
		for _, pr := range st.Progress {
			if pr.Site == id {
				return pr, true
			}
		}
		return ReplicaProgress{}, false
	}
	require.Eventually(t, func() bool {
		pr, ok := progressOf(cut)
		return ok && pr.Lag == 0 && pr.State == "replicate"
	}, waitFor, 5*time.Millisecond, "a healthy follower has the whole log")

	isolate := func(from, to site.ID, _ uint32) bool { return from != cut && to != cut }
	for _, s := range c.sites {
		s.node.Transport().SetFilter(isolate)
	}
	before := leader.Metrics().CommitLatency.Count
	p, _ = topics(0, 5, 25)
	for _, payload := range p {
		c.write(0, payload) // 20 batches, each its own entry
	}
	require.Equal(t, l, c.leader(0), "the leader kept its quorum")
	var lag ReplicaProgress
	require.Eventually(t, func() bool {
		var ok bool
		lag, ok = progressOf(cut)
		return ok && lag.Lag >= 20
	}, waitFor, 5*time.Millisecond, "a cut-off follower falls behind by every entry written meanwhile")
	st, err := leader.Status(0)
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.Proposed, uint64(21))
	latency := leader.Metrics().CommitLatency
	require.GreaterOrEqual(t, latency.Count-before, uint64(20), "every acknowledged batch has its commit latency")
	require.Positive(t, latency.Sum)

	for _, s := range c.sites {
		s.node.Transport().SetFilter(nil)
	}
	require.Eventually(t, func() bool {
		pr, ok := progressOf(cut)
		return ok && pr.Lag == 0 && pr.Match > lag.Match
	}, waitFor, 5*time.Millisecond, "a healed follower catches up")

	for i, s := range c.sites {
		if i == l {
			continue
		}
		st, err := s.node.Status(0)
		require.NoError(t, err)
		require.Empty(t, st.Progress, "only the leader reports progress")
	}
}
