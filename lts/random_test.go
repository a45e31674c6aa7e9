package lts_test

import (
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mqttds/mqttds/lts"
	"github.com/mqttds/mqttds/lts/ltstest"
)

var (
	seedFlag  = flag.Uint64("lts.seed", 0, "seed for TestRandomized (default: time-based; env LTS_SEED)")
	itersFlag = flag.Int("lts.iters", 0, "rounds of TestRandomized (default 150, 30 with -short; env LTS_ITERS)")
)

// envOr returns the flag value, else the environment variable, else def.
func envOr(flagVal uint64, env string, def uint64) uint64 {
	if flagVal != 0 {
		return flagVal
	}
	if s := os.Getenv(env); s != "" {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return v
		}
	}
	return def
}

// TestRandomized learns random topic sets under random options and checks, against the naive
// MQTT matcher:
//   - Match: for every random filter, the learned topics whose (index, varying) satisfy a
//     result are exactly the topics the filter matches;
//   - stability: a learned topic keeps its index and varying levels while others are learned;
//   - restore: a trie rebuilt from the encoded ops (in Learn order, in key order, from Ops)
//     answers every Lookup and Match the same;
//   - inheritance: a trie built from WildcardOps keeps the index of every topic that went
//     through '+', and keeps matching exactly after learning more.
//
// Replay a failure with -lts.seed=N (or LTS_SEED=N); run longer with -lts.iters or LTS_ITERS.
func TestRandomized(t *testing.T) {
	seed := envOr(*seedFlag, "LTS_SEED", uint64(time.Now().UnixNano()))
	def := uint64(150)
	if testing.Short() {
		def = 30
	}
	iters := int(envOr(uint64(*itersFlag), "LTS_ITERS", def))
	t.Logf("seed %d, %d rounds (replay: go test ./lts -run TestRandomized -lts.seed=%d)", seed, iters, seed)
	r := rand.New(rand.NewPCG(seed, 0x175))
	for round := range iters {
		if err := randomRound(ltstest.Gen{R: r}); err != nil {
			t.Fatalf("seed %d, round %d: %v", seed, round, err)
		}
	}
}

func randomRound(g ltstest.Gen) error {
	opts := g.Options()
	tr := lts.New(opts)
	topics := make([][]string, 1+g.R.IntN(200))
	for i := range topics {
		topics[i] = g.Topic()
	}
	filters := make([][]string, 60)
	for i := range filters {
		filters[i] = g.Filter()
	}
	learned, ops, err := ltstest.LearnAll(tr, topics)
	if err != nil {
		return err
	}
	if err := lts.CheckInvariants(tr); err != nil {
		return err
	}
	if err := ltstest.CheckStable(tr, learned); err != nil {
		return err
	}
	for _, f := range filters {
		if err := ltstest.CheckMatch(tr, learned, f); err != nil {
			return err
		}
	}

	// Restore, three ways.
	for _, way := range []struct {
		ops      []lts.Op
		keyOrder bool
	}{{ops, false}, {ops, true}, {tr.Ops(), false}} {
		restored, err := ltstest.Restore(opts, way.ops, way.keyOrder)
		if err != nil {
			return err
		}
		if err := ltstest.CheckSame(tr, restored, topics, filters); err != nil {
			return err
		}
		if err := lts.CheckInvariants(restored); err != nil {
			return err
		}
	}

	// Inherit the wildcard paths into a new generation.
	next, err := ltstest.Restore(opts, tr.WildcardOps(), false)
	if err != nil {
		return err
	}
	var kept []ltstest.Learned
	for _, l := range learned {
		if len(l.Varying) > 0 {
			kept = append(kept, l)
		}
	}
	if err := ltstest.CheckStable(next, kept); err != nil {
		return err
	}
	more := make([][]string, g.R.IntN(100))
	for i := range more {
		more[i] = g.Topic()
	}
	learned2, _, err := ltstest.LearnAll(next, append(more, topics...))
	if err != nil {
		return err
	}
	if err := lts.CheckInvariants(next); err != nil {
		return err
	}
	for _, f := range filters {
		if err := ltstest.CheckMatch(next, learned2, f); err != nil {
			return err
		}
	}
	return nil
}
