package server

import (
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/mqttds/mqttds/ds"
)

// NodeStatus is the answer of GET /api/v1/status.
type NodeStatus struct {
	Node      string         `json:"node"`
	Version   string         `json:"version"`
	GoVersion string         `json:"go_version"`
	Started   time.Time      `json:"started"`
	Uptime    float64        `json:"uptime_s"`
	Durable   bool           `json:"durable_sessions"`
	Listeners []ListenerView `json:"listeners"`
	// Counts, from the same snapshot as /api/v1/metrics.
	Connections   int64 `json:"connections"`
	Sessions      int64 `json:"sessions"`
	Subscriptions int64 `json:"subscriptions"`
	Retained      int64 `json:"retained"`
}

// ListenerView is one MQTT listener.
type ListenerView struct {
	ID       string `json:"id"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
}

// Status describes the node.
func (s *Server) Status() NodeStatus {
	m := s.Metrics()
	st := NodeStatus{Node: s.opts.NodeName, Version: Version, GoVersion: runtime.Version(), Started: s.started,
		Durable: s.durable != nil, Listeners: []ListenerView{}, Connections: m.Connections.Current,
		Sessions: m.Sessions.Total, Subscriptions: m.Subscriptions, Retained: m.Retained}
	if !s.started.IsZero() {
		st.Uptime = time.Since(s.started).Round(time.Millisecond).Seconds()
	}
	for _, l := range s.Listeners() {
		st.Listeners = append(st.Listeners, ListenerView{ID: l.ID(), Protocol: l.Protocol(), Address: l.Address()})
	}
	return st
}

// The /api/v1/ds routes describe the storage as EMQX's /ds routes do: storages (databases)
// split into shards, each shard held by replicas on sites. A single node is one site that holds
// every shard of its one storage; a cluster adds sites and replicas.

// StorageView is one storage (database) in GET /api/v1/ds/storages.
type StorageView struct {
	Name        string   `json:"name"`
	Shards      int      `json:"n_shards"`
	Generations int      `json:"generations"`
	DiskBytes   uint64   `json:"disk_bytes"`
	Sites       []string `json:"sites"`
}

// StorageDetail is GET /api/v1/ds/storages/{name}: the storage with its shards.
type StorageDetail struct {
	StorageView
	ShardList []ShardView `json:"shards"`
}

// ShardView is one shard: its generations and where it is replicated.
type ShardView struct {
	ID          int              `json:"id"`
	Leader      string           `json:"leader,omitempty"` // cluster only: the leader this site knows of
	Replicas    []ReplicaView    `json:"replicas"`
	Generations []GenerationView `json:"generations"`
	// Cluster only, while a replica change is under way: the target replica set and the
	// transition in progress.
	Target  []string `json:"target,omitempty"`
	Pending string   `json:"pending,omitempty"`
}

// ReplicaView is one replica of a shard.
type ReplicaView struct {
	Site   string `json:"site"`
	Status string `json:"status"` // up (single node), leader, follower or learner (cluster)
	// This site's replica in a cluster: raft term, commit and applied index.
	Term    uint64 `json:"term,omitempty"`
	Commit  uint64 `json:"commit_index,omitempty"`
	Applied uint64 `json:"applied_index,omitempty"`
	// Another site's replica when this site leads the shard: the last index it has and how
	// many entries of the log it is behind.
	Match uint64  `json:"match_index,omitempty"`
	Lag   *uint64 `json:"lag_entries,omitempty"`
}

// GenerationView is one generation of a shard.
type GenerationView struct {
	ID      uint32    `json:"id"`
	Layout  string    `json:"layout"`
	Created time.Time `json:"created"`
	// Since and Until bound the generation's message timestamps (µs); Until is 0 for the
	// generation being written.
	Since   uint64 `json:"since_us"`
	Until   uint64 `json:"until_us"`
	Current bool   `json:"current"`
}

// SiteView is one site in GET /api/v1/ds/sites.
type SiteView struct {
	Site   string `json:"site"`
	Node   string `json:"node"`
	Addr   string `json:"address,omitempty"` // cluster only
	Up     bool   `json:"up"`
	Shards int    `json:"n_shards"`
}

// SiteDetail is GET /api/v1/ds/sites/{site}: the site with the shards it holds.
type SiteDetail struct {
	SiteView
	ShardList []SiteShardView `json:"shards"`
}

// SiteShardView is one shard a site holds.
type SiteShardView struct {
	Storage string `json:"storage"`
	Shard   int    `json:"shard"`
	Status  string `json:"status"`
}

// site is this node's site id: the cluster's, or the node name, as a single node has no other.
func (s *Server) site() string {
	if c := s.opts.Cluster; c != nil {
		return c.Site()
	}
	return s.opts.NodeName
}

// shardView is one shard's replicas: this node alone, or the cluster's replica set with the
// leader this site knows of and this site's raft state.
func (s *Server) shardView(id int) ShardView {
	c := s.opts.Cluster
	if c == nil {
		return ShardView{ID: id, Replicas: []ReplicaView{{Site: s.site(), Status: "up"}}, Generations: []GenerationView{}}
	}
	sh := c.Shard(id)
	v := ShardView{ID: id, Leader: sh.Leader, Generations: []GenerationView{}, Pending: sh.Pending}
	if !slices.Equal(sh.Target, sh.Replicas) || len(sh.Learners) > 0 {
		v.Target = sh.Target
	}
	for i, r := range append(slices.Clone(sh.Replicas), sh.Learners...) {
		status := "follower"
		if i >= len(sh.Replicas) {
			status = "learner"
		} else if r == sh.Leader {
			status = "leader"
		}
		rv := ReplicaView{Site: r, Status: status}
		if r == c.Site() && sh.Local != nil {
			rv.Term, rv.Commit, rv.Applied = sh.Local.Term, sh.Local.Commit, sh.Local.Applied
		}
		if sh.Local != nil {
			for _, p := range sh.Local.Progress {
				if p.Site == r {
					rv.Match, rv.Lag = p.Match, &p.Lag
				}
			}
		}
		v.Replicas = append(v.Replicas, rv)
	}
	return v
}

// siteList lists the sites: this node alone, or the cluster's.
func (s *Server) siteList() []ClusterSite {
	if c := s.opts.Cluster; c != nil {
		return c.Sites()
	}
	return []ClusterSite{{ID: s.site(), Up: true}}
}

// storages lists the storages with their shards; empty without durable storage.
func (s *Server) storages() ([]StorageDetail, error) {
	db := s.Storage()
	if db == nil {
		return []StorageDetail{}, nil
	}
	gens, err := db.ListGenerations(0, 0)
	if err != nil {
		return nil, err
	}
	d := StorageDetail{StorageView: StorageView{Name: storageName, Shards: db.NumShards(), Generations: len(gens),
		DiskBytes: db.Metrics().Disk.Usage, Sites: []string{}}}
	for _, site := range s.siteList() {
		d.Sites = append(d.Sites, site.ID)
	}
	for i := range db.NumShards() {
		d.ShardList = append(d.ShardList, s.shardView(i))
	}
	for _, g := range gens {
		if g.Shard < len(d.ShardList) {
			sh := &d.ShardList[g.Shard]
			sh.Generations = append(sh.Generations, generationView(g))
		}
	}
	return []StorageDetail{d}, nil
}

func generationView(g ds.GenerationInfo) GenerationView {
	return GenerationView{ID: g.ID, Layout: g.Layout, Created: time.UnixMicro(int64(g.CreatedAt)).UTC(),
		Since: g.Since, Until: g.Until, Current: g.Current()}
}

func (s *Server) apiStorages(w http.ResponseWriter, _ *http.Request) {
	all, err := s.storages()
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	out := make([]StorageView, len(all))
	for i, d := range all {
		out[i] = d.StorageView
	}
	writeJSON(w, out)
}

func (s *Server) apiStorage(w http.ResponseWriter, r *http.Request) {
	all, err := s.storages()
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	for _, d := range all {
		if d.Name == r.PathValue("name") {
			writeJSON(w, d)
			return
		}
	}
	apiFail(w, http.StatusNotFound, codeStorageNotFound, "no storage %q", r.PathValue("name"))
}

// siteDetails describes every site with the shards it holds.
func (s *Server) siteDetails() ([]SiteDetail, error) {
	all, err := s.storages()
	if err != nil {
		return nil, err
	}
	var out []SiteDetail
	for _, site := range s.siteList() {
		d := SiteDetail{SiteView: SiteView{Site: site.ID, Addr: site.Addr, Up: site.Up}, ShardList: []SiteShardView{}}
		if site.ID == s.site() {
			d.Node = s.opts.NodeName
		}
		for _, st := range all {
			for _, sh := range st.ShardList {
				for _, r := range sh.Replicas {
					if r.Site == site.ID {
						d.ShardList = append(d.ShardList, SiteShardView{Storage: st.Name, Shard: sh.ID, Status: r.Status})
					}
				}
			}
		}
		d.Shards = len(d.ShardList)
		out = append(out, d)
	}
	return out, nil
}

func (s *Server) apiSites(w http.ResponseWriter, _ *http.Request) {
	all, err := s.siteDetails()
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	out := make([]SiteView, len(all))
	for i, d := range all {
		out[i] = d.SiteView
	}
	writeJSON(w, out)
}

func (s *Server) apiSite(w http.ResponseWriter, r *http.Request) {
	all, err := s.siteDetails()
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	for _, d := range all {
		if d.Site == r.PathValue("site") {
			writeJSON(w, d)
			return
		}
	}
	apiFail(w, http.StatusNotFound, codeSiteNotFound, "no site %q", r.PathValue("site"))
}
