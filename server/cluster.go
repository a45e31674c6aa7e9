package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Cluster is the broker's view of the replicated store it runs on, for the API and the
// metrics; nil for a single node. The broker itself needs nothing of it: sessions and messages
// are shared through the store. tools/mqttds implements it over replication.Node, so the
// server does not depend on the replication packages.
type Cluster interface {
	// Site is this site's id (16 hex digits).
	Site() string
	// Sites lists every site of the cluster, sorted by id.
	Sites() []ClusterSite
	// Shard describes the replicas of one shard, as this site knows them.
	Shard(shard int) ClusterShard
	// Counters are this site's replication counters.
	Counters() ClusterCounters
}

// ClusterSite is one site of a cluster.
type ClusterSite struct {
	ID   string
	Addr string
	Up   bool
}

// ClusterShard is one shard's replica set.
type ClusterShard struct {
	Replicas []string // site ids: the voters
	Learners []string // sites being added, catching up
	Leader   string   // "" while no leader is known here
	// Target is the replica set a membership change moves the shard to (nil: none set);
	// Pending the transition under way, "" if none.
	Target  []string
	Pending string
	// Local is this site's replica; nil if this site holds none.
	Local *ReplicaState
}

// ReplicaState is the raft state of this site's replica of a shard.
type ReplicaState struct {
	Leading               bool
	Term, Commit, Applied uint64
	// Queue counts the membership transitions left to reach the shard's target.
	Queue int
	// Proposed counts the batches the replica proposed while leading.
	Proposed uint64
	// Progress is, on the leader, how far every other replica has the log.
	Progress []ReplicaProgress
}

// ReplicaProgress is one replica's position in its leader's log.
type ReplicaProgress struct {
	Site       string
	Match, Lag uint64 // the last index it has; the entries it is behind
}

// ClusterMembers is implemented by a Cluster whose replica sets can change (the PUT and
// DELETE routes of /api/v1/ds/storages/{name}/replicas and DELETE /api/v1/ds/sites/{site}).
// Changes run in the background; each method returns the plan: the shards whose target
// changed. Errors wrap ErrSiteNotFound or ErrReplicasRefused where they apply.
type ClusterMembers interface {
	// StorageSites lists the sites the storage is on (or moving to).
	StorageSites(ctx context.Context) ([]string, error)
	// SetReplicas moves the storage onto sites, balanced.
	SetReplicas(ctx context.Context, sites []string) (ClusterPlan, error)
	// JoinSite adds a site to the storage's; LeaveSite moves every replica off a site;
	// ForgetSite drops a site that is gone for good.
	JoinSite(ctx context.Context, site string) (ClusterPlan, error)
	LeaveSite(ctx context.Context, site string) (ClusterPlan, error)
	ForgetSite(ctx context.Context, site string) (ClusterPlan, error)
}

// Errors of ClusterMembers.
var (
	ErrSiteNotFound    = errors.New("server: no such site")
	ErrReplicasRefused = errors.New("server: replica change refused")
)

// ClusterPlan is the answer to a replica change (202).
type ClusterPlan struct {
	Shards []ShardPlan `json:"shards"`
}

// ShardPlan is one shard's change: from its replica set to its new target.
type ShardPlan struct {
	Shard  int      `json:"shard"`
	From   []string `json:"from"`
	To     []string `json:"to"`
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
	// Leader is the site the shard's leadership moves to once it is there ("": it stays).
	Leader string `json:"leader,omitempty"`
}

// ClusterCounters are a site's replication counters.
type ClusterCounters struct {
	Applied, Leaderships, Failures, Forwarded uint64
	// Reads of shards this site does not hold, answered by their leader; reads this site
	// answered for other sites.
	RemoteReads, ServedReads uint64
	Sent, Received, Dropped  uint64
	// Snapshots of shards streamed to other sites, installed here, and failed transfers.
	SnapshotsSent, SnapshotsReceived, SnapshotFailures uint64
	// Membership transitions applied by replicas leading here, and those that timed out.
	TransitionsDone, TransitionsFailed uint64
}

// clusterCollector exports the replication state of this site (mqttds_replication_*): per
// shard replica the raft term, commit and applied index and whether it leads, and the site's
// counters.
type clusterCollector struct {
	c                                       Cluster
	shards                                  int
	leading, term, commit, applied, sitesUp *prometheus.Desc
	queue, proposed, lag, leaderSite        *prometheus.Desc
	commitLatency                           *prometheus.Desc
	counters                                map[string]*prometheus.Desc
}

func newClusterCollector(c Cluster, shards int) *clusterCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("mqttds_replication_"+name, help, labels, nil)
	}
	return &clusterCollector{c: c, shards: shards,
		leading:  d("leader", "1 if this site's replica leads the shard and takes writes.", "shard"),
		term:     d("term", "Raft term of this site's replica of the shard.", "shard"),
		commit:   d("commit_index", "Raft commit index of this site's replica of the shard.", "shard"),
		applied:  d("applied_index", "Last log index applied by this site's replica of the shard.", "shard"),
		sitesUp:  d("sites_up", "Sites of the cluster this site hears from (itself included)."),
		queue:    d("transition_queue", "Membership transitions left before the shard reaches its target replica set.", "shard"),
		proposed: d("proposals_total", "Batches this site's replica of the shard proposed while leading it.", "shard"),
		lag: d("replica_lag_entries",
			"On the shard's leader: log entries a replica of the shard (site) does not have yet.", "shard", "site"),
		leaderSite: d("shard_leader_info", "1 for the site this site knows as the shard's leader.", "shard", "site"),
		commitLatency: d("commit_duration_seconds",
			"Time from a batch reaching a replica that leads its shard here to its commit on a quorum and apply."),
		counters: map[string]*prometheus.Desc{
			"applied":      d("applied_batches_total", "Batches applied by this site's replicas."),
			"leaderships":  d("leaderships_total", "Times a replica on this site became leader."),
			"failures":     d("replica_failures_total", "Replicas on this site stopped by a storage error."),
			"forwarded":    d("forwarded_writes_total", "Writes this site sent to (or took as) a shard's leader."),
			"remote_reads": d("remote_reads_total", "Reads of shards this site holds no replica of, answered by the shard's leader."),
			"served_reads": d("served_reads_total", "Reads this site answered, as a shard's leader, for sites that hold no replica of it."),
			"sent":         d("transport_sent_total", "Raft messages sent to other sites."),
			"received":     d("transport_received_total", "Raft messages received from other sites."),
			"dropped":      d("transport_dropped_total", "Raft messages dropped (queue full, site unreachable)."),
			"snap_sent":    d("snapshots_sent_total", "Shard snapshots streamed to sites whose log position was compacted away."),
			"snap_recv":    d("snapshots_installed_total", "Shard snapshots installed by this site."),
			"snap_failed":  d("snapshot_failures_total", "Shard snapshot transfers that failed, on either side."),
			"trans_done":   d("transitions_total", "Membership transitions (learner added, promoted, replica removed) applied by replicas leading here."),
			"trans_failed": d("transition_failures_total",
				"Membership transitions that did not take effect in time (they are tried again)."),
		},
	}
}

func (cc *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cc.leading, cc.term, cc.commit, cc.applied, cc.sitesUp, cc.queue,
		cc.proposed, cc.lag, cc.leaderSite, cc.commitLatency} {
		ch <- d
	}
	for _, d := range cc.counters {
		ch <- d
	}
}

func (cc *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	for shard := range cc.shards {
		sh := cc.c.Shard(shard)
		label := strconv.Itoa(shard)
		if sh.Leader != "" {
			ch <- prometheus.MustNewConstMetric(cc.leaderSite, prometheus.GaugeValue, 1, label, sh.Leader)
		}
		l := sh.Local
		if l == nil {
			continue
		}
		leading := 0.0
		if l.Leading {
			leading = 1
		}
		ch <- prometheus.MustNewConstMetric(cc.leading, prometheus.GaugeValue, leading, label)
		ch <- prometheus.MustNewConstMetric(cc.term, prometheus.GaugeValue, float64(l.Term), label)
		ch <- prometheus.MustNewConstMetric(cc.commit, prometheus.GaugeValue, float64(l.Commit), label)
		ch <- prometheus.MustNewConstMetric(cc.applied, prometheus.GaugeValue, float64(l.Applied), label)
		ch <- prometheus.MustNewConstMetric(cc.queue, prometheus.GaugeValue, float64(l.Queue), label)
		ch <- prometheus.MustNewConstMetric(cc.proposed, prometheus.CounterValue, float64(l.Proposed), label)
		for _, p := range l.Progress {
			ch <- prometheus.MustNewConstMetric(cc.lag, prometheus.GaugeValue, float64(p.Lag), label, p.Site)
		}
	}
	if m, ok := commitLatencyMetric(cc.commitLatency, cc.c); ok {
		ch <- m
	}
	up := 0
	for _, s := range cc.c.Sites() {
		if s.Up {
			up++
		}
	}
	ch <- prometheus.MustNewConstMetric(cc.sitesUp, prometheus.GaugeValue, float64(up))
	n := cc.c.Counters()
	for name, v := range map[string]uint64{"applied": n.Applied, "leaderships": n.Leaderships, "failures": n.Failures,
		"forwarded": n.Forwarded, "remote_reads": n.RemoteReads, "served_reads": n.ServedReads, "sent": n.Sent, "received": n.Received, "dropped": n.Dropped,
		"snap_sent": n.SnapshotsSent, "snap_recv": n.SnapshotsReceived, "snap_failed": n.SnapshotFailures,
		"trans_done": n.TransitionsDone, "trans_failed": n.TransitionsFailed} {
		ch <- prometheus.MustNewConstMetric(cc.counters[name], prometheus.CounterValue, float64(v))
	}
}
