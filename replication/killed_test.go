package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/site"
)

// streamWriters write one message at a time to every shard, one goroutine per shard, each
// write through a site drawn at random among those running; a site's lock is held for reading
// while a write goes through it, so that a site is stopped between writes, not under one.
type streamWriters struct {
	c     *testCluster
	locks []sync.RWMutex
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked [][]string // by shard
	tried int
}

func startStreams(c *testCluster, seed uint64) *streamWriters {
	w := &streamWriters{c: c, locks: make([]sync.RWMutex, len(c.sites)), stop: make(chan struct{}),
		acked: make([][]string, c.shards)}
	for shard := range c.shards {
		rng := rand.New(rand.NewPCG(seed, uint64(shard)))
		client := clientFor(shard, c.shards)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				s := rng.IntN(len(c.sites))
				topic := fmt.Sprintf("t/%d/s%05d", shard, i)
				w.locks[s].RLock()
				db := c.sites[s].db
				err := errors.New("site down")
				if db != nil {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					err = db.Store(ctx, []ds.Message{{ClientID: client, Topic: topic, Payload: []byte(topic), QoS: 1}}, ds.Sync)
					cancel()
				}
				w.locks[s].RUnlock()
				w.mu.Lock()
				w.tried++
				if err == nil {
					w.acked[shard] = append(w.acked[shard], topic)
				}
				w.mu.Unlock()
				if db == nil {
					time.Sleep(time.Millisecond) // draw another site
				}
			}
		}()
	}
	return w
}

// ackedCount returns how many writes of shard were acknowledged so far.
func (w *streamWriters) ackedCount(shard int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked[shard])
}

// waitAcked waits until shard has more than n acknowledged writes.
func (w *streamWriters) waitAcked(shard, n int) {
	w.c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for w.ackedCount(shard) <= n {
		require.True(w.c.t, time.Now().Before(deadline), "shard %d: no write acknowledged past %d", shard, n)
		time.Sleep(5 * time.Millisecond)
	}
}

// kill cuts site i off from the others at once (nothing more leaves or reaches it), then stops
// it: its last writes cannot commit after it went, as when a machine dies.
func (w *streamWriters) kill(i int) {
	c := w.c
	w.locks[i].Lock()
	defer w.locks[i].Unlock()
	for _, s := range c.sites {
		if s.node != nil {
			s.node.Transport().SetFilter(isolating(c.sites[i].id))
		}
	}
	c.stop(i)
	for _, s := range c.sites {
		if s.node != nil {
			s.node.Transport().SetFilter(nil)
		}
	}
}

func (w *streamWriters) finish() ([][]string, int) {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([][]string, len(w.acked))
	for i, a := range w.acked {
		out[i] = slices.Clone(a)
	}
	return out, w.tried
}

// spanDigest hashes every key and value of shard's span in a site's store (messages, KV,
// generations, clock and applied index): replicas that applied the same log are byte-equal.
func spanDigest(t testing.TB, s *testSite, shard int) (int, [32]byte) {
	start, end := ds.ShardSpan(shard)
	it, err := s.node.pebble.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	require.NoError(t, err)
	defer it.Close()
	h := sha256.New()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		require.NoError(t, err)
		fmt.Fprintf(h, "%d:%x%d:%x", len(it.Key()), it.Key(), len(v), v)
		n++
	}
	require.NoError(t, it.Error())
	var sum [32]byte
	h.Sum(sum[:0])
	return n, sum
}

// spanKeys counts the keys of shard's span in a site's own store: what its replica holds,
// whereas its ds reads a shard it does not hold at the leader.
func spanKeys(t testing.TB, s *testSite, shard int) int {
	n, _ := spanDigest(t, s, shard)
	return n
}

// replicasOf returns the running sites that hold a replica of shard, by the configuration of
// its leader.
func (c *testCluster) replicasOf(shard int) []site.ID {
	st, err := c.sites[c.leader(shard)].node.Status(shard)
	require.NoError(c.t, err)
	var out []site.ID
	for _, s := range c.sites {
		if s.node != nil && slices.Contains(st.Voters, s.id) {
			out = append(out, s.id)
		}
	}
	return out
}

// byteEqual waits until every running replica of shard holds the same span, key for key and
// byte for byte.
func (c *testCluster) byteEqual(shard int) {
	c.t.Helper()
	sites := c.replicasOf(shard)
	deadline := time.Now().Add(waitFor)
	for {
		var first [32]byte
		same, last := true, ""
		for i, id := range sites {
			s := c.sites[slices.IndexFunc(c.sites, func(s *testSite) bool { return s.id == id })]
			n, sum := spanDigest(c.t, s, shard)
			if i == 0 {
				first = sum
			} else if !bytes.Equal(sum[:], first[:]) {
				same, last = false, fmt.Sprintf("site %v: %d keys, digest %x differs", id, n, sum[:6])
			}
		}
		if same {
			return
		}
		require.True(c.t, time.Now().Before(deadline), "shard %d: replicas differ after quiescence: %s", shard, last)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaderKilledDuringWrites: five sites, five shards, with three and with five replicas a
// shard (and three sites with three, for comparison). While writes stream to every shard through every site, the leader of shard 0 is
// killed; the shard elects another and takes writes again. On the surviving replicas every
// acknowledged write of every shard is present exactly once (and read right after a read
// barrier, without waiting for replication), and the replicas of each shard
// are byte-equal once writes stop; the killed site, restarted, catches up to the same bytes.
func TestLeaderKilledDuringWrites(t *testing.T) {
	for _, tc := range []struct{ sites, rf int }{{5, 3}, {5, 5}, {3, 3}} {
		t.Run(fmt.Sprintf("sites%d-rf%d", tc.sites, tc.rf), func(t *testing.T) {
			const shards = 5
			sites, rf := tc.sites, tc.rf
			c := newTestCluster(t, sites, shards, func(cfg *Config) { cfg.ReplicationFactor = rf })
			for shard := range shards {
				require.Len(t, c.replicasOf(shard), rf)
			}
			w := startStreams(c, uint64(time.Now().UnixNano()))
			for shard := range shards {
				w.waitAcked(shard, 10)
			}
			killed := c.leader(0)
			w.kill(killed)
			before := w.ackedCount(0)
			newLeader := c.leader(0)
			require.NotEqual(t, killed, newLeader)
			w.waitAcked(0, before+10)
			acked, tried := w.finish()

			total := 0
			for shard := range shards {
				total += len(acked[shard])
				for _, id := range c.replicasOf(shard) {
					s := c.sites[slices.IndexFunc(c.sites, func(s *testSite) bool { return s.id == id })]
					ctx, cancel := context.WithTimeout(context.Background(), waitFor)
					require.NoError(t, s.node.Barrier(ctx, shard))
					cancel()
					got := shardTopics(t, s.db, shard)
					slices.Sort(got)
					for _, a := range acked[shard] {
						_, found := slices.BinarySearch(got, a)
						require.True(t, found, "site %v misses %s right after a barrier", id, a)
					}
				}
				c.checkReplicas(shard, c.replicasOf(shard), acked[shard])
				c.byteEqual(shard)
			}
			t.Logf("%d sites, rf %d: %d writes, %d acknowledged; shard 0 led by site %d, then %d", sites, rf, tried, total, killed, newLeader)

			c.start(killed)
			for shard := range shards {
				c.write(shard, fmt.Sprintf("after-%d", shard))
				acked[shard] = append(acked[shard], fmt.Sprintf("t/%d/after-%d", shard, shard))
				c.checkReplicas(shard, c.replicasOf(shard), acked[shard])
				c.byteEqual(shard)
			}
		})
	}
}
