package replication

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSnapshotCatchesUpReplicas: a voter that falls more than SnapshotLag entries behind no
// longer holds the log back; when it returns, the leader has compacted what it lacks and it
// catches up from a snapshot instead, which replaces its old state. Afterwards it follows the
// log again, survives a restart, and every replica reads the same messages and passes
// ds.Check. Two rounds, so that a replica installs a snapshot over an installed one.
//
// A site that lost its data is not caught up this way: raft forbids a voter to forget what it
// acknowledged (the leader's progress for it would be ahead of its log); such a site rejoins
// under a new site id.
func TestSnapshotCatchesUpReplicas(t *testing.T) {
	c := newTestCluster(t, 3, 1, func(cfg *Config) { cfg.CompactEntries = 10; cfg.SnapshotLag = 20 })
	var acked []string
	next := 0
	write := func(n int) {
		for range n {
			p, tp := topics(0, next, next+1)
			next++
			c.write(0, p...)
			acked = append(acked, tp...)
		}
		slices.Sort(acked)
	}
	compactedPast := func(index uint64) bool {
		for _, s := range c.sites {
			if s.node == nil {
				continue
			}
			st, err := s.node.Status(0)
			require.NoError(t, err)
			if st.FirstIndex <= index+1 {
				return false
			}
		}
		return true
	}
	received := func(i int) uint64 { return c.sites[i].node.Metrics().SnapshotsReceived }

	for round := range 2 {
		write(20)
		c.converged(acked)
		down := (c.leader(0) + 1) % 3
		c.stop(down)
		held := lastLogIndex(t, c.sites[down].dir, 0)
		// Write until the leader's log no longer holds what the stopped voter needs.
		deadline := time.Now().Add(waitFor)
		for !compactedPast(held) {
			require.True(t, time.Now().Before(deadline), "the leader never compacted past the stopped voter at %d", held)
			write(5)
		}
		c.start(down)
		c.converged(acked)
		require.NotZero(t, received(down), "round %d: the returning voter caught up without a snapshot", round)

		// It follows the log after the snapshot, and its installed state survives a restart.
		write(10)
		c.converged(acked)
		c.stop(down)
		c.start(down)
		write(5)
		c.converged(acked)
	}
	var sent uint64
	for _, s := range c.sites {
		sent += s.node.Metrics().SnapshotsSent
		require.NoError(t, s.db.Check(), "site %v", s.id)
	}
	require.NotZero(t, sent)
}
