package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/replication"
	"github.com/mqttds/mqttds/replication/site"
)

// clusteredServer starts a broker on a replicated store of one site (every shard a raft
// group of one voter): the clustered code paths (forwarding, shared sessions, every PUBLISH
// stored) without a second process.
func clusteredServer(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	node, err := replication.NewNode(replication.Config{Site: site.ID(1), Sites: []site.ID{1}, NumShards: 4,
		TickInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	db, err := ds.Open(filepath.Join(dir, "ds"), node.StoreOptions(&ds.Options{}))
	require.NoError(t, err)
	require.NoError(t, node.Start(db))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, node.WaitLeaders(ctx))
	t.Cleanup(func() {
		db.Close()
		node.Close()
	})
	return durableServer(t, dir, func(o *Options) { o.Durable.DB = db; o.Durable.Clustered = true })
}

// Ensure that the offline queue of a durable session works on a replicated store [MQTT-3.2.2-3] v5.
func TestDurable_ClusteredOfflineMessages(t *testing.T) {
	_, addr := clusteredServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, _ := pahoV5(t, addr, "c-sub", true, 3600)
	_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "off/#", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	pub, _ := pahoV5(t, addr, "c-pub", true, 0)
	for i := range 20 {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "off/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	_, got := pahoV5Present(t, addr, "c-sub", 3600, true)
	for i := range 20 {
		p := receive(t, got)
		require.Equal(t, fmt.Sprint(i), string(p.Payload))
	}
}

// clusteredServers starts n brokers, each on its own site of one replicated store (mods change
// broker i's options), and returns their addresses, the sites' nodes and the brokers.
func clusteredServers(t *testing.T, n int, mods ...func(i int, o *Options)) ([]string, []*replication.Node, []*Server) {
	t.Helper()
	var ids []site.ID
	for i := range n {
		ids = append(ids, site.ID(0x100+i))
	}
	nodes := make([]*replication.Node, n)
	for i := range n {
		node, err := replication.NewNode(replication.Config{Site: ids[i], Sites: ids, NumShards: 4,
			TickInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		nodes[i] = node
	}
	for i, a := range nodes {
		for j, b := range nodes {
			if i != j {
				a.AddPeer(ids[j], b.Addr())
			}
		}
	}
	dbs := make([]*ds.DB, n)
	for i, node := range nodes {
		db, err := ds.Open(filepath.Join(t.TempDir(), "ds"), node.StoreOptions(&ds.Options{}))
		require.NoError(t, err)
		require.NoError(t, node.Start(db))
		dbs[i] = db
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, node := range nodes {
		require.NoError(t, node.WaitLeaders(ctx))
	}
	t.Cleanup(func() {
		for i := range nodes {
			dbs[i].Close()
		}
		for _, node := range nodes {
			node.Close()
		}
	})
	var addrs []string
	var srvs []*Server
	for i := range n {
		srv, addr := durableServer(t, t.TempDir(), func(o *Options) {
			o.Durable.DB = dbs[i]
			o.Durable.Clustered = true
			for _, m := range mods {
				m(i, o)
			}
		})
		addrs, srvs = append(addrs, addr), append(srvs, srv)
	}
	return addrs, nodes, srvs
}

// linkedPeers is the Peers of brokers in one process: a take-over asks every other broker to
// let go directly; nothing is routed (durable sessions need no routes).
type linkedPeers struct {
	self int
	mu   sync.Mutex
	all  []*Server
}

func (p *linkedPeers) Route(string, bool)                  {}
func (p *linkedPeers) Forward(*Message, []string) []string { return nil }
func (p *linkedPeers) Stats() PeerStats                    { return PeerStats{} }

func (p *linkedPeers) TakeOver(_ context.Context, clientID string) {
	p.mu.Lock()
	all := p.all
	p.mu.Unlock()
	for i, s := range all {
		if i != p.self {
			s.LetGo(clientID)
		}
	}
}

// Ensure that a client that goes back to a broker it left resumes the session as the broker it
// was on meanwhile left it: the broker it left made its loaded copy compact when the other took
// the client id over, so it reads the session from the store again.
func TestDurable_ClusteredTakeOverBackAndForth(t *testing.T) {
	peers := []*linkedPeers{{self: 0}, {self: 1}, {self: 2}}
	addrs, _, srvs := clusteredServers(t, 3, func(i int, o *Options) { o.Peers = peers[i] })
	for _, p := range peers {
		p.mu.Lock()
		p.all = srvs
		p.mu.Unlock()
	}
	for _, s := range srvs {
		s.durable.timers.delay.Store(int64(time.Hour)) // no eviction but the take-over's
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const id = "c-roam"
	subscribe := func(c *paho.Client, filter string) {
		_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
		require.NoError(t, err)
	}
	c, _ := pahoV5(t, addrs[0], id, true, 3600)
	subscribe(c, "a/#")
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
	c, _ = pahoV5Present(t, addrs[1], id, 3600, true)
	subscribe(c, "b/#")
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))

	_, got := pahoV5Present(t, addrs[0], id, 3600, true)
	pub, _ := pahoV5(t, addrs[2], "c-roam-pub", true, 0)
	for _, topic := range []string{"b/x", "a/x"} {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)})
		require.NoError(t, err)
	}
	require.Equal(t, "b/x", string(receive(t, got).Payload), "the subscription made on the other broker holds")
	require.Equal(t, "a/x", string(receive(t, got).Payload))
}

// Ensure that a durable session created through one broker of a cluster gets, through a third
// one, the messages published through a second one while it was away [MQTT-3.2.2-3] v5: the
// session and the messages live in the replicated store, not in a broker.
func TestDurable_ClusteredAcrossSites(t *testing.T) {
	addrs, _, _ := clusteredServers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, _ := pahoV5(t, addrs[0], "c-sub", true, 3600)
	_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "off/#", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	pub, _ := pahoV5(t, addrs[1], "c-pub", true, 0)
	for i := range 20 {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "off/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	_, got := pahoV5Present(t, addrs[2], "c-sub", 3600, true)
	for i := range 20 {
		p := receive(t, got)
		require.Equal(t, fmt.Sprint(i), string(p.Payload))
	}
}

// Ensure that a client taken over by a site whose replica lags never resumes a stale session:
// a site that gets no raft entries (only heartbeats) misses the subscription a client added
// through another broker; its CONNECT waits on a read barrier and, while the site cannot
// catch up, is refused with Server unavailable instead of resuming the session without the
// subscription. Once the site catches up, the session resumes with it.
func TestDurable_ClusteredTakeOverReadsCurrentSession(t *testing.T) {
	addrs, nodes, _ := clusteredServers(t, 3)
	const id = "c-move"
	shard := ds.ShardOf(id, 4)
	leader, lagging := -1, -1
	require.Eventually(t, func() bool {
		leader, lagging = -1, -1
		for i, n := range nodes {
			st, err := n.Status(shard)
			require.NoError(t, err)
			if st.Leading {
				leader = i
			} else {
				lagging = i
			}
		}
		return leader >= 0 && lagging >= 0
	}, testTimeout, 5*time.Millisecond)
	first := 3 - leader - lagging
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c, _ := pahoV5(t, addrs[first], id, true, 3600)
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "a/#", QoS: 1}}})
	require.NoError(t, err)
	lag := nodes[lagging].Site()
	for _, n := range nodes {
		n.Transport().SetMessageFilter(func(to site.ID, _ uint32, m *pb.Message) bool {
			return to != lag || m.GetType() != pb.MessageType_MsgApp
		})
	}
	_, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "b/#", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))

	// The lagging site cannot apply what the barrier's read index needs: refused.
	nc, err := net.DialTimeout("tcp", addrs[lagging], testTimeout)
	require.NoError(t, err)
	refused := paho.NewClient(paho.ClientConfig{Conn: nc})
	expiry := uint32(3600)
	start := time.Now()
	ack, err := refused.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.Error(t, err)
	require.NotNil(t, ack)
	require.EqualValues(t, mqtt.ServerUnavailable, ack.ReasonCode)
	require.Less(t, time.Since(start), sessionBarrierTimeout+5*time.Second)

	for _, n := range nodes {
		n.Transport().SetMessageFilter(nil)
	}
	_, got := pahoV5Present(t, addrs[lagging], id, 3600, true)
	pub, _ := pahoV5(t, addrs[leader], "c-move-pub", true, 0)
	_, err = pub.Publish(ctx, &paho.Publish{Topic: "b/x", QoS: 1, Payload: []byte("b")})
	require.NoError(t, err)
	require.Equal(t, "b", string(receive(t, got).Payload), "the resumed session has the subscription made elsewhere")
}

// fakeCluster is a fixed three-site view: site a leads shard 0, b the others; c is down.
type fakeCluster struct{}

func (fakeCluster) Site() string { return "a" }

func (fakeCluster) Sites() []ClusterSite {
	return []ClusterSite{{ID: "a", Addr: "127.0.0.1:1", Up: true}, {ID: "b", Addr: "127.0.0.1:2", Up: true}, {ID: "c", Addr: "127.0.0.1:3"}}
}

func (fakeCluster) Shard(shard int) ClusterShard {
	leader := "b"
	if shard == 0 {
		leader = "a"
	}
	local := &ReplicaState{Leading: shard == 0, Term: 3, Commit: 10 + uint64(shard), Applied: 9 + uint64(shard)}
	if shard == 0 {
		local.Proposed = 5
		local.Progress = []ReplicaProgress{{Site: "b", Match: 10, Lag: 0}, {Site: "c", Match: 4, Lag: 6}}
	}
	return ClusterShard{Replicas: []string{"a", "b", "c"}, Leader: leader, Local: local}
}

func (fakeCluster) Counters() ClusterCounters { return ClusterCounters{Applied: 7, Forwarded: 2} }

func (fakeCluster) CommitLatency() ds.Latency {
	return ds.Latency{Count: 3, Sum: 6 * time.Millisecond, Buckets: []ds.LatencyBucket{
		{Below: 900 * time.Microsecond, Count: 1}, {Below: 2 * time.Millisecond, Count: 1}, {Below: 4 * time.Millisecond, Count: 1}}}
}

// The storage routes and /metrics show a cluster's replicas, leaders and raft state.
func TestAPI_ClusterRows(t *testing.T) {
	srv, _ := durableServer(t, t.TempDir(), func(o *Options) { o.Cluster = fakeCluster{} })
	h := srv.APIHandler()
	var sd StorageDetail
	apiJSON(t, h, "GET", "/api/v1/ds/storages/default", "", http.StatusOK, &sd)
	require.Equal(t, []string{"a", "b", "c"}, sd.Sites)
	require.Equal(t, "a", sd.ShardList[0].Leader)
	zero, six := uint64(0), uint64(6)
	require.Equal(t, []ReplicaView{{Site: "a", Status: "leader", Term: 3, Commit: 10, Applied: 9},
		{Site: "b", Status: "follower", Match: 10, Lag: &zero}, {Site: "c", Status: "follower", Match: 4, Lag: &six}},
		sd.ShardList[0].Replicas)
	require.Nil(t, sd.ShardList[1].Replicas[2].Lag, "a follower site knows no lag")
	require.Equal(t, "leader", sd.ShardList[1].Replicas[1].Status)
	var sites []SiteView
	apiJSON(t, h, "GET", "/api/v1/ds/sites", "", http.StatusOK, &sites)
	require.Len(t, sites, 3)
	require.Equal(t, SiteView{Site: "c", Addr: "127.0.0.1:3", Up: false, Shards: 4}, sites[2])
	require.Equal(t, srv.opts.NodeName, sites[0].Node)
	var site SiteDetail
	apiJSON(t, h, "GET", "/api/v1/ds/sites/b", "", http.StatusOK, &site)
	require.Equal(t, SiteShardView{Storage: "default", Shard: 2, Status: "leader"}, site.ShardList[2])

	rec := apiCall(t, h, "GET", "/metrics", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	for _, want := range []string{`mqttds_replication_leader{shard="0"} 1`, `mqttds_replication_leader{shard="1"} 0`,
		`mqttds_replication_applied_index{shard="2"} 11`, `mqttds_replication_sites_up 2`,
		`mqttds_replication_forwarded_writes_total 2`,
		`mqttds_replication_proposals_total{shard="0"} 5`,
		`mqttds_replication_replica_lag_entries{shard="0",site="b"} 0`,
		`mqttds_replication_replica_lag_entries{shard="0",site="c"} 6`,
		`mqttds_replication_shard_leader_info{shard="1",site="b"} 1`,
		`mqttds_replication_commit_duration_seconds_bucket{le="0.001"} 1`,
		`mqttds_replication_commit_duration_seconds_bucket{le="0.0025"} 2`,
		`mqttds_replication_commit_duration_seconds_count 3`} {
		require.Contains(t, body, want)
	}
}
