package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/raftstore"
	"github.com/mqttds/mqttds/replication/site"
)

// testCluster runs sites in this process, each with its own store on disk and its own
// transport on loopback.
type testCluster struct {
	t      testing.TB
	mod    func(*Config)
	shards int
	ids    []site.ID // the founding sites
	sites  []*testSite
	// confHook, when set, is installed on every node started (Node.confApplied).
	confHook func(shard int, cs *pb.ConfState)
}

type testSite struct {
	id   site.ID
	dir  string
	addr string
	node *Node
	db   *ds.DB
	// installed counts the snapshots this site installed in its earlier runs.
	installed uint64
}

const (
	testTick          = 20 * time.Millisecond
	testElectionTicks = 10
	waitFor           = 20 * time.Second
)

func newTestCluster(t testing.TB, n, shards int, mod ...func(*Config)) *testCluster {
	c := &testCluster{t: t, shards: shards}
	if len(mod) > 0 {
		c.mod = mod[0]
	}
	return c.run(n)
}

// run starts n founding sites.
func (c *testCluster) run(n int) *testCluster {
	t := c.t
	for i := range n {
		id := site.ID(0x1000 + i)
		c.ids = append(c.ids, id)
		c.sites = append(c.sites, &testSite{id: id, dir: filepath.Join(t.TempDir(), id.String())})
	}
	for i := range c.sites {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.sites {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) start(i int) {
	t := c.t
	s := c.sites[i]
	listen := s.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var node *Node
	require.Eventually(t, func() bool { // a restarted site's port may take a moment to free
		var err error
		cfg := Config{Site: s.id, Sites: c.ids, NumShards: c.shards, Listen: listen,
			TickInterval: testTick, ElectionTicks: testElectionTicks,
			Logger: testLogger()}
		if c.mod != nil {
			c.mod(&cfg)
		}
		node, err = NewNode(cfg)
		return err == nil
	}, waitFor, 10*time.Millisecond)
	s.addr = node.Addr()
	node.confApplied = c.confHook
	db, err := ds.Open(s.dir, node.StoreOptions(&ds.Options{Retention: ds.RetentionOptions{Disabled: true}}))
	require.NoError(t, err)
	require.NoError(t, node.Start(db))
	s.node, s.db = node, db
	for _, o := range c.sites {
		if o.addr != "" && o != s {
			node.AddPeer(o.id, o.addr)
			if o.node != nil {
				o.node.AddPeer(s.id, s.addr)
			}
		}
	}
}

// testLogger discards the nodes' logs, unless MQTTDS_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("MQTTDS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// stop closes a site: the store first (its last flushes need the groups), then the node.
func (c *testCluster) stop(i int) {
	s := c.sites[i]
	if s.node == nil {
		return
	}
	require.NoError(c.t, s.db.Close())
	s.installed += s.node.Metrics().SnapshotsReceived
	require.NoError(c.t, s.node.Close())
	s.node, s.db = nil, nil
}

// snapshotsInstalled counts the snapshots every site installed, over all its runs.
func (c *testCluster) snapshotsInstalled() uint64 {
	var n uint64
	for _, s := range c.sites {
		n += s.installed
		if s.node != nil {
			n += s.node.Metrics().SnapshotsReceived
		}
	}
	return n
}

// leader waits until one running site leads shard and returns its index.
func (c *testCluster) leader(shard int) int {
	c.t.Helper()
	found := -1
	require.Eventually(c.t, func() bool {
		found = -1
		for i, s := range c.sites {
			if s.node == nil {
				continue
			}
			st, err := s.node.Status(shard)
			if err == nil && st.Leading {
				found = i
				return true
			}
		}
		return false
	}, waitFor, 5*time.Millisecond, "no leader for shard %d", shard)
	return found
}

// clientFor returns a client id whose messages go to shard.
func clientFor(shard, shards int) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("client-%d", i); ds.ShardOf(id, shards) == shard {
			return id
		}
	}
}

// write stores msgs on shard's leader, retrying on another leader while elections settle. It
// returns once they are acknowledged.
func (c *testCluster) write(shard int, payloads ...string) {
	c.t.Helper()
	client := clientFor(shard, c.shards)
	msgs := make([]ds.Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = ds.Message{ClientID: client, Topic: fmt.Sprintf("t/%d/%s", shard, p), Payload: []byte(p), QoS: 1}
	}
	deadline := time.Now().Add(waitFor)
	for {
		l := c.leader(shard)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.sites[l].db.Store(ctx, msgs, ds.Sync)
		cancel()
		if err == nil {
			return
		}
		require.True(c.t, errors.Is(err, ErrNotLeader) || errors.Is(err, ds.ErrNotCommitted) || errors.Is(err, context.DeadlineExceeded),
			"unexpected write error: %v", err)
		require.True(c.t, time.Now().Before(deadline), "shard %d: no write succeeded: %v", shard, err)
	}
}

// payloads returns the topics of every message in db, sorted.
// writeEach writes n messages to every shard and returns each shard's acknowledged topics.
func (c *testCluster) writeEach(n int) [][]string {
	acked := make([][]string, c.shards)
	for shard := range c.shards {
		p, tp := topics(shard, 0, n)
		c.write(shard, p...)
		acked[shard] = tp
	}
	return acked
}

func payloads(t testing.TB, db *ds.DB) []string {
	t.Helper()
	var out []string
	for _, m := range readMessages(t, db, "#") {
		out = append(out, m.Topic)
	}
	slices.Sort(out)
	return out
}

// readMessages reads every message matching filter, stream by stream, each in its order.
func readMessages(t testing.TB, db *ds.DB, filter string) []ds.StoredMessage {
	t.Helper()
	streams, err := db.GetStreams(filter, 0)
	require.NoError(t, err)
	var out []ds.StoredMessage
	for _, rs := range streams {
		it, err := db.MakeIterator(rs.Stream, filter, 0)
		require.NoError(t, err)
		for {
			msgs, next, err := db.Next(context.Background(), it, 500)
			if errors.Is(err, ds.ErrEndOfStream) || err == nil && len(msgs) == 0 {
				break
			}
			require.NoError(t, err)
			out = append(out, msgs...)
			it = next
		}
	}
	return out
}

// converged waits until every running site reads the same messages, which include want.
func (c *testCluster) converged(want []string) {
	c.t.Helper()
	var last string
	ok := func() bool {
		var first []string
		for i, s := range c.sites {
			if s.node == nil {
				continue
			}
			got := payloads(c.t, s.db)
			if first == nil {
				first = got
			}
			if !slices.Equal(first, got) {
				last = fmt.Sprintf("site %d reads %d messages, another %d", i, len(got), len(first))
				return false
			}
			for _, w := range want {
				if _, found := slices.BinarySearch(got, w); !found {
					last = fmt.Sprintf("site %d misses acknowledged %s", i, w)
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(waitFor)
	for !ok() {
		require.True(c.t, time.Now().Before(deadline), "replicas did not converge: %s", last)
		time.Sleep(10 * time.Millisecond)
	}
}

func topics(shard int, from, to int) (payloads []string, topics []string) {
	for i := from; i < to; i++ {
		p := fmt.Sprintf("m%04d", i)
		payloads = append(payloads, p)
		topics = append(topics, fmt.Sprintf("t/%d/%s", shard, p))
	}
	return payloads, topics
}

// TestClusterReplicatesAndFailsOver: three sites, two shards. Acknowledged writes reach every
// replica; when a shard's leader stops, another site takes over and accepts writes; the
// stopped site comes back, replays its log and catches up; every replica reads the same.
func TestClusterReplicatesAndFailsOver(t *testing.T) {
	c := newTestCluster(t, 3, 2)
	var acked []string
	for shard := range 2 {
		for batch := range 5 {
			p, tp := topics(shard, batch*10, batch*10+10)
			c.write(shard, p...)
			acked = append(acked, tp...)
		}
	}
	slices.Sort(acked)
	c.converged(acked)

	// A write on a follower goes to the leader: messages and KV writes alike.
	l := c.leader(0)
	f := c.sites[(l+1)%3]
	require.NoError(t, f.db.Store(context.Background(), []ds.Message{{ClientID: clientFor(0, 2), Topic: "t/0/via-follower", Payload: []byte("x")}}, ds.Sync))
	acked = append(acked, "t/0/via-follower")
	slices.Sort(acked)
	require.NotZero(t, f.node.Metrics().Forwarded)
	table, err := f.db.Table("sessions")
	require.NoError(t, err)
	b := f.db.NewBatch(0)
	b.Put(table, []byte("k"), []byte("v"))
	require.NoError(t, f.db.Apply(context.Background(), b, ds.Sync))
	c.converged(acked)
	for _, s := range c.sites {
		tb, err := s.db.Table("sessions")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			v, err := tb.Get(0, []byte("k"))
			return err == nil && string(v) == "v"
		}, waitFor, 5*time.Millisecond, "the KV write reached every replica")
	}

	c.stop(l)
	for shard := range 2 {
		p, tp := topics(shard, 100, 120)
		c.write(shard, p...)
		acked = append(acked, tp...)
	}
	slices.Sort(acked)
	require.NotEqual(t, l, c.leader(0), "a stopped site does not lead")
	c.converged(acked)

	c.start(l)
	for shard := range 2 {
		p, tp := topics(shard, 200, 205)
		c.write(shard, p...)
		acked = append(acked, tp...)
	}
	slices.Sort(acked)
	c.converged(acked)
	for _, s := range c.sites {
		require.NoError(t, s.db.Check())
	}
}

// TestPartitionedLeaderStepsDown cuts a shard's leader off from its peers: it stops
// accepting writes (CheckQuorum), the majority elects another leader and goes on; once the
// partition heals the old leader follows and reads everything acknowledged meanwhile.
func TestPartitionedLeaderStepsDown(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	p, acked := topics(0, 0, 10)
	c.write(0, p...)
	old := c.leader(0)
	cut := c.sites[old].id
	isolate := func(from, to site.ID, _ uint32) bool { return from != cut && to != cut }
	for _, s := range c.sites {
		s.node.Transport().SetFilter(isolate)
	}
	// The majority elects a new leader, and writes there succeed.
	var newLeader int
	require.Eventually(t, func() bool {
		for i, s := range c.sites {
			if st, err := s.node.Status(0); i != old && err == nil && st.Leading {
				newLeader = i
				return true
			}
		}
		return false
	}, waitFor, 5*time.Millisecond)
	// The old leader steps down: its writes fail instead of hanging.
	require.Eventually(t, func() bool {
		st, _ := c.sites[old].node.Status(0)
		return !st.Leading
	}, waitFor, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := c.sites[old].db.Store(ctx, []ds.Message{{ClientID: clientFor(0, 1), Topic: "lost", Payload: []byte("x")}}, ds.Sync)
	cancel()
	require.Error(t, err, "the cut-off site can neither commit nor reach the leader")
	p2, tp2 := topics(0, 10, 20)
	msgs := make([]ds.Message, len(p2))
	for i := range p2 {
		msgs[i] = ds.Message{ClientID: clientFor(0, 1), Topic: tp2[i], Payload: []byte(p2[i]), QoS: 1}
	}
	require.NoError(t, c.sites[newLeader].db.Store(context.Background(), msgs, ds.Sync))
	acked = append(acked, tp2...)
	for _, s := range c.sites {
		s.node.Transport().SetFilter(nil)
	}
	slices.Sort(acked)
	c.converged(acked)
	got := payloads(t, c.sites[old].db)
	require.NotContains(t, got, "lost", "a write refused by a partitioned leader never appears")
}

// TestReadyContractOrder pins the order of the steps of a group's pass to the numbered list
// in doc.go: every pass starts with step 1, and the steps of each Ready follow 2..9.
func TestReadyContractOrder(t *testing.T) {
	doc := readDoc(t)
	want := []string{"step", "ready", "leadership", "leader-send", "persist", "send", "apply", "reads", "advance"}
	require.Equal(t, want, doc, "doc.go lists the Ready contract steps in this order")

	id := site.ID(0x77)
	node, err := NewNode(Config{Site: id, Sites: []site.ID{id}, NumShards: 1, TickInterval: testTick,
		ElectionTicks: testElectionTicks, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	db, err := ds.Open(t.TempDir(), &ds.Options{NumShards: 1, NewApplier: node.NewApplier, DeferFirstGeneration: true})
	require.NoError(t, err)
	var mu sync.Mutex
	var steps []int
	node.groups[0].Load().trace = func(s int) {
		mu.Lock()
		steps = append(steps, s)
		mu.Unlock()
	}
	require.NoError(t, node.Start(db))
	defer node.Close()
	defer db.Close()
	require.Eventually(t, func() bool { st, _ := node.Status(0); return st.Leading }, waitFor, 5*time.Millisecond)
	require.NoError(t, db.Store(context.Background(), []ds.Message{{ClientID: "c", Topic: "a/b", Payload: []byte("p")}}, ds.Sync))
	require.NoError(t, node.Barrier(context.Background(), 0), "a read barrier goes through the steps too")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, steps)
	require.Equal(t, 1, steps[0])
	readies := 0
	for i := 1; i < len(steps); i++ {
		prev, cur := steps[i-1], steps[i]
		switch {
		case cur == 1: // a new pass: the previous one ended after step 1 or 9
			require.Contains(t, []int{1, 9}, prev, "pass ended at step %d", prev)
		case cur == 2:
			require.Contains(t, []int{1, 9}, prev)
			readies++
		default:
			require.Equal(t, prev+1, cur, "step %d after step %d", cur, prev)
		}
	}
	require.Greater(t, readies, 2, "the election and the write went through Readies")
}

// readDoc returns the names of the Ready contract steps listed in doc.go ("N. name: ...").
func readDoc(t *testing.T) []string {
	data, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "//"))
		num, rest, ok := strings.Cut(line, ". ")
		if !ok || len(num) != 1 || num[0] != byte('1'+len(names)) {
			continue
		}
		name, _, ok := strings.Cut(rest, ":")
		if ok {
			names = append(names, name)
		}
	}
	return names
}

// TestCompactionKeepsWhatAVoterNeeds: the leader compacts the shard's log once every voter has
// the entries; while a voter is down the log keeps what it has not got, so it catches up from
// the log when it returns, and compaction resumes after.
func TestCompactionKeepsWhatAVoterNeeds(t *testing.T) {
	c := newTestCluster(t, 3, 1, func(cfg *Config) { cfg.CompactEntries = 20; cfg.SnapshotLag = 1000 })
	var acked []string
	write := func(from, to int) {
		for i := from; i < to; i++ {
			p, tp := topics(0, i, i+1)
			c.write(0, p...)
			acked = append(acked, tp...)
		}
		slices.Sort(acked)
	}
	firstIndexes := func() []uint64 {
		var out []uint64
		for _, s := range c.sites {
			if s.node != nil {
				st, err := s.node.Status(0)
				require.NoError(t, err)
				out = append(out, st.FirstIndex)
			}
		}
		return out
	}
	write(0, 60)
	require.Eventually(t, func() bool {
		for _, f := range firstIndexes() {
			if f < 20 {
				return false
			}
		}
		return true
	}, waitFor, 10*time.Millisecond, "every replica compacts: %v", firstIndexes())

	down := (c.leader(0) + 1) % 3
	c.stop(down)
	held := lastLogIndex(t, c.sites[down].dir, 0)
	write(60, 120)
	for _, f := range firstIndexes() {
		require.LessOrEqual(t, f, held+1, "a replica discarded entries the stopped voter has not got")
	}
	c.start(down)
	c.converged(acked)
	write(120, 180)
	c.converged(acked)
	require.Eventually(t, func() bool {
		for _, f := range firstIndexes() {
			if f <= held+1 {
				return false
			}
		}
		return true
	}, waitFor, 10*time.Millisecond, "compaction resumes once the voter is back: %v", firstIndexes())
	var compactions uint64
	for _, s := range c.sites {
		compactions += s.node.Metrics().Compactions
	}
	require.NotZero(t, compactions)
}

// lastLogIndex reads the last raft log index of group from a stopped site's store.
func lastLogIndex(t *testing.T, dir string, group uint32) uint64 {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	require.NoError(t, err)
	defer db.Close()
	st, err := raftstore.Open(db, group)
	require.NoError(t, err)
	last, err := st.LastIndex()
	require.NoError(t, err)
	return last
}

// quietPebble drops pebble's informational logs (WAL recovery at every open) from test output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)              {}
func (quietPebble) Errorf(format string, args ...any) { fmt.Printf("pebble: "+format+"\n", args...) }
func (quietPebble) Fatalf(format string, args ...any) { panic(fmt.Sprintf("pebble: "+format, args...)) }
