package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// readShard reads the topics of shard's messages through db, or the read's error.
func readShard(db *ds.DB, shard int) ([]string, error) {
	streams, err := db.GetStreams("#", 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rs := range streams {
		if rs.Rank.Shard != shard {
			continue
		}
		it, err := db.MakeIterator(rs.Stream, "#", 0)
		if err != nil {
			return nil, err
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			msgs, next, err := db.Next(ctx, it, 100)
			cancel()
			if errors.Is(err, ds.ErrEndOfStream) || err == nil && len(msgs) == 0 {
				break
			}
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				out = append(out, m.Topic)
			}
			it = next
		}
	}
	slices.Sort(out)
	return out, nil
}

// holders returns, by shard, the indexes of the running sites with a replica of it.
func (c *testCluster) holders() [][]int {
	out := make([][]int, c.shards)
	for shard := range c.shards {
		for i, s := range c.sites {
			if s.node == nil {
				continue
			}
			if _, err := s.node.Status(shard); err == nil {
				out[shard] = append(out[shard], i)
			}
		}
	}
	return out
}

// TestSitesReadShardsTheyDoNotHold: five sites, replication factor 3, so every shard is
// missing from two sites. Those sites read the shard's messages and KV at its leader: every
// acknowledged write at once (no wait: the leader applied it before acknowledging), their
// watchers wake on its commits, and the reads go on at the new leader after the old one is
// stopped.
func TestSitesReadShardsTheyDoNotHold(t *testing.T) {
	const shards = 4
	c := newTestCluster(t, 5, shards, func(cfg *Config) { cfg.ReplicationFactor = 3 })
	acked := c.writeEach(12)
	held := c.holders()
	for shard := range shards {
		require.Len(t, held[shard], 3, "shard %d", shard)
	}
	nonHolders := func(shard int) []int {
		var out []int
		for i, s := range c.sites {
			if s.node != nil && !slices.Contains(held[shard], i) {
				out = append(out, i)
			}
		}
		return out
	}
	for shard := range shards {
		for _, i := range nonHolders(shard) {
			got, err := readShard(c.sites[i].db, shard)
			require.NoError(t, err)
			require.Equal(t, acked[shard], got, "site %d reading shard %d", i, shard)
		}
	}

	// KV: written through one site that does not hold the shard, read through the other.
	ctx := context.Background()
	shard := 0
	other := nonHolders(shard)
	require.Len(t, other, 2)
	w, r := c.sites[other[0]].db, c.sites[other[1]].db
	wt, err := w.Table("sessions")
	require.NoError(t, err)
	rt, err := r.Table("sessions")
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, wt.Put(ctx, shard, []byte(fmt.Sprintf("s/%d", i)), []byte{byte(i)}))
	}
	v, err := rt.Get(shard, []byte("s/2"))
	require.NoError(t, err)
	require.Equal(t, []byte{2}, v)
	_, err = rt.Get(shard, []byte("s/9"))
	require.ErrorIs(t, err, ds.ErrNotFound)
	var keys []string
	require.NoError(t, rt.Scan(shard, []byte("s/"), func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	}))
	require.Equal(t, []string{"s/0", "s/1", "s/2"}, keys)
	require.NoError(t, r.Barrier(ctx, shard))

	// A watcher on a site without the shard wakes on the leader's commit.
	shard = 1
	reader := nonHolders(shard)[0]
	watcher, err := c.sites[reader].db.WatchMessages(shard)
	require.NoError(t, err)
	select { // the first answer may signal: drain it (bounded)
	case <-watcher.C:
	case <-time.After(10 * time.Second):
	}
	p, tp := topics(shard, 12, 13)
	c.write(shard, p...)
	select {
	case <-watcher.C:
	case <-time.After(waitFor):
		t.Fatal("a watcher of a shard the site does not hold missed a commit")
	}
	watcher.Close()
	acked[shard] = append(acked[shard], tp...)

	// The leader stops: reads go to the next one.
	l := c.leader(shard)
	c.stop(l)
	if l == reader {
		t.Fatalf("site %d leads shard %d without a replica of it", l, shard)
	}
	p, tp = topics(shard, 13, 20)
	c.write(shard, p...)
	acked[shard] = append(acked[shard], tp...)
	got, err := readShard(c.sites[reader].db, shard)
	require.NoError(t, err)
	require.Equal(t, acked[shard], got)

	var remote, served uint64
	for _, s := range c.sites {
		if s.node != nil {
			m := s.node.Metrics()
			remote, served = remote+m.RemoteReads, served+m.ServedReads
		}
	}
	require.Positive(t, remote)
	require.Positive(t, served)
	require.Positive(t, c.sites[reader].db.Metrics().Read.Remote)
}

// BenchmarkRemoteRead: the cost of reading a shard at its leader from a site that holds no
// replica of it, next to the same reads on the leader itself (two sites, replication factor
// 1): a KV Get, and Next of 100 messages of 64 bytes.
func BenchmarkRemoteRead(b *testing.B) {
	c := newTestCluster(b, 2, 1, func(cfg *Config) { cfg.ReplicationFactor = 1 })
	holder := c.leader(0)
	sites := map[string]*ds.DB{"local": c.sites[holder].db, "remote": c.sites[1-holder].db}
	ctx := context.Background()
	msgs := make([]ds.Message, 1000)
	for i := range msgs {
		msgs[i] = ds.Message{ClientID: clientFor(0, 1), Topic: "bench/x", Payload: make([]byte, 64), QoS: 1}
	}
	require.NoError(b, c.sites[holder].db.Store(ctx, msgs, ds.Sync))
	tab, err := c.sites[holder].db.Table("sessions")
	require.NoError(b, err)
	require.NoError(b, tab.Put(ctx, 0, []byte("k"), make([]byte, 200)))
	for _, name := range []string{"local", "remote"} {
		db := sites[name]
		t, err := db.Table("sessions")
		require.NoError(b, err)
		b.Run("get/"+name, func(b *testing.B) {
			for b.Loop() {
				if _, err := t.Get(0, []byte("k")); err != nil {
					b.Fatal(err)
				}
			}
		})
		streams, err := db.GetStreams("bench/#", 0)
		require.NoError(b, err)
		require.Len(b, streams, 1)
		first, err := db.MakeIterator(streams[0].Stream, "bench/#", 0)
		require.NoError(b, err)
		b.Run("next100/"+name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				got, _, err := db.Next(ctx, first, 100)
				if err != nil || len(got) != 100 {
					b.Fatalf("%d messages: %v", len(got), err)
				}
				n += len(got)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
