package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication"
	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/transport"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/config"
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
	log.Info("joining the cluster", "site", id.String(), "bind", node.Addr(), "n_sites", m.NSites, "tls", tlsCfg != nil)
	fail := func(err error) (*ds.DB, func(), error) {
		node.Close()
		return nil, nil, err
	}
	if err := node.Join(ctx, cfg.DataDir, m.Cluster.Seeds, m.NSites); err != nil {
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
	log.Info("cluster joined", "site", id.String(), "sites", len(node.Placement().Sites()),
		"replication_factor", m.ReplicationFactor)
	return db, func() {
		db.Close()
		node.Close()
	}, nil
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
	for _, id := range v.n.Placement().Replicas(shard) {
		out.Replicas = append(out.Replicas, id.String())
	}
	if st, err := v.n.Status(shard); err == nil {
		if st.Leader != 0 {
			out.Leader = st.Leader.String()
		}
		out.Local = &server.ReplicaState{Leading: st.Leading, Term: st.Term, Commit: st.Commit, Applied: st.Applied}
	}
	return out
}

func (v clusterView) Counters() server.ClusterCounters {
	m := v.n.Metrics()
	return server.ClusterCounters{Applied: m.Applied, Leaderships: m.Leaderships, Failures: m.Failures,
		Forwarded: m.Forwarded, Sent: m.Transport.Sent, Received: m.Transport.Received, Dropped: m.Transport.Dropped,
		SnapshotsSent: m.SnapshotsSent, SnapshotsReceived: m.SnapshotsReceived, SnapshotFailures: m.SnapshotFailures}
}
