package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication"
	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/transport"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/config"
	"github.com/mqttds/mqttds/server/peering"
)

// joinTimeout bounds how long a site waits at start for the others (all of them at the first
// start, when shards are placed; a majority of each shard's replicas later).
const joinTimeout = 5 * time.Minute

// openStore opens the store of the broker: on its own (n_sites 1), or as one site of a
// replicated cluster, which it then sets as opts.Cluster. close releases it (the store first:
// its last writes need the cluster).
func openStore(cfg *config.Config, opts *server.Options, log *slog.Logger, stop <-chan os.Signal) (db *ds.DB, close func(), err error) {
	m := cfg.DurableStorage.Messages
	if m.NSites <= 1 {
		db, err := ds.Open(opts.Durable.Dir, opts.Durable.Storage)
		if err != nil {
			return nil, nil, fmt.Errorf("opening the store in %s: %w", opts.Durable.Dir, err)
		}
		return db, func() { db.Close() }, nil
	}
	id, err := site.Load(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	var tlsCfg *tls.Config
	if c := m.Cluster; c.CertFile != "" {
		if tlsCfg, err = transport.LoadTLS(c.CertFile, c.KeyFile, c.CAFile); err != nil {
			return nil, nil, fmt.Errorf("durable_storage.messages.cluster: %w", err)
		}
	}
	node, err := replication.NewNode(replication.Config{Site: id, NumShards: m.NShards,
		ReplicationFactor: m.ReplicationFactor, Listen: m.Cluster.Bind, TLS: tlsCfg, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("durable_storage.messages.cluster.bind: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	log.Info("joining the cluster", "site", id.String(), "bind", node.Addr(), "n_sites", m.NSites, "tls", tlsCfg != nil,
		"discovery", m.Cluster.Discovery)
	fail := func(err error) (*ds.DB, func(), error) {
		node.Close()
		return nil, nil, err
	}
	seeds := replication.StaticSeeds(m.Cluster.Seeds)
	if m.Cluster.Discovery == "dns" {
		_, port, err := net.SplitHostPort(m.Cluster.Bind)
		if err != nil {
			return fail(fmt.Errorf("durable_storage.messages.cluster.bind: %w", err))
		}
		seeds = replication.DNSSeeds(nil, m.Cluster.DNS.Name, m.Cluster.DNS.RecordType, port, log)
	}
	if err := node.JoinSeeds(ctx, cfg.DataDir, seeds, m.NSites); err != nil {
		return fail(err)
	}
	db, err = ds.Open(opts.Durable.Dir, node.StoreOptions(opts.Durable.Storage))
	if err != nil {
		return fail(fmt.Errorf("opening the store in %s: %w", opts.Durable.Dir, err))
	}
	if err := node.Start(db); err != nil {
		db.Close()
		return fail(err)
	}
	if err := node.WaitLeaders(ctx); err != nil {
		db.Close()
		return fail(err)
	}
	opts.Cluster = clusterView{node}
	// The brokers' peering, over the same transport: it carries messages to the other brokers'
	// in-memory sessions. The broker is attached once made (attachPeers).
	pn, err := peering.New(peering.Config{Self: id.String(), Transport: peerTransport{node}, Logger: log})
	if err != nil {
		db.Close()
		return fail(err)
	}
	// Every site known now, and any that joins the formed cluster later (one that joins
	// between the two steps is in Sites by then; AddPeer takes a known one once).
	node.OnSiteJoined(func(s site.ID) { pn.AddPeer(s.String()) })
	for _, s := range node.Sites() {
		pn.AddPeer(s.ID.String())
	}
	node.Handle(peering.PathPrefix, pn.Handler())
	opts.Peers = pn
	log.Info("cluster joined", "site", id.String(), "sites", len(node.Placement().Sites()),
		"replication_factor", m.ReplicationFactor)
	return db, func() {
		pn.Close()
		db.Close()
		node.Close()
	}, nil
}

// attachPeers gives the broker to the peering that openStore set up, if any, so that the
// other brokers' messages reach its sessions.
func attachPeers(opts *server.Options, srv *server.Server) {
	if pn, ok := opts.Peers.(*peering.Node); ok {
		pn.SetBroker(srv)
	}
}

// peerTransport is peering.Transport over the replication node: node names are site ids.
type peerTransport struct{ n *replication.Node }

func (t peerTransport) Post(ctx context.Context, node, path string, body []byte) (int, error) {
	id, err := site.Parse(node)
	if err != nil {
		return 0, err
	}
	return t.n.Post(ctx, id, path, http.Header{peering.NodeHeader: {t.n.Site().String()}}, body)
}

// clusterView is server.Cluster over a replication.Node.
type clusterView struct{ n *replication.Node }

func (v clusterView) Site() string { return v.n.Site().String() }

func (v clusterView) Sites() []server.ClusterSite {
	var out []server.ClusterSite
	for _, s := range v.n.Sites() {
		out = append(out, server.ClusterSite{ID: s.ID.String(), Addr: s.Addr, Up: s.Up})
	}
	return out
}

func (v clusterView) Shard(shard int) server.ClusterShard {
	var out server.ClusterShard
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// This site's replica if it holds one, else the shard's leader (replica sets move).
	st, err := v.n.ShardStatus(ctx, shard)
	if err != nil {
		for _, id := range v.n.Placement().Replicas(shard) {
			out.Replicas = append(out.Replicas, id.String())
		}
		return out
	}
	out.Replicas, out.Learners, out.Target, out.Pending = siteStrings(st.Voters), siteStrings(st.Learners), siteStrings(st.Target), st.Pending
	if st.Leader != 0 {
		out.Leader = st.Leader.String()
	}
	if local, err := v.n.Status(shard); err == nil {
		out.Local = &server.ReplicaState{Leading: local.Leading, Term: local.Term, Commit: local.Commit, Applied: local.Applied,
			Queue: local.Queue, Proposed: local.Proposed}
		for _, p := range local.Progress {
			out.Local.Progress = append(out.Local.Progress, server.ReplicaProgress{Site: p.Site.String(), Match: p.Match, Lag: p.Lag})
		}
	}
	return out
}

func siteStrings(ids []site.ID) []string {
	if ids == nil {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// CommitLatency implements server.ClusterLatencies.
func (v clusterView) CommitLatency() ds.Latency { return v.n.Metrics().CommitLatency }

func (v clusterView) Counters() server.ClusterCounters {
	m := v.n.Metrics()
	return server.ClusterCounters{Applied: m.Applied, Leaderships: m.Leaderships, Failures: m.Failures,
		Forwarded: m.Forwarded, RemoteReads: m.RemoteReads, ServedReads: m.ServedReads, Sent: m.Transport.Sent, Received: m.Transport.Received, Dropped: m.Transport.Dropped,
		SnapshotsSent: m.SnapshotsSent, SnapshotsReceived: m.SnapshotsReceived, SnapshotFailures: m.SnapshotFailures,
		TransitionsDone: m.TransitionsDone, TransitionsFailed: m.TransitionsFailed}
}

// The membership changes (server.ClusterMembers).

func (v clusterView) StorageSites(ctx context.Context) ([]string, error) {
	ids, err := v.n.StorageSites(ctx)
	return siteStrings(ids), err
}

func (v clusterView) SetReplicas(ctx context.Context, sites []string) (server.ClusterPlan, error) {
	ids := make([]site.ID, len(sites))
	for i, s := range sites {
		id, err := parseSite(s)
		if err != nil {
			return server.ClusterPlan{}, err
		}
		ids[i] = id
	}
	return planView(v.n.SetReplicas(ctx, replication.AllShards, ids))
}

func (v clusterView) JoinSite(ctx context.Context, s string) (server.ClusterPlan, error) {
	id, err := parseSite(s)
	if err != nil {
		return server.ClusterPlan{}, err
	}
	return planView(v.n.JoinSite(ctx, id))
}

func (v clusterView) LeaveSite(ctx context.Context, s string) (server.ClusterPlan, error) {
	id, err := parseSite(s)
	if err != nil {
		return server.ClusterPlan{}, err
	}
	return planView(v.n.LeaveSite(ctx, id))
}

func (v clusterView) ForgetSite(ctx context.Context, s string) (server.ClusterPlan, error) {
	id, err := parseSite(s)
	if err != nil {
		return server.ClusterPlan{}, err
	}
	return planView(v.n.ForgetSite(ctx, id))
}

func parseSite(s string) (site.ID, error) {
	id, err := site.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", server.ErrSiteNotFound, err)
	}
	return id, nil
}

// planView turns a replication plan and error into the server's.
func planView(p replication.Plan, err error) (server.ClusterPlan, error) {
	switch {
	case errors.Is(err, replication.ErrUnknownSite):
		return server.ClusterPlan{}, fmt.Errorf("%w: %v", server.ErrSiteNotFound, err)
	case errors.Is(err, replication.ErrInvalidReplicas):
		return server.ClusterPlan{}, fmt.Errorf("%w: %v", server.ErrReplicasRefused, err)
	case err != nil:
		return server.ClusterPlan{}, err
	}
	out := server.ClusterPlan{Shards: []server.ShardPlan{}}
	for _, sp := range p.Shards {
		v := server.ShardPlan{Shard: sp.Shard, From: nonNil(siteStrings(sp.From)), To: nonNil(siteStrings(sp.To)),
			Add: nonNil(siteStrings(sp.Add)), Remove: nonNil(siteStrings(sp.Remove))}
		if sp.Leader != 0 {
			v.Leader = sp.Leader.String()
		}
		out.Shards = append(out.Shards, v)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
