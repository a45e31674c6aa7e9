package main

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/server"
)

// replicasFake is a cluster of sites a, b, c whose shard 0 is being moved from c to d.
type replicasFake struct{ sites []string }

func (f *replicasFake) Site() string { return "a" }
func (f *replicasFake) Sites() []server.ClusterSite {
	return []server.ClusterSite{{ID: "a", Up: true}, {ID: "b", Up: true}, {ID: "c", Up: true}, {ID: "d", Up: true}}
}
func (f *replicasFake) Shard(shard int) server.ClusterShard {
	if shard > 0 {
		return server.ClusterShard{Replicas: []string{"a", "b", "c"}, Leader: "a"}
	}
	return server.ClusterShard{Replicas: []string{"a", "b", "c"}, Learners: []string{"d"}, Leader: "a",
		Target: []string{"a", "b", "d"}, Pending: "catch up learner d",
		Local: &server.ReplicaState{Leading: true, Progress: []server.ReplicaProgress{
			{Site: "b", Match: 9, Lag: 0}, {Site: "c", Match: 9, Lag: 0}, {Site: "d", Match: 2, Lag: 7}}}}
}
func (f *replicasFake) Counters() server.ClusterCounters { return server.ClusterCounters{} }
func (f *replicasFake) StorageSites(context.Context) ([]string, error) {
	return slices.Clone(f.sites), nil
}
func (f *replicasFake) SetReplicas(_ context.Context, sites []string) (server.ClusterPlan, error) {
	for _, s := range sites {
		if !slices.ContainsFunc(f.Sites(), func(c server.ClusterSite) bool { return c.ID == s }) {
			return server.ClusterPlan{}, fmt.Errorf("%w: %s", server.ErrSiteNotFound, s)
		}
	}
	plan := server.ClusterPlan{Shards: []server.ShardPlan{}}
	if !slices.Equal(sites, f.sites) {
		plan.Shards = append(plan.Shards, server.ShardPlan{Shard: 0, From: f.sites, To: sites, Add: []string{}, Remove: []string{}})
	}
	return plan, nil
}
func (f *replicasFake) JoinSite(ctx context.Context, s string) (server.ClusterPlan, error) {
	return f.SetReplicas(ctx, append(slices.Clone(f.sites), s))
}
func (f *replicasFake) LeaveSite(ctx context.Context, s string) (server.ClusterPlan, error) {
	return f.SetReplicas(ctx, slices.DeleteFunc(slices.Clone(f.sites), func(x string) bool { return x == s }))
}
func (f *replicasFake) ForgetSite(ctx context.Context, s string) (server.ClusterPlan, error) {
	return server.ClusterPlan{}, fmt.Errorf("%w: site %s is up", server.ErrReplicasRefused, s)
}

// Ensure that ds set_replicas, join, leave and forget send the change and show its plan, that
// ds info shows a shard's target and pending transition and how far a replica is behind, and that a single node refuses them.
func TestCtl_DSReplicas(t *testing.T) {
	api, _ := ctlBrokerWith(t, &server.Options{NodeName: "n1", Cluster: &replicasFake{sites: []string{"a", "b", "c"}},
		Durable: server.DurableOptions{Enable: true, Dir: t.TempDir(), Storage: &ds.Options{NumShards: 2}}})
	out, err := ctl(t, "--api", api, "ds", "set_replicas", "default", "a", "b", "d")
	require.NoError(t, err)
	require.Contains(t, out, "1 shard to move")
	require.Regexp(t, `(?m)^0\s+a, b, c\s+a, b, d\s+-\s+-\s+-$`, out)
	out, err = ctl(t, "--api", api, "ds", "set_replicas", "default", "a", "b", "c")
	require.NoError(t, err)
	require.Contains(t, out, "nothing to move")
	out, err = ctl(t, "--api", api, "ds", "join", "default", "d")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^0\s+a, b, c\s+a, b, c, d`, out)
	out, err = ctl(t, "--api", api, "ds", "leave", "default", "c")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^0\s+a, b, c\s+a, b\s`, out)
	_, err = ctl(t, "--api", api, "ds", "join", "default", "zz")
	require.ErrorContains(t, err, "SITE_NOT_FOUND")
	_, err = ctl(t, "--api", api, "ds", "forget", "c")
	require.ErrorContains(t, err, "CONFLICT")
	_, err = ctl(t, "--api", api, "ds", "join", "other", "d")
	require.ErrorContains(t, err, "STORAGE_NOT_FOUND")
	out, err = ctl(t, "--api", api, "ds", "info")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^0\s+a \(leader\), b \(follower\), c \(follower\), d \(learner, 7 behind\)\s+\d+\s+\S+\s+a, b, d\s+catch up learner d$`, out)
	require.Regexp(t, `(?m)^1\s+a \(leader\), b \(follower\), c \(follower\)\s+\d+\s+\S+\s+-\s+-$`, out)

	single, _ := ctlBrokerWith(t, &server.Options{NodeName: "n1",
		Durable: server.DurableOptions{Enable: true, Dir: t.TempDir(), Storage: &ds.Options{NumShards: 2}}})
	_, err = ctl(t, "--api", single, "ds", "set_replicas", "default", "n1")
	require.ErrorContains(t, err, "not replicated")
}
