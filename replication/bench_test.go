package replication

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/site"
)

// storeLoad stores b.N one-message writes (64-byte payloads) from writers goroutines, each
// for its own client id, through store, and reports msgs/s.
func storeLoad(b *testing.B, writers int, store func(ctx context.Context, m ds.Message) error) float64 {
	b.Helper()
	payload := make([]byte, 64)
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([]time.Duration, b.N)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("bench-%d", w)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := store(ctx, ds.Message{ClientID: client, Topic: fmt.Sprintf("bench/%d", w), Payload: payload, QoS: 1}); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	return rate
}

// benchWriters are the writer counts of the store benchmarks. Each writer waits for its
// acknowledgement, so with few writers the rate is writers / latency; with many, batches fill
// and the rate shows what the write path carries.
var benchWriters = []int{32, 256}

// BenchmarkStoreLocal is the baseline: one store with the local Applier (one synced WAL write
// per batch).
func BenchmarkStoreLocal(b *testing.B) {
	for _, writers := range benchWriters {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := ds.Open(filepath.Join(b.TempDir(), "db"), &ds.Options{NumShards: 4, Retention: ds.RetentionOptions{Disabled: true}})
			require.NoError(b, err)
			defer db.Close()
			storeLoad(b, writers, func(ctx context.Context, m ds.Message) error {
				return db.Store(ctx, []ds.Message{m}, ds.Sync)
			})
		})
	}
}

// BenchmarkStoreReplicated writes through three sites on loopback in this process, each
// writer on the site that leads its shard (leader), or on another site (forwarded). Every
// acknowledged batch is synced in two logs of three and applied on its leader. Compare with
// BenchmarkStoreLocal in the same run (benchstat).
func BenchmarkStoreReplicated(b *testing.B) {
	for _, run := range []struct {
		mode    string
		writers int
	}{{"leader", 32}, {"leader", 256}, {"forwarded", 32}, {"forwarded", 256}} {
		mode := run.mode
		b.Run(fmt.Sprintf("%s/writers=%d", mode, run.writers), func(b *testing.B) {
			c := newTestCluster(b, 3, 4)
			leaders := make([]int, 4)
			for shard := range leaders {
				leaders[shard] = c.leader(shard)
			}
			storeLoad(b, run.writers, func(ctx context.Context, m ds.Message) error {
				site := leaders[ds.ShardOf(m.ClientID, 4)]
				if mode == "forwarded" {
					site = (site + 1) % 3
				}
				return c.sites[site].db.Store(ctx, []ds.Message{m}, ds.Sync)
			})
			applied := uint64(0)
			for _, s := range c.sites {
				applied += s.node.Metrics().Applied
			}
			b.ReportMetric(float64(applied)/3/float64(b.N), "batches/msg")
		})
	}
}

// BenchmarkFailover stops the leader of a shard of a three-site cluster and measures the time
// to the first acknowledged write after it (through whichever site leads then), then restarts
// the stopped site. Election timeout: 10 ticks of 20 ms.
func BenchmarkFailover(b *testing.B) {
	c := newTestCluster(b, 3, 1)
	c.write(0, "warm")
	var total time.Duration
	for i := range b.N {
		l := c.leader(0)
		c.stop(l)
		t0 := time.Now()
		c.write(0, fmt.Sprintf("after-%d", i))
		total += time.Since(t0)
		c.start(l)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "failover-s")
}

// BenchmarkMoveShard moves a shard holding a given number of messages (64-byte payloads)
// between two sites of a four-site cluster, back and forth: each move adds a learner that
// catches up from a snapshot, promotes it and removes a replica (three transitions). It
// reports the seconds per move and the messages moved per second.
func BenchmarkMoveShard(b *testing.B) {
	for _, msgs := range []int{1000, 200000} {
		b.Run(fmt.Sprintf("messages=%d", msgs), func(b *testing.B) {
			c := newTestCluster(b, 3, 1)
			payload := make([]byte, 64)
			for i := 0; i < msgs; i += 500 {
				batch := make([]ds.Message, 0, 500)
				for j := i; j < min(i+500, msgs); j++ {
					batch = append(batch, ds.Message{ClientID: clientFor(0, 1), Topic: fmt.Sprintf("t/0/m%d", j), Payload: payload, QoS: 1})
				}
				require.NoError(b, c.sites[c.leader(0)].db.Store(context.Background(), batch, ds.Sync))
			}
			d := c.addSite()
			sets := [][]site.ID{{c.ids[0], c.ids[1], c.sites[d].id}, {c.ids[0], c.ids[1], c.ids[2]}}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				_, err := c.sites[0].node.SetReplicas(context.Background(), 0, sets[i%2])
				require.NoError(b, err)
				c.waitTarget(0, sets[i%2])
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/move")
			b.ReportMetric(float64(msgs*b.N)/elapsed.Seconds(), "msgs-moved/s")
			b.ReportMetric(float64(3*b.N)/elapsed.Seconds(), "transitions/s")
		})
	}
}
