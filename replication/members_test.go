package replication

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/transport"
)

// TestNextTransition: the order of the steps from a configuration to a target never takes the
// voters below the target's size, and the leader goes last.
func TestNextTransition(t *testing.T) {
	a, b, c, d := site.ID(0xa), site.ID(0xb), site.ID(0xc), site.ID(0xd)
	ids := func(s ...site.ID) []site.ID { return s }
	caught := func(ok ...site.ID) func(site.ID) bool {
		return func(id site.ID) bool { return slices.Contains(ok, id) }
	}
	for _, tc := range []struct {
		name                     string
		voters, learners, target []site.ID
		leader                   site.ID
		caught                   []site.ID
		want                     transition
		queue                    int
	}{
		{"done", ids(a, b, c), nil, ids(a, b, c), a, nil, transition{}, 0},
		{"add first", ids(a, b, c), nil, ids(a, b, d), a, nil, transition{stepAddLearner, d}, 3},
		{"wait for the learner", ids(a, b, c), ids(d), ids(a, b, d), a, nil, transition{stepCatchUp, d}, 2},
		{"promote", ids(a, b, c), ids(d), ids(a, b, d), a, ids(d), transition{stepPromote, d}, 2},
		{"then remove", ids(a, b, c, d), nil, ids(a, b, d), a, nil, transition{stepRemove, c}, 1},
		{"a stray learner goes", ids(a, b, c), ids(d), ids(a, b, c), a, nil, transition{stepRemove, d}, 1},
		{"the leader hands over", ids(a, b, c, d), nil, ids(b, c, d), a, nil, transition{stepTransfer, b}, 2},
		{"others before the leader", ids(a, b, c, d), nil, ids(c, d), a, nil, transition{stepRemove, b}, 2},
		{"shrink", ids(a, b, c), nil, ids(a), a, nil, transition{stepRemove, b}, 2},
		{"grow", ids(a), nil, ids(a, b, c), a, nil, transition{stepAddLearner, b}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, queue := nextTransition(tc.voters, tc.learners, tc.target, tc.leader, caught(tc.caught...))
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.queue, queue)
		})
	}
	// Carried out to the end, every path keeps at least min(target, start) voters.
	for _, tc := range []struct{ from, to []site.ID }{
		{ids(a, b, c), ids(b, c, d)}, {ids(a, b, c), ids(d)}, {ids(a), ids(b, c, d)}, {ids(a, b, c), ids(a, b)},
	} {
		voters, learners, leader := slices.Clone(tc.from), []site.ID(nil), tc.from[0]
		floor := min(len(tc.from), len(tc.to))
		for steps := 0; ; steps++ {
			require.Less(t, steps, 20)
			step, _ := nextTransition(voters, learners, tc.to, leader, func(site.ID) bool { return true })
			switch step.kind {
			case stepNone:
				require.ElementsMatch(t, tc.to, voters)
			case stepAddLearner:
				learners = append(learners, step.site)
			case stepPromote:
				learners = filter(learners, func(id site.ID) bool { return id != step.site })
				voters = append(voters, step.site)
			case stepRemove:
				learners = filter(learners, func(id site.ID) bool { return id != step.site })
				voters = filter(voters, func(id site.ID) bool { return id != step.site })
			case stepTransfer:
				leader = step.site
			}
			require.GreaterOrEqual(t, len(voters), floor, "%v → %v: %v", tc.from, tc.to, voters)
			if step.kind == stepNone {
				break
			}
		}
	}
}

// addSite starts a site that is not among the founding ones: it holds no replica until a
// leader adds it.
func (c *testCluster) addSite() int {
	id := site.ID(0x1000 + len(c.sites))
	c.sites = append(c.sites, &testSite{id: id, dir: filepath.Join(c.t.TempDir(), id.String())})
	c.start(len(c.sites) - 1)
	return len(c.sites) - 1
}

// confLog records every configuration applied on any replica, and the smallest number of
// voters seen.
type confLog struct {
	mu        sync.Mutex
	minVoters map[int]int
	changes   int
}

func (l *confLog) hook(shard int, cs *pb.ConfState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.minVoters == nil {
		l.minVoters = map[int]int{}
	}
	if v, ok := l.minVoters[shard]; !ok || len(cs.GetVoters()) < v {
		l.minVoters[shard] = len(cs.GetVoters())
	}
	l.changes++
}

func (l *confLog) min(shard int) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.minVoters[shard], l.changes
}

// writer stores one message at a time on shard until stopped, through the sites running when
// it starts (which must stay up), and records those acknowledged.
type writer struct {
	c      *testCluster
	shard  int
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	acked  []string
	failed int
}

func startWriter(c *testCluster, shard int) *writer {
	w := &writer{c: c, shard: shard, stop: make(chan struct{}), done: make(chan struct{})}
	var dbs []*ds.DB
	for _, s := range c.sites {
		if s.db != nil {
			dbs = append(dbs, s.db)
		}
	}
	go func() {
		defer close(w.done)
		client := clientFor(shard, c.shards)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			db := dbs[i%len(dbs)]
			topic := fmt.Sprintf("t/%d/w%05d", shard, i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := db.Store(ctx, []ds.Message{{ClientID: client, Topic: topic, Payload: []byte("x"), QoS: 1}}, ds.Sync)
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, topic)
			} else {
				w.failed++
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) finish() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// shardTopics reads the topics of shard's messages on a site, in the order read, duplicates
// included.
func shardTopics(t testing.TB, db *ds.DB, shard int) []string {
	var out []string
	for _, m := range readMessages(t, db, fmt.Sprintf("t/%d/#", shard)) {
		out = append(out, m.Topic)
	}
	return out
}

// waitTarget waits until shard's leader has exactly want as voters, no learner, nothing
// pending, and every other running site has dropped its replica.
func (c *testCluster) waitTarget(shard int, want []site.ID) {
	c.t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(waitFor)
	for {
		done, last := true, ""
		l := c.leader(shard)
		st, err := c.sites[l].node.Status(shard)
		require.NoError(c.t, err)
		if !slices.Equal(st.Voters, want) || len(st.Learners) > 0 || st.Queue > 0 ||
			st.PreferredLeader != 0 && st.PreferredLeader != c.sites[l].id {
			done = false
			last = fmt.Sprintf("voters %v learners %v target %v pending %q, led by %v (preferred %v)", st.Voters, st.Learners,
				st.Target, st.Pending, c.sites[l].id, st.PreferredLeader)
		}
		for _, s := range c.sites {
			if s.node == nil {
				continue
			}
			_, err := s.node.Status(shard)
			if holds := err == nil; holds != slices.Contains(want, s.id) {
				done = false
				last += fmt.Sprintf("; site %v holds shard %d: %v", s.id, shard, holds)
			}
		}
		if done {
			return
		}
		require.True(c.t, time.Now().Before(deadline), "shard %d never reached %v: %s", shard, want, last)
		time.Sleep(10 * time.Millisecond)
	}
}

// checkReplicas waits until every site of sites reads exactly acked (plus extra messages
// written before, in want) for shard, each once, and checks every running store.
func (c *testCluster) checkReplicas(shard int, sites []site.ID, acked []string) {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for _, s := range c.sites {
		if !slices.Contains(sites, s.id) {
			continue
		}
		for {
			got := shardTopics(c.t, s.db, shard)
			slices.Sort(got)
			missing := 0
			for _, a := range acked {
				if _, ok := slices.BinarySearch(got, a); !ok {
					missing++
				}
			}
			dup := len(got) != len(slices.Compact(slices.Clone(got)))
			require.False(c.t, dup, "site %v reads a message of shard %d twice", s.id, shard)
			if missing == 0 {
				break
			}
			require.True(c.t, time.Now().Before(deadline), "site %v misses %d acknowledged messages of shard %d", s.id, missing, shard)
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, s := range c.sites {
		if s.db != nil {
			require.NoError(c.t, s.db.Check(), "site %v", s.id)
		}
	}
}

// TestMoveShardToNewSite: a fourth site joins a three-site cluster while writes run, and one
// shard moves onto it and off another site (SetReplicas). The voters never drop below the
// replication factor; every acknowledged write is on the new replica set, once; the site
// that left has dropped the shard; ds.Check passes everywhere.
func TestMoveShardToNewSite(t *testing.T) {
	log := &confLog{}
	c := (&testCluster{t: t, shards: 2, confHook: log.hook}).run(3)
	p, before := topics(0, 0, 20)
	c.write(0, p...)
	w := startWriter(c, 0)
	d := c.addSite()
	from := c.sites[2].id
	to := []site.ID{c.sites[0].id, c.sites[1].id, c.sites[d].id}
	start := time.Now()
	plan, err := c.sites[2].node.SetReplicas(context.Background(), 0, to)
	require.NoError(t, err)
	require.Len(t, plan.Shards, 1)
	require.Equal(t, []site.ID{c.sites[d].id}, plan.Shards[0].Add)
	require.Equal(t, []site.ID{from}, plan.Shards[0].Remove)
	c.waitTarget(0, to)
	moved := time.Since(start)
	acked := w.finish()
	require.NotEmpty(t, acked)
	c.checkReplicas(0, to, append(acked, before...))
	require.Zero(t, spanKeys(t, c.sites[2], 0), "the site that left dropped the shard's span")
	minVoters, changes := log.min(0)
	require.GreaterOrEqual(t, minVoters, 3, "voters fell below the replication factor")
	require.GreaterOrEqual(t, changes, 3)
	var done uint64
	for _, s := range c.sites {
		done += s.node.Metrics().TransitionsDone
	}
	require.GreaterOrEqual(t, done, uint64(3))
	t.Logf("shard moved in %v with %d messages written meanwhile (%d before)", moved, len(acked), len(before))

	// Shard 1 did not move.
	st, err := c.sites[c.leader(1)].node.Status(1)
	require.NoError(t, err)
	require.Len(t, st.Voters, 3)
	require.Empty(t, st.Target)
}

// TestJoinLeaveAndRestartMidTransition: a site joins (every shard rebalanced onto four sites),
// a founding site leaves, and a move is interrupted by restarting both the shard's leader and
// the site being added; the transition resumes and completes, and nothing acknowledged is lost.
func TestJoinLeaveAndRestartMidTransition(t *testing.T) {
	const shards = 4
	c := newTestCluster(t, 3, shards)
	acked := c.writeEach(10)
	d := c.addSite()
	ctx := context.Background()
	plan, err := c.sites[0].node.JoinSite(ctx, c.sites[d].id)
	require.NoError(t, err)
	added := 0
	for _, sp := range plan.Shards {
		added += len(sp.Add)
		c.waitTarget(sp.Shard, sp.To)
	}
	require.Equal(t, 3, added, "three of twelve replicas move to the fourth site")
	// Leaders are balanced too: each of the four sites leads one shard.
	leads := map[int]int{}
	for shard := range shards {
		leads[c.leader(shard)]++
	}
	require.Len(t, leads, 4, "leaders by site: %v", leads)
	for shard := range shards {
		st, err := c.sites[0].node.ShardStatus(ctx, shard)
		require.NoError(t, err)
		c.checkReplicas(shard, st.Voters, acked[shard])
	}

	// A founding site leaves: every shard it held moves to the others.
	leaving := c.sites[1].id
	plan, err = c.sites[d].node.LeaveSite(ctx, leaving)
	require.NoError(t, err)
	require.NotEmpty(t, plan.Shards)
	for _, sp := range plan.Shards {
		require.Contains(t, [][]site.ID{nil, {leaving}}, sp.Remove)
		c.waitTarget(sp.Shard, sp.To)
	}
	for shard := range shards {
		_, err := c.sites[1].node.Status(shard)
		require.ErrorIs(t, err, ErrNotReplica, "shard %d", shard)
		st, err := c.sites[0].node.ShardStatus(ctx, shard)
		require.NoError(t, err)
		c.checkReplicas(shard, st.Voters, acked[shard])
	}

	// Move shard 0 back onto the site that left, with raft messages to it cut (its HTTP
	// requests pass, so the leader has it create its replica), so that the move stops at
	// "catch up learner"; restart the leader and the new replica's site, heal: the move
	// resumes from the applied target and configuration.
	st, err := c.sites[0].node.ShardStatus(ctx, 0)
	require.NoError(t, err)
	to := append(filter(st.Voters, func(id site.ID) bool { return id != st.Voters[0] }), leaving)
	cut := func(_, to site.ID, group uint32) bool { return to != leaving || group == transport.HTTPGroup }
	for _, s := range c.sites {
		s.node.Transport().SetFilter(cut)
	}
	_, err = c.sites[0].node.SetReplicas(ctx, 0, to)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := c.sites[c.leader(0)].node.Status(0)
		return err == nil && strings.HasPrefix(st.Pending, "catch up")
	}, waitFor, 10*time.Millisecond)
	l := c.leader(0)
	c.stop(l)
	c.stop(1)
	for _, s := range c.sites {
		if s.node != nil {
			s.node.Transport().SetFilter(nil)
		}
	}
	c.start(l)
	c.start(1)
	p, tp := topics(0, 10, 20)
	c.write(0, p...)
	acked[0] = append(acked[0], tp...)
	c.waitTarget(0, to)
	c.checkReplicas(0, to, acked[0])
}

// TestSetReplicasRefusesUnknownSites: a site without an address is refused; forgetting a site
// that is up is refused; a site may not leave when fewer sites than the replication factor
// would be left.
func TestSetReplicasRefusesUnknownSites(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	ctx := context.Background()
	_, err := c.sites[0].node.SetReplicas(ctx, 0, []site.ID{c.sites[0].id, 0x9999})
	require.ErrorIs(t, err, ErrUnknownSite)
	_, err = c.sites[0].node.SetReplicas(ctx, 0, nil)
	require.ErrorIs(t, err, ErrInvalidReplicas)
	_, err = c.sites[0].node.ForgetSite(ctx, c.sites[1].id)
	require.ErrorIs(t, err, ErrInvalidReplicas, "site 1 is up")
	_, err = c.sites[0].node.ForgetSite(ctx, 0x9999)
	require.True(t, errors.Is(err, ErrUnknownSite))
	_, err = c.sites[0].node.LeaveSite(ctx, c.sites[1].id)
	require.ErrorIs(t, err, ErrInvalidReplicas, "two sites left for a replication factor of three")
}

// TestForgetDeadSite: a fourth site joins, then a founding site dies and is forgotten; the
// replica it held moves to the fourth site with the two live voters as the quorum, the voters
// never below three; when the forgotten site comes back, its replica finds that it left the
// group and drops the shard.
func TestForgetDeadSite(t *testing.T) {
	log := &confLog{}
	c := (&testCluster{t: t, shards: 2, confHook: log.hook}).run(3)
	acked := c.writeEach(20)
	d := c.addSite()
	ctx := context.Background()
	plan, err := c.sites[0].node.JoinSite(ctx, c.sites[d].id)
	require.NoError(t, err)
	for _, sp := range plan.Shards {
		c.waitTarget(sp.Shard, sp.To)
	}
	const dead = 2
	c.stop(dead)
	require.Eventually(t, func() bool { // refused while the site is still seen up
		plan, err = c.sites[0].node.ForgetSite(ctx, c.sites[dead].id)
		return err == nil
	}, waitFor, 20*time.Millisecond)
	require.False(t, slices.ContainsFunc(c.sites[0].node.Sites(), func(s SiteStatus) bool { return s.ID == c.sites[dead].id }),
		"a forgotten site is no longer listed")
	moved := 0
	for _, sp := range plan.Shards {
		if len(sp.Remove) > 0 { // else only the shard's leader changes
			require.Equal(t, []site.ID{c.sites[dead].id}, sp.Remove)
			require.Equal(t, []site.ID{c.sites[d].id}, sp.Add)
			moved++
		}
		c.waitTarget(sp.Shard, sp.To)
	}
	require.Positive(t, moved)
	for shard := range 2 {
		p, tp := topics(shard, 20, 30)
		c.write(shard, p...)
		acked[shard] = append(acked[shard], tp...)
		st, err := c.sites[0].node.ShardStatus(ctx, shard)
		require.NoError(t, err)
		require.NotContains(t, st.Voters, c.sites[dead].id)
		c.checkReplicas(shard, st.Voters, acked[shard])
		minVoters, _ := log.min(shard)
		require.GreaterOrEqual(t, minVoters, 3)
	}

	c.start(dead)
	require.Eventually(t, func() bool {
		for shard := range 2 {
			if _, err := c.sites[dead].node.Status(shard); !errors.Is(err, ErrNotReplica) {
				return false
			}
		}
		return true
	}, waitFor, 20*time.Millisecond, "the forgotten site still holds a shard")
	for shard := range 2 {
		require.Zero(t, spanKeys(t, c.sites[dead], shard), "the forgotten site dropped shard %d", shard)
	}
}
