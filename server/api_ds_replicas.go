package server

import (
	"context"
	"errors"
	"net/http"
)

// The replica routes change where a storage's shards live, as EMQX's /ds/storages/:ds/replicas
// routes do: PUT sets the storage's sites, PUT and DELETE of one site join and leave it,
// DELETE /api/v1/ds/sites/{site} forgets a site that is gone. A change is carried out in the
// background, one transition per shard at a time; the answer (202) is the plan, and GET
// /api/v1/ds/storages/{name} shows each shard's target and pending transition meanwhile.

// members returns the cluster's membership API, nil on a single node.
func (s *Server) members() ClusterMembers {
	m, _ := s.opts.Cluster.(ClusterMembers)
	return m
}

// replicasStorage checks the storage named in the path; false once it answered.
func (s *Server) replicasStorage(w http.ResponseWriter, r *http.Request) bool {
	if s.Storage() == nil || r.PathValue("name") != storageName {
		apiFail(w, http.StatusNotFound, codeStorageNotFound, "no storage %q", r.PathValue("name"))
		return false
	}
	return true
}

func (s *Server) apiReplicas(w http.ResponseWriter, r *http.Request) {
	if !s.replicasStorage(w, r) {
		return
	}
	m := s.members()
	if m == nil {
		writeJSON(w, []string{s.site()})
		return
	}
	sites, err := m.StorageSites(r.Context())
	if err != nil {
		apiFail(w, http.StatusServiceUnavailable, codeNotReady, "%v", err)
		return
	}
	writeJSON(w, sites)
}

func (s *Server) apiSetReplicas(w http.ResponseWriter, r *http.Request) {
	if !s.replicasStorage(w, r) {
		return
	}
	var sites []string
	if !decodeBody(w, r, &sites) {
		return
	}
	s.replicaChange(w, r, func(ctx context.Context, m ClusterMembers) (ClusterPlan, error) { return m.SetReplicas(ctx, sites) })
}

func (s *Server) apiJoinSite(w http.ResponseWriter, r *http.Request) {
	if !s.replicasStorage(w, r) {
		return
	}
	s.replicaChange(w, r, func(ctx context.Context, m ClusterMembers) (ClusterPlan, error) {
		return m.JoinSite(ctx, r.PathValue("site"))
	})
}

func (s *Server) apiLeaveSite(w http.ResponseWriter, r *http.Request) {
	if !s.replicasStorage(w, r) {
		return
	}
	s.replicaChange(w, r, func(ctx context.Context, m ClusterMembers) (ClusterPlan, error) {
		return m.LeaveSite(ctx, r.PathValue("site"))
	})
}

func (s *Server) apiForgetSite(w http.ResponseWriter, r *http.Request) {
	s.replicaChange(w, r, func(ctx context.Context, m ClusterMembers) (ClusterPlan, error) {
		return m.ForgetSite(ctx, r.PathValue("site"))
	})
}

// replicaChange runs a change and answers its plan (202), or why it was refused.
func (s *Server) replicaChange(w http.ResponseWriter, r *http.Request, change func(context.Context, ClusterMembers) (ClusterPlan, error)) {
	m := s.members()
	if m == nil {
		apiFail(w, http.StatusConflict, codeConflict, "the storage is not replicated: a single node holds every shard")
		return
	}
	plan, err := change(r.Context(), m)
	switch {
	case err == nil:
		if plan.Shards == nil {
			plan.Shards = []ShardPlan{}
		}
		writeJSONStatus(w, http.StatusAccepted, plan)
	case errors.Is(err, ErrSiteNotFound):
		apiFail(w, http.StatusNotFound, codeSiteNotFound, "%v", err)
	case errors.Is(err, ErrReplicasRefused):
		apiFail(w, http.StatusConflict, codeConflict, "%v", err)
	default:
		apiFail(w, http.StatusServiceUnavailable, codeNotReady, "%v", err)
	}
}
