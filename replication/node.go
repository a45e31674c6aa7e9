package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/replication/raftstore"
	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/transport"
)

// Config configures a site's Node.
type Config struct {
	// Site is this site's id (site.Load).
	Site site.ID
	// Sites lists every site of the cluster, this one included. Placement derives from it.
	// Empty: call Join before opening the store.
	Sites []site.ID
	// ReplicationFactor is how many sites hold each shard. Default: 3, or len(Sites) if fewer.
	ReplicationFactor int
	// NumShards must equal the ds store's.
	NumShards int
	// Listen is the transport's address. Default 127.0.0.1:0.
	Listen string
	// TLS, when set, runs every link between sites over mutual TLS (transport.LoadTLS
	// builds it from PEM files). Nil: plain TCP, for trusted networks only.
	TLS *tls.Config
	// TickInterval is raft's tick. Default 50ms.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (the heartbeat is one tick). Default 10.
	ElectionTicks int
	// CompactEntries is how many applied entries, held by every voter, a shard's log keeps
	// before its leader compacts it. Default 10000.
	CompactEntries int
	// SnapshotLag is how far (in entries) a voter may fall behind before it stops holding the
	// log back; it then catches up from a snapshot of the shard. Default 4 × CompactEntries.
	SnapshotLag int
	// SiteSyncInterval is how often a site asks the others for their site lists (joined and
	// forgotten sites). Default 2s.
	SiteSyncInterval time.Duration
	// JoinGrace is how long a joining site goes on announcing itself to sites that do not
	// answer, once one took it. Default 5s.
	JoinGrace time.Duration
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) ensureDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.TickInterval == 0 {
		c.TickInterval = 50 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CompactEntries == 0 {
		c.CompactEntries = 10000
	}
	if c.SnapshotLag == 0 {
		c.SnapshotLag = 4 * c.CompactEntries
	}
	if c.SiteSyncInterval == 0 {
		c.SiteSyncInterval = 2 * time.Second
	}
	if c.JoinGrace == 0 {
		c.JoinGrace = 5 * time.Second
	}
}

// Node is one site's part of a cluster: the transport, and one raft group per shard this site
// holds a replica of. Use it as the ds store's Applier:
//
//	n, _ := replication.NewNode(cfg)
//	db, _ := ds.Open(dir, n.StoreOptions(&ds.Options{...}))
//	n.Start(db)
//
// Close the store before the node: the store's last flushes need the groups to commit.
type Node struct {
	cfg    Config
	place  *Placement
	tr     *transport.Transport
	http   *http.Client
	log    *slog.Logger
	pebble *pebble.DB
	db     *ds.DB

	// groups holds this site's replicas by shard, nil where it holds none. Replicas come and
	// go with membership changes (members.go); mu serialises that.
	groups    []atomic.Pointer[group]
	mu        sync.Mutex
	stopped   bool  // under mu: no group starts any more
	siteSync  bool  // under mu: startSiteSync ran
	openErr   error // a group that NewApplier could not open; Start returns it
	started   atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
	once      sync.Once // stopGroups
	closeOnce sync.Once // the transport

	metrics struct {
		applied, leaderships, failures, forwarded, compactions atomic.Uint64
		remoteReads, servedReads                               atomic.Uint64
		snapshotsSent, snapshotsReceived, snapshotFailures     atomic.Uint64
		transitionsDone, transitionsFailed                     atomic.Uint64
		commit                                                 ds.LatencyRecorder
	}
	// sites is the cluster's site list as the SITES file holds it, once Join found it.
	sites struct {
		sync.Mutex
		path   string
		list   *siteList
		joined func(site.ID) // OnSiteJoined
	}
	// peers are the sites this site knows an address of, besides the placement's.
	peers struct {
		sync.Mutex
		ids map[site.ID]bool
	}
	snapFiles atomic.Uint64 // names staged snapshot files
	// confApplied, when set (tests), sees every configuration a replica here applies, on the
	// replica's loop goroutine.
	confApplied func(shard int, cs *pb.ConfState)

	extraMu sync.Mutex
	extra   []extraHandler // Handle
}

// NewNode validates cfg and starts the transport. Peers' addresses are set with AddPeer.
func NewNode(cfg Config) (*Node, error) {
	cfg.ensureDefaults()
	if cfg.Site == 0 {
		return nil, errors.New("replication: Config.Site is not set")
	}
	if cfg.NumShards < 1 {
		return nil, errors.New("replication: Config.NumShards is not set")
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("site", cfg.Site.String()), stop: make(chan struct{})}
	if len(cfg.Sites) > 0 {
		if err := n.setSites(cfg.Sites); err != nil {
			return nil, err
		}
	}
	tr, err := transport.ListenTLS(cfg.Listen, cfg.Site, handler{n}, n.log, cfg.TLS)
	if err != nil {
		return nil, err
	}
	n.tr = tr
	n.http = tr.Client()
	tr.ServeHTTP(n.withExtra(n.httpHandler()))
	return n, nil
}

// setSites fixes the cluster's founding sites and so the placement of the groups they start
// with. A site that is not among them joins later: it holds no replica until a shard's leader
// adds it (members.go).
func (n *Node) setSites(sites []site.ID) error {
	rf := n.cfg.ReplicationFactor
	if rf == 0 {
		rf = min(3, len(sites))
	}
	place, err := NewPlacement(sites, rf)
	if err != nil {
		return err
	}
	n.cfg.Sites, n.cfg.ReplicationFactor, n.place = place.Sites(), rf, place
	return nil
}

// Addr is the transport's address.
func (n *Node) Addr() string { return n.tr.Addr() }

// Transport is the node's transport (tests install fault filters on it).
func (n *Node) Transport() *transport.Transport { return n.tr }

// AddPeer sets the transport address of a site; the site is then one of the cluster's (Sites),
// and replicas may be moved to it (SetReplicas, JoinSite).
func (n *Node) AddPeer(id site.ID, addr string) {
	n.tr.AddPeer(id, addr)
	n.peers.Lock()
	if n.peers.ids == nil {
		n.peers.ids = map[site.ID]bool{}
	}
	n.peers.ids[id] = true
	n.peers.Unlock()
}

// Placement is the node's placement of shards.
func (n *Node) Placement() *Placement { return n.place }

// StoreOptions returns a copy of o (nil: defaults) set up for a replica of this node: its
// Applier, its Forwarder (a write on any replica goes to the shard's leader), the deferred
// first generation, and the node's shard count.
func (n *Node) StoreOptions(o *ds.Options) *ds.Options {
	out := &ds.Options{}
	if o != nil {
		*out = *o
	}
	out.NumShards = n.cfg.NumShards
	out.NewApplier = n.NewApplier
	out.Forwarder = forwarder{n}
	out.DeferFirstGeneration = true
	return out
}

// NewApplier is ds.Options.NewApplier: it opens the raft groups of this site's shards in db,
// the store's pebble instance. ds calls it once, from Open.
func (n *Node) NewApplier(db *pebble.DB) ds.Applier {
	if n.place == nil {
		n.openErr = errors.New("replication: the store was opened before the node joined its cluster")
		return failingApplier{n.openErr}
	}
	if n.pebble != nil {
		// ds reopens pebble only after a failed write; the groups hold the old instance.
		return failingApplier{errors.New("replication: storage failed; restart the site")}
	}
	n.pebble = db
	n.groups = make([]atomic.Pointer[group], n.cfg.NumShards)
	for shard := range n.groups {
		g, err := n.openGroup(db, shard)
		if err != nil {
			n.openErr = err
			return failingApplier{err}
		}
		if g != nil {
			n.groups[shard].Store(g)
		}
	}
	return applier{n}
}

// Start runs the groups over db, the store opened with NewApplier.
func (n *Node) Start(db *ds.DB) error {
	if n.pebble == nil {
		return errors.New("replication: Start before the store was opened with NewApplier")
	}
	if n.openErr != nil {
		return n.openErr
	}
	if db.NumShards() != n.cfg.NumShards {
		return fmt.Errorf("replication: store has %d shards, Config.NumShards is %d", db.NumShards(), n.cfg.NumShards)
	}
	n.db = db
	// Snapshots staged before a crash were never installed (an install removes its files).
	fs, dir := db.Dir()
	if err := fs.RemoveAll(fs.PathJoin(dir, snapshotDir)); err != nil {
		return fmt.Errorf("replication: clearing staged snapshots: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for shard := range n.groups {
		if g := n.groups[shard].Load(); g != nil {
			n.runGroup(g)
		}
	}
	n.started.Store(true)
	return nil
}

// openGroup opens this site's replica of shard as it was left: a group with a configuration
// resumes; a group the site left (or joined but never received a snapshot for) keeps only its
// hard state and stays closed until a leader adds the site again; a group that never ran here
// starts from the placement if this site is one of the shard's founding replicas. nil: no
// replica here.
func (n *Node) openGroup(db *pebble.DB, shard int) (*group, error) {
	st, err := raftstore.Open(db, uint32(shard))
	if err != nil {
		return nil, err
	}
	switch {
	case st.Bootstrapped():
	case st.HasState() || !n.place.Holds(n.cfg.Site, shard):
		return nil, nil
	default:
		voters := make([]uint64, 0, n.cfg.ReplicationFactor)
		for _, id := range n.place.Replicas(shard) {
			voters = append(voters, uint64(id))
		}
		if err := st.Bootstrap(voters); err != nil {
			return nil, err
		}
	}
	return newGroup(n, shard, db, st)
}

// runGroup starts g's loop. n.mu is held.
func (n *Node) runGroup(g *group) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		g.run(n.stop)
	}()
}

// Close stops the groups and the transport.
func (n *Node) Close() error {
	n.stopGroups()
	var err error
	n.closeOnce.Do(func() { err = n.tr.Close() })
	return err
}

// stopGroups stops the groups' loops and waits for them. The store calls it (through the
// Applier's Close) before it closes pebble, which the groups use.
func (n *Node) stopGroups() {
	n.once.Do(func() {
		n.mu.Lock()
		n.stopped = true
		close(n.stop)
		n.mu.Unlock()
		n.wg.Wait()
	})
}

// Status returns the state of this site's replica of shard.
func (n *Node) Status(shard int) (Status, error) {
	if shard < 0 || shard >= len(n.groups) {
		return Status{}, fmt.Errorf("%w %d", ds.ErrInvalidShard, shard)
	}
	g := n.groups[shard].Load()
	if g == nil {
		return Status{}, fmt.Errorf("%w: shard %d", ErrNotReplica, shard)
	}
	return g.status(), nil
}

// Metrics are a node's counters.
type Metrics struct {
	// Applied counts batches applied to this site's replicas.
	Applied uint64
	// Leaderships counts the times a replica here became leader.
	Leaderships uint64
	// Failures counts replicas stopped by a storage error.
	Failures uint64
	// Forwarded counts writes this site sent to (or took as) a shard's leader.
	Forwarded uint64
	// RemoteReads counts reads of shards this site does not hold that a leader answered
	// (reads.go); ServedReads those this site answered as a leader for other sites.
	RemoteReads, ServedReads uint64
	// Compactions counts log compactions applied by this site's replicas.
	Compactions uint64
	// SnapshotsSent and SnapshotsReceived count shard snapshots streamed to and installed by
	// this site; SnapshotFailures counts transfers that failed on either side.
	SnapshotsSent, SnapshotsReceived, SnapshotFailures uint64
	// TransitionsDone counts configuration changes (a learner added, promoted, a replica
	// removed) that replicas leading here proposed and applied; TransitionsFailed those that
	// did not take effect in time (they are tried again).
	TransitionsDone, TransitionsFailed uint64
	// Transport is the transport's traffic.
	Transport transport.Stats
	// CommitLatency is the time from ds handing a batch to a replica leading here to its
	// apply on that replica (committed on a quorum), for every batch acknowledged.
	CommitLatency ds.Latency
}

// Metrics returns the node's counters.
func (n *Node) Metrics() Metrics {
	return Metrics{Applied: n.metrics.applied.Load(), Leaderships: n.metrics.leaderships.Load(),
		Failures: n.metrics.failures.Load(), Forwarded: n.metrics.forwarded.Load(),
		RemoteReads: n.metrics.remoteReads.Load(), ServedReads: n.metrics.servedReads.Load(),
		Compactions: n.metrics.compactions.Load(), Transport: n.tr.Stats(),
		SnapshotsSent: n.metrics.snapshotsSent.Load(), SnapshotsReceived: n.metrics.snapshotsReceived.Load(),
		SnapshotFailures: n.metrics.snapshotFailures.Load(), TransitionsDone: n.metrics.transitionsDone.Load(),
		TransitionsFailed: n.metrics.transitionsFailed.Load(), CommitLatency: n.metrics.commit.Summary()}
}

func (n *Node) send(shard int, m *pb.Message) { n.tr.Send(uint32(shard), m) }

func (n *Node) group(shard int) *group {
	if !n.started.Load() || shard < 0 || shard >= len(n.groups) {
		return nil
	}
	return n.groups[shard].Load()
}

// handler routes the transport's messages to the groups.
type handler struct{ n *Node }

func (h handler) HandleMessage(group uint32, m *pb.Message) {
	if g := h.n.group(int(group)); g != nil {
		g.deliver(m)
	}
}

func (h handler) Unreachable(peer site.ID, group uint32) {
	if g := h.n.group(int(group)); g != nil {
		g.unreachable(peer)
	}
}

// applier proposes the shards' batches to their groups.
type applier struct{ n *Node }

// Close stops the groups: ds closes its Applier before pebble.
func (a applier) Close() error {
	a.n.stopGroups()
	return nil
}

func (a applier) Apply(shard int, cb *layout.CookedBatch) (ds.Commit, error) {
	g := a.n.group(shard)
	if g == nil {
		if a.n.started.Load() {
			return nil, fmt.Errorf("%w: shard %d", ErrNotReplica, shard)
		}
		return nil, fmt.Errorf("replication: shard %d: node not started", shard)
	}
	if !g.ready.Load() {
		return nil, &NotLeaderError{Shard: shard, Leader: site.ID(g.leader.Load())}
	}
	id := proposalID{site: a.n.cfg.Site, seq: g.seq.Add(1)}
	data, err := encodeEntry(id, cb)
	if err != nil {
		return nil, err
	}
	p := &proposal{id: id, data: data, done: make(chan error, 1), start: time.Now()}
	if err := g.propose(p); err != nil {
		return nil, err
	}
	return p, nil
}

type failingApplier struct{ err error }

func (f failingApplier) Apply(int, *layout.CookedBatch) (ds.Commit, error) { return nil, f.err }

// WaitLeaders waits until every shard this site holds a replica of knows a leader, so that
// writes made right after it are not refused for an election in progress.
func (n *Node) WaitLeaders(ctx context.Context) error {
	for {
		waiting := 0
		for i := range n.groups {
			if g := n.groups[i].Load(); g != nil && g.leader.Load() == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: %d shards without a leader: %w", waiting, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SiteStatus is one site of the cluster as this site sees it.
type SiteStatus struct {
	ID   site.ID
	Addr string
	// Up: this site, or a site heard from within two election timeouts (every leader sends
	// heartbeats each tick, and every site leads or follows some shard).
	Up bool
}

// Sites returns every site of the cluster, sorted by id: the founding sites, this one and
// every site with an address (AddPeer), less those forgotten (ForgetSite).
func (n *Node) Sites() []SiteStatus {
	if n.place == nil {
		return nil
	}
	window := 2 * time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
	var out []SiteStatus
	for _, id := range n.knownSites() {
		st := SiteStatus{ID: id, Addr: n.tr.PeerAddr(id), Up: id == n.cfg.Site}
		if id == n.cfg.Site {
			st.Addr = n.Addr()
		} else if heard := n.tr.LastHeard(id); !heard.IsZero() && time.Since(heard) < window {
			st.Up = true
		}
		out = append(out, st)
	}
	return out
}

// untilStop returns a context that ends when the node stops, or after d (0: no limit), for
// requests to other sites made on the node's own behalf.
func (n *Node) untilStop(d time.Duration) (context.Context, context.CancelFunc) {
	var ctx context.Context
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), d)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Site is this site's id.
func (n *Node) Site() site.ID { return n.cfg.Site }
