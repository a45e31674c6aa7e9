package replication

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/transport"
)

// appendOp is one write of the fault test: a unique value appended to the shard's one stream
// through one site, with when it was invoked and when it returned.
type appendOp struct {
	value    string
	inv, ret time.Time
	acked    bool
}

// TestRandomFaultsSoak writes concurrently through every site while sites are stopped and
// restarted and cut off from the others, at random (seeded), then heals everything and checks
// each shard's log against the history of writes, as a linearizability checker of an
// append-only log would:
//   - every acknowledged value is in the log, exactly once, on every replica;
//   - no value appears twice, and none that was never written;
//   - real-time order holds: a value whose write began after an acknowledged write returned
//     comes after it in the log.
//
// A value whose write failed may or may not be there (its outcome was unknown). "faults" runs
// three sites and one shard; "membership" runs a pool of five sites, three replicas a shard,
// two shards, and mixes in replica changes at random (SetReplicas, JoinSite, LeaveSite, and
// once a run ForgetSite of the stopped site, which then stays gone), with the further check
// that no replica ever applied a configuration of fewer than three voters.
// Each runs for 3 s in `make test`; MQTTDS_SOAK (a duration) runs them longer, and MQTTDS_SEED
// replays a seed.
func TestRandomFaultsSoak(t *testing.T) {
	duration := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("MQTTDS_SOAK")); err == nil && d > 0 {
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("MQTTDS_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Run("faults", func(t *testing.T) {
		runSoak(t, soakConfig{founding: 3, shards: 1, writers: 3}, seed, duration)
	})
	t.Run("membership", func(t *testing.T) {
		runSoak(t, soakConfig{founding: 3, extra: 2, shards: 2, writers: 4, membership: true}, seed, duration)
	})
}

// soakConfig shapes a fault soak: founding sites, sites added before it starts (the pool is
// both), shards, concurrent writers, and whether replica sets change at random.
type soakConfig struct {
	founding, extra, shards, writers int
	membership                       bool
}

// soakVoters is the voters a shard keeps: the replication factor, and the size of every
// replica set the soak asks for.
const soakVoters = 3

func runSoak(t *testing.T, sc soakConfig, seed uint64, duration time.Duration) {
	t.Logf("seed %d (MQTTDS_SEED replays it), %v of faults", seed, duration)
	rng := rand.New(rand.NewPCG(seed, 1))

	// A short log, so that a site stopped for a while catches up from a snapshot.
	confs := &confLog{}
	c := (&testCluster{t: t, shards: sc.shards, confHook: confs.hook,
		mod: func(cfg *Config) { cfg.CompactEntries = 50; cfg.SnapshotLag = 150 }}).run(sc.founding)
	for range sc.extra {
		c.addSite()
	}
	pool := len(c.sites)
	locks := make([]sync.RWMutex, pool) // a writer holds its site's lock for reading while it writes
	clients := make([]string, sc.shards)
	for shard := range sc.shards {
		clients[shard] = clientFor(shard, sc.shards)
	}

	var mu sync.Mutex
	ops := make([][]*appendOp, sc.shards)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range sc.writers {
		wrng := rand.New(rand.NewPCG(seed, uint64(10+w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s, shard := wrng.IntN(pool), wrng.IntN(sc.shards)
				op := &appendOp{value: fmt.Sprintf("w%d-%d", w, i)}
				locks[s].RLock()
				db := c.sites[s].db
				op.inv = time.Now()
				var err error
				if db == nil {
					err = errors.New("site down")
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					err = db.Store(ctx, []ds.Message{{ClientID: clients[shard], Topic: logTopic(shard), Payload: []byte(op.value), QoS: 1}}, ds.Sync)
					cancel()
				}
				op.ret = time.Now()
				locks[s].RUnlock()
				op.acked = err == nil
				mu.Lock()
				ops[shard] = append(ops[shard], op)
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond) // do not spin on a site that is down
				}
			}
		}()
	}

	// Faults: at most one site stopped and one cut off at a time, so a majority can always
	// make progress once elections settle.
	down, cut, gone := -1, -1, -1 // gone: the site forgotten, never started again
	deadline := time.Now().Add(duration)
	faults := 0
	var changes, refused int
	kinds := 4
	if sc.membership {
		kinds = 7
	}
	// filterAll sets f on every running site.
	filterAll := func(f transport.Filter) {
		for _, s := range c.sites {
			if s.node != nil {
				s.node.Transport().SetFilter(f)
			}
		}
	}
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		switch rng.IntN(kinds) {
		case 0: // stop a site
			if down < 0 {
				down = rng.IntN(pool)
				if down == cut || down == gone {
					down = -1
					continue
				}
				locks[down].Lock()
				c.stop(down)
				locks[down].Unlock()
				faults++
			}
		case 1: // restart it
			if down >= 0 {
				locks[down].Lock()
				c.start(down)
				if cut >= 0 {
					c.sites[down].node.Transport().SetFilter(isolating(c.sites[cut].id))
				}
				locks[down].Unlock()
				down = -1
			}
		case 2: // cut a site off
			if cut < 0 {
				cut = rng.IntN(pool)
				if cut == down || cut == gone {
					cut = -1
					continue
				}
				filterAll(isolating(c.sites[cut].id))
				faults++
			}
		case 3: // heal the partition
			if cut >= 0 {
				filterAll(nil)
				cut = -1
			}
		case 4, 5: // change the replicas, through any running site
			via := rng.IntN(pool)
			if via == down || via == cut || via == gone {
				continue
			}
			if err := soakChange(c, rng, via, gone); err != nil {
				refused++
			} else {
				changes++
			}
		case 6: // forget the stopped site for good (once a run), through a running site
			via := rng.IntN(pool)
			if down < 0 || gone >= 0 || via == down || via == cut {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := c.sites[via].node.ForgetSite(ctx, c.sites[down].id)
			cancel()
			if err != nil {
				refused++ // a cut-off shard without its quorum, or a site that is not known as down yet
				continue
			}
			t.Logf("site %v forgotten", c.sites[down].id)
			gone, down = down, -1
			changes++
		}
	}
	close(stop)
	wg.Wait()
	if cut >= 0 {
		filterAll(nil)
	}
	if down >= 0 {
		c.start(down)
	}

	acked, total := 0, 0
	for _, sops := range ops {
		total += len(sops)
		for _, op := range sops {
			if op.acked {
				acked++
			}
		}
	}
	t.Logf("%d writes, %d acknowledged, %d faults, %d snapshots installed", total, acked, faults, c.snapshotsInstalled())
	require.Positive(t, acked, "no write succeeded")

	for shard := range sc.shards {
		replicas := c.founding(shard)
		if sc.membership {
			// Every replica change asked for completes once everything is up and connected.
			l := c.leader(shard)
			st, err := c.sites[l].node.Status(shard)
			require.NoError(t, err)
			if st.Target != nil {
				replicas = st.Target
			}
			c.waitTarget(shard, replicas)
			minVoters, _ := confs.min(shard)
			if minVoters > 0 { // 0: no configuration changed
				require.GreaterOrEqual(t, minVoters, soakVoters, "shard %d: a replica applied a configuration of %d voters", shard, minVoters)
			}
		}
		// After healing, every replica reads the same log.
		var log []string
		require.Eventually(t, func() bool {
			var first []string
			for i, id := range replicas {
				got := logOf(t, c.site(id).db, shard)
				if i == 0 {
					first = got
				} else if !equalStrings(first, got) {
					return false
				}
			}
			log = first
			return true
		}, waitFor, 20*time.Millisecond, "replicas of shard %d did not converge", shard)
		require.NoError(t, checkAppendHistory(ops[shard], log), "shard %d", shard)
	}
	if sc.membership {
		_, applied := confs.min(0)
		t.Logf("%d replica changes taken, %d refused; %d configurations applied", changes, refused, applied)
	}
}

// soakChange asks site via for a random replica change: three sites of the pool for one shard
// or for all of them, a site joining, or a site leaving; never naming the forgotten site gone
// (-1: none). The change may be refused (a site that cannot leave, one that holds every shard
// it can, a site that is cut off).
func soakChange(c *testCluster, rng *rand.Rand, via, gone int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := c.sites[via].node
	var pool []int
	for _, i := range rng.Perm(len(c.sites)) {
		if i != gone {
			pool = append(pool, i)
		}
	}
	other := c.sites[pool[0]].id
	var err error
	switch rng.IntN(3) {
	case 0:
		shard := rng.IntN(c.shards+1) - 1 // AllShards is -1
		var sites []site.ID
		for _, i := range pool[:soakVoters] {
			sites = append(sites, c.sites[i].id)
		}
		_, err = n.SetReplicas(ctx, shard, sites)
	case 1:
		_, err = n.JoinSite(ctx, other)
	default:
		_, err = n.LeaveSite(ctx, other)
	}
	return err
}

// logTopic is the topic of shard's one stream in the fault soak.
func logTopic(shard int) string { return fmt.Sprintf("log/%d", shard) }

// founding returns the founding replica set of shard.
func (c *testCluster) founding(shard int) []site.ID {
	place, err := NewPlacement(c.ids, min(3, len(c.ids)))
	require.NoError(c.t, err)
	return place.Replicas(shard)
}

// site returns the site of id.
func (c *testCluster) site(id site.ID) *testSite {
	i := slices.IndexFunc(c.sites, func(s *testSite) bool { return s.id == id })
	require.GreaterOrEqual(c.t, i, 0, "no site %v", id)
	return c.sites[i]
}

func isolating(cut site.ID) transport.Filter {
	return func(from, to site.ID, _ uint32) bool { return from != cut && to != cut }
}

// logOf reads the payloads of shard's one stream in order.
func logOf(t testing.TB, db *ds.DB, shard int) []string {
	var out []string
	for _, m := range readMessages(t, db, logTopic(shard)) {
		out = append(out, string(m.Payload))
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkAppendHistory checks a final log against the history of appends (see
// TestRandomFaultsSoak) and returns the first violation.
func checkAppendHistory(ops []*appendOp, log []string) error {
	byValue := make(map[string]*appendOp, len(ops))
	for _, op := range ops {
		byValue[op.value] = op
	}
	pos := make(map[string]int, len(log))
	for i, v := range log {
		if _, dup := pos[v]; dup {
			return fmt.Errorf("value %s appears twice", v)
		}
		if byValue[v] == nil {
			return fmt.Errorf("value %s was never written", v)
		}
		pos[v] = i
	}
	var done []*appendOp
	for _, op := range ops {
		if !op.acked {
			continue
		}
		if _, ok := pos[op.value]; !ok {
			return fmt.Errorf("acknowledged value %s is missing", op.value)
		}
		done = append(done, op)
	}
	// Real-time order: with the acknowledged writes sorted by return time and the running
	// maximum of their log positions, a present value must come after every acknowledged write
	// that returned before it was invoked.
	slices.SortFunc(done, func(a, b *appendOp) int { return a.ret.Compare(b.ret) })
	maxPos := make([]int, len(done))
	latest := make([]string, len(done))
	for i, op := range done {
		maxPos[i], latest[i] = pos[op.value], op.value
		if i > 0 && maxPos[i-1] > maxPos[i] {
			maxPos[i], latest[i] = maxPos[i-1], latest[i-1]
		}
	}
	for _, b := range ops {
		pb, present := pos[b.value]
		if !present {
			continue
		}
		n, _ := slices.BinarySearchFunc(done, b.inv, func(a *appendOp, inv time.Time) int {
			if a.ret.Before(inv) {
				return -1
			}
			return 1
		})
		if n > 0 && maxPos[n-1] > pb {
			return fmt.Errorf("%s returned before %s began, but comes after it", latest[n-1], b.value)
		}
	}
	return nil
}

// TestCheckAppendHistory: the checker accepts valid histories (an unacknowledged write present
// or not, concurrent writes in either order) and catches each kind of violation.
func TestCheckAppendHistory(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, int64(ms)*int64(time.Millisecond)) }
	op := func(v string, inv, ret int, acked bool) *appendOp {
		return &appendOp{value: v, inv: at(inv), ret: at(ret), acked: acked}
	}
	ops := []*appendOp{op("a", 0, 10, true), op("b", 5, 15, true), op("c", 20, 30, true), op("x", 12, 40, false)}
	for _, tc := range []struct {
		log  []string
		want string
	}{
		{[]string{"a", "b", "c"}, ""},
		{[]string{"b", "a", "c"}, ""},      // a and b overlap
		{[]string{"a", "b", "x", "c"}, ""}, // a failed write may appear
		{[]string{"x", "a", "b", "c"}, "comes after"},
		{[]string{"a", "c", "b"}, "comes after"},
		{[]string{"a", "b"}, "missing"},
		{[]string{"a", "b", "c", "a"}, "twice"},
		{[]string{"a", "b", "c", "z"}, "never written"},
	} {
		err := checkAppendHistory(ops, tc.log)
		if tc.want == "" {
			require.NoError(t, err, "%v", tc.log)
		} else {
			require.ErrorContains(t, err, tc.want, "%v", tc.log)
		}
	}
}
