package server

import (
	"net/http"
	"runtime"
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
	Replicas    []ReplicaView    `json:"replicas"`
	Generations []GenerationView `json:"generations"`
}

// ReplicaView is one replica of a shard.
type ReplicaView struct {
	Site   string `json:"site"`
	Status string `json:"status"` // up
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

// site is this node's site id: the node name, as a single node has no other.
func (s *Server) site() string { return s.opts.NodeName }

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
		DiskBytes: db.Metrics().Disk.Usage, Sites: []string{s.site()}}}
	for i := range db.NumShards() {
		d.ShardList = append(d.ShardList, ShardView{ID: i, Replicas: []ReplicaView{{Site: s.site(), Status: "up"}},
			Generations: []GenerationView{}})
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

func (s *Server) siteDetail() (SiteDetail, error) {
	d := SiteDetail{SiteView: SiteView{Site: s.site(), Node: s.opts.NodeName, Up: true}, ShardList: []SiteShardView{}}
	all, err := s.storages()
	if err != nil {
		return d, err
	}
	for _, st := range all {
		for _, sh := range st.ShardList {
			d.ShardList = append(d.ShardList, SiteShardView{Storage: st.Name, Shard: sh.ID, Status: "up"})
		}
	}
	d.Shards = len(d.ShardList)
	return d, nil
}

func (s *Server) apiSites(w http.ResponseWriter, _ *http.Request) {
	d, err := s.siteDetail()
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	writeJSON(w, []SiteView{d.SiteView})
}

func (s *Server) apiSite(w http.ResponseWriter, r *http.Request) {
	d, err := s.siteDetail()
	switch {
	case err != nil:
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
	case r.PathValue("site") != d.Site:
		apiFail(w, http.StatusNotFound, codeSiteNotFound, "no site %q", r.PathValue("site"))
	default:
		writeJSON(w, d)
	}
}
