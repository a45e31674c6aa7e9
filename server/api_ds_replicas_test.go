package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// membersFake is a three-site cluster (a, b, c; every shard on all three) whose replica
// changes answer a plan without carrying it out.
type membersFake struct{}

func (membersFake) Site() string { return "a" }

func (membersFake) Sites() []ClusterSite {
	return []ClusterSite{{ID: "a", Up: true}, {ID: "b", Up: true}, {ID: "c", Up: false}}
}

func (membersFake) Shard(int) ClusterShard {
	return ClusterShard{Replicas: []string{"a", "b"}, Learners: []string{"d"}, Leader: "a",
		Target: []string{"a", "b", "d"}, Pending: "catch up learner d", Local: &ReplicaState{Leading: true, Queue: 2}}
}

func (membersFake) Counters() ClusterCounters { return ClusterCounters{TransitionsDone: 3} }

func (membersFake) StorageSites(context.Context) ([]string, error) {
	return []string{"a", "b", "c"}, nil
}

func (f membersFake) SetReplicas(_ context.Context, sites []string) (ClusterPlan, error) {
	for _, s := range sites {
		if !slices.ContainsFunc(f.Sites(), func(c ClusterSite) bool { return c.ID == s }) {
			return ClusterPlan{}, fmt.Errorf("%w: %s", ErrSiteNotFound, s)
		}
	}
	if len(sites) == 0 {
		return ClusterPlan{}, fmt.Errorf("%w: no sites", ErrReplicasRefused)
	}
	return ClusterPlan{Shards: []ShardPlan{{Shard: 0, From: []string{"a", "b", "c"}, To: sites, Add: []string{}, Remove: []string{"c"}}}}, nil
}

func (f membersFake) JoinSite(ctx context.Context, site string) (ClusterPlan, error) {
	return f.SetReplicas(ctx, []string{"a", "b", "c", site})
}

func (f membersFake) LeaveSite(ctx context.Context, site string) (ClusterPlan, error) {
	sites, _ := f.StorageSites(ctx)
	if !slices.Contains(sites, site) {
		return ClusterPlan{}, fmt.Errorf("%w: %s", ErrSiteNotFound, site)
	}
	return f.SetReplicas(ctx, slices.DeleteFunc(sites, func(s string) bool { return s == site }))
}

func (f membersFake) ForgetSite(ctx context.Context, site string) (ClusterPlan, error) {
	if site == "b" {
		return ClusterPlan{}, fmt.Errorf("%w: site b is up", ErrReplicasRefused)
	}
	return f.LeaveSite(ctx, site)
}

// Ensure that the replica routes answer the plan of a change (202), refuse unknown sites and
// storages, and that a shard under change shows its target, pending step and learners.
func TestAPI_DSReplicas(t *testing.T) {
	srv, _ := durableServer(t, t.TempDir(), func(o *Options) { o.Cluster = membersFake{} })
	h := srv.APIHandler()
	call := func(method, path, body string, status int) []byte {
		t.Helper()
		rec := apiCall(t, h, method, path, "", body)
		require.Equal(t, status, rec.Code, "%s %s: %s", method, path, rec.Body.String())
		return rec.Body.Bytes()
	}
	var sites []string
	require.NoError(t, json.Unmarshal(call("GET", "/api/v1/ds/storages/default/replicas", "", http.StatusOK), &sites))
	require.Equal(t, []string{"a", "b", "c"}, sites)
	var plan ClusterPlan
	require.NoError(t, json.Unmarshal(call("PUT", "/api/v1/ds/storages/default/replicas", `["a", "b"]`, http.StatusAccepted), &plan))
	require.Equal(t, []string{"c"}, plan.Shards[0].Remove)
	call("PUT", "/api/v1/ds/storages/default/replicas", `["a", "z"]`, http.StatusNotFound)
	call("PUT", "/api/v1/ds/storages/default/replicas", `[]`, http.StatusConflict)
	call("PUT", "/api/v1/ds/storages/default/replicas/c", "", http.StatusAccepted)
	call("DELETE", "/api/v1/ds/storages/default/replicas/c", "", http.StatusAccepted)
	call("DELETE", "/api/v1/ds/storages/default/replicas/z", "", http.StatusNotFound)
	call("DELETE", "/api/v1/ds/sites/c", "", http.StatusAccepted)
	call("DELETE", "/api/v1/ds/sites/b", "", http.StatusConflict)
	call("DELETE", "/api/v1/ds/sites/z", "", http.StatusNotFound)

	var st StorageDetail
	require.NoError(t, json.Unmarshal(call("GET", "/api/v1/ds/storages/default", "", http.StatusOK), &st))
	sh := st.ShardList[0]
	require.Equal(t, []string{"a", "b", "d"}, sh.Target)
	require.Equal(t, "catch up learner d", sh.Pending)
	require.Equal(t, "learner", sh.Replicas[2].Status)
	require.Contains(t, string(call("GET", "/metrics", "", http.StatusOK)), "mqttds_replication_transition_queue{shard=\"0\"} 2")
}
