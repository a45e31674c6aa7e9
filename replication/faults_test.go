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

// TestRandomFaultsSoak writes concurrently through every site of a three-site cluster while
// sites are stopped and restarted and cut off from the others, at random (seeded), then heals
// everything and checks the shard's log against the history of writes, as a linearizability
// checker of an append-only log would:
//   - every acknowledged value is in the log, exactly once, on every replica;
//   - no value appears twice, and none that was never written;
//   - real-time order holds: a value whose write began after an acknowledged write returned
//     comes after it in the log.
//
// A value whose write failed may or may not be there (its outcome was unknown). It runs for
// 3 s in `make test`; MQTTDS_SOAK (a duration) runs it longer, and MQTTDS_SEED replays a seed.
func TestRandomFaultsSoak(t *testing.T) {
	duration := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("MQTTDS_SOAK")); err == nil && d > 0 {
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("MQTTDS_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (MQTTDS_SEED replays it), %v of faults", seed, duration)
	rng := rand.New(rand.NewPCG(seed, 1))

	// A short log, so that a site stopped for a while catches up from a snapshot.
	c := newTestCluster(t, 3, 1, func(cfg *Config) { cfg.CompactEntries = 50; cfg.SnapshotLag = 150 })
	locks := make([]sync.RWMutex, 3) // a writer holds its site's lock for reading while it writes
	client := clientFor(0, 1)

	var mu sync.Mutex
	var ops []*appendOp
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
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
				s := wrng.IntN(3)
				op := &appendOp{value: fmt.Sprintf("w%d-%d", w, i)}
				locks[s].RLock()
				db := c.sites[s].db
				op.inv = time.Now()
				var err error
				if db == nil {
					err = errors.New("site down")
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					err = db.Store(ctx, []ds.Message{{ClientID: client, Topic: "log", Payload: []byte(op.value), QoS: 1}}, ds.Sync)
					cancel()
				}
				op.ret = time.Now()
				locks[s].RUnlock()
				op.acked = err == nil
				mu.Lock()
				ops = append(ops, op)
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond) // do not spin on a site that is down
				}
			}
		}()
	}

	// Faults: at most one site stopped and one cut off at a time, so a majority can always
	// make progress once elections settle.
	down, cut := -1, -1
	deadline := time.Now().Add(duration)
	faults := 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		switch rng.IntN(4) {
		case 0: // stop a site
			if down < 0 {
				down = rng.IntN(3)
				if down == cut {
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
				cut = rng.IntN(3)
				if cut == down {
					cut = -1
					continue
				}
				for i, s := range c.sites {
					if i != down {
						s.node.Transport().SetFilter(isolating(c.sites[cut].id))
					}
				}
				faults++
			}
		case 3: // heal the partition
			if cut >= 0 {
				for i, s := range c.sites {
					if i != down {
						s.node.Transport().SetFilter(nil)
					}
				}
				cut = -1
			}
		}
	}
	close(stop)
	wg.Wait()
	if cut >= 0 {
		for i, s := range c.sites {
			if i != down {
				s.node.Transport().SetFilter(nil)
			}
		}
	}
	if down >= 0 {
		c.start(down)
	}

	acked := 0
	for _, op := range ops {
		if op.acked {
			acked++
		}
	}
	t.Logf("%d writes, %d acknowledged, %d faults, %d snapshots installed", len(ops), acked, faults, c.snapshotsInstalled())
	require.Positive(t, acked, "no write succeeded")

	// After healing, every replica reads the same log.
	var log []string
	require.Eventually(t, func() bool {
		var first []string
		for i, s := range c.sites {
			got := logOf(t, s.db)
			if i == 0 {
				first = got
			} else if !equalStrings(first, got) {
				return false
			}
		}
		log = first
		return true
	}, waitFor, 20*time.Millisecond, "replicas did not converge")
	require.NoError(t, checkAppendHistory(ops, log))
}

func isolating(cut site.ID) transport.Filter {
	return func(from, to site.ID, _ uint32) bool { return from != cut && to != cut }
}

// logOf reads the payloads of the shard's one stream in order.
func logOf(t testing.TB, db *ds.DB) []string {
	var out []string
	for _, m := range readMessages(t, db, "log") {
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
