package replication

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/site"
)

// starving drops the entries sent to site id (MsgApp) and nothing else: the site still hears
// the leader's heartbeats and answers them, so it stays a follower in touch with its leader
// while it falls behind.
func starving(id site.ID) func(site.ID, uint32, *pb.Message) bool {
	return func(to site.ID, _ uint32, m *pb.Message) bool {
		return to != id || m.GetType() != pb.MessageType_MsgApp
	}
}

// TestBarrierSeesWhatALaggingFollowerMissed: a follower that gets no entries misses a write
// the leader acknowledged; a read barrier on it gets the leader's read index, waits until the
// follower applied it, and a read right after the barrier sees the write. The barrier also
// holds on the leader and on the follower in step.
func TestBarrierSeesWhatALaggingFollowerMissed(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	p, acked := topics(0, 0, 5)
	c.write(0, p...)
	c.converged(acked)
	l := c.leader(0)
	f := c.sites[(l+1)%3]
	for _, s := range c.sites {
		s.node.Transport().SetMessageFilter(starving(f.id))
	}
	c.write(0, "late")
	const late = "t/0/late"
	require.NotContains(t, payloads(t, f.db), late, "the starved follower has not applied the write")

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		errc <- f.node.Barrier(ctx, 0)
	}()
	// The leader answered: the barrier waits for an index the follower has not applied.
	g := f.node.groups[0].Load()
	deadline := time.Now().Add(waitFor)
	for g.reads.waitingApply.Load() == 0 {
		require.True(t, time.Now().Before(deadline), "the barrier never got its read index")
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("the barrier returned (%v) before the follower applied the write", err)
	default:
	}
	require.NotContains(t, payloads(t, f.db), late)

	for _, s := range c.sites {
		s.node.Transport().SetMessageFilter(nil)
	}
	require.NoError(t, <-errc)
	require.Contains(t, payloads(t, f.db), late, "a read after the barrier sees the acknowledged write")

	// On the leader and on the other follower too, and for a write made through the follower.
	require.NoError(t, f.db.Store(context.Background(), []ds.Message{{ClientID: clientFor(0, 1), Topic: "t/0/via", Payload: []byte("x"), QoS: 1}}, ds.Sync))
	for _, s := range c.sites {
		require.NoError(t, s.db.Barrier(context.Background(), 0))
		got := payloads(t, s.db)
		require.Contains(t, got, late)
		require.Contains(t, got, "t/0/via")
	}
}

// TestBarrierCutOffFailsInTime: a site cut off from the others cannot learn what the shard
// committed, so its barrier fails when its context ends, while the majority's barriers
// succeed; once the partition heals, the site's barrier (asked again) succeeds.
func TestBarrierCutOffFailsInTime(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	c.write(0, "a")
	cut := c.sites[(c.leader(0)+1)%3]
	for _, s := range c.sites {
		s.node.Transport().SetFilter(isolating(cut.id))
	}
	c.write(0, "b")
	const timeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	start := time.Now()
	err := cut.db.Barrier(ctx, 0)
	took := time.Since(start)
	cancel()
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Less(t, took, timeout+time.Second, "the barrier returns at its deadline")
	for _, s := range c.sites {
		if s != cut {
			require.NoError(t, s.db.Barrier(context.Background(), 0))
		}
	}

	// A barrier asked while cut off gets its answer once the site is back.
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		errc <- cut.node.Barrier(ctx, 0)
	}()
	for _, s := range c.sites {
		s.node.Transport().SetFilter(nil)
	}
	require.NoError(t, <-errc)
	require.Contains(t, payloads(t, cut.db), "t/0/b")
	require.ErrorIs(t, cut.node.Barrier(context.Background(), 7), ds.ErrInvalidShard)
	require.ErrorIs(t, cut.db.Barrier(context.Background(), 7), ds.ErrInvalidShard)
}

// TestBarrierNoReplica: a site without a replica of the shard refuses a barrier; a stopped
// node fails the barriers in flight and later ones.
func TestBarrierNoReplica(t *testing.T) {
	c := (&testCluster{t: t, shards: 2, mod: func(cfg *Config) { cfg.ReplicationFactor = 1 }}).run(2)
	for shard := range 2 {
		holder := slices.IndexFunc(c.sites, func(s *testSite) bool { _, err := s.node.Status(shard); return err == nil })
		require.GreaterOrEqual(t, holder, 0)
		require.NoError(t, c.sites[holder].node.Barrier(context.Background(), shard))
		require.ErrorIs(t, c.sites[1-holder].node.Barrier(context.Background(), shard), ErrNotReplica)
	}
	n := c.sites[0].node
	shard := slices.IndexFunc([]int{0, 1}, func(s int) bool { _, err := n.Status(s); return err == nil })
	c.stop(0)
	require.Error(t, n.Barrier(context.Background(), shard))
}

// BenchmarkBarrier: the cost of a read barrier on the leader and on a follower of a
// three-site cluster on loopback, next to a plain local read of one KV key.
func BenchmarkBarrier(b *testing.B) {
	c := newTestCluster(b, 3, 1)
	c.write(0, "a")
	l := c.leader(0)
	table, err := c.sites[l].db.Table("sessions")
	require.NoError(b, err)
	batch := c.sites[l].db.NewBatch(0)
	batch.Put(table, []byte("k"), []byte("v"))
	require.NoError(b, c.sites[l].db.Apply(context.Background(), batch, ds.Sync))
	f := c.sites[(l+1)%3]
	ftable, err := f.db.Table("sessions")
	require.NoError(b, err)
	require.NoError(b, f.db.Barrier(context.Background(), 0))
	ctx := context.Background()
	b.Run("local-read", func(b *testing.B) {
		for b.Loop() {
			if _, err := ftable.Get(0, []byte("k")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("leader", func(b *testing.B) {
		for b.Loop() {
			if err := c.sites[l].db.Barrier(ctx, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("follower", func(b *testing.B) {
		for b.Loop() {
			if err := f.db.Barrier(ctx, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("follower+read", func(b *testing.B) {
		for b.Loop() {
			if err := f.db.Barrier(ctx, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := ftable.Get(0, []byte("k")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBarrierParallel: many barriers at once on a follower (CONNECTs of a busy broker).
func BenchmarkBarrierParallel(b *testing.B) {
	c := newTestCluster(b, 3, 1)
	c.write(0, "a")
	f := c.sites[(c.leader(0)+1)%3]
	ctx := context.Background()
	sent := func() (n uint64) {
		for _, s := range c.sites {
			n += s.node.Transport().Stats().Sent
		}
		return n
	}
	before := sent()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f.db.Barrier(ctx, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(sent()-before)/float64(b.N), "msgs/op")
}
