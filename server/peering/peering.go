package peering

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// Paths of the requests between brokers, served by Node.Handler; all start with PathPrefix.
const (
	PathPrefix   = "/v1/peering/"
	RoutesPath   = PathPrefix + "routes"
	PublishPath  = PathPrefix + "publish"
	TakeOverPath = PathPrefix + "takeover"
)

// Transport carries a request to another broker of the cluster, by its node name.
type Transport interface {
	// Post sends body to path on node and returns the HTTP status of the answer.
	Post(ctx context.Context, node, path string, body []byte) (status int, err error)
}

// Broker is the local broker, which receives what the peers send (*server.Server).
type Broker interface {
	// DeliverFromPeer hands a message published on another broker to the local sessions: to
	// those with a matching non-shared subscription if plain, and to one member of each of
	// groups (canonical shared filters); it returns how many took it.
	DeliverFromPeer(m *server.Message, plain bool, groups []string) int
	// LetGo disconnects the local connection of clientID, which connected to another broker,
	// and returns once it let go of its session.
	LetGo(clientID string) bool
}

// Config configures a Node.
type Config struct {
	// Self is this broker's node name; Peers are the others'. Names are what Transport takes.
	Self  string
	Peers []string
	// Transport carries the requests; the peers serve Node.Handler on it.
	Transport Transport
	// Broker receives the peers' messages. It may be set after New, before the first request
	// arrives (SetBroker), since the broker is made with the Node as one of its options.
	Broker Broker
	// QueueLen is how many messages may wait for each peer. Default 16384.
	QueueLen int
	// SyncInterval is how often a route update goes to each peer even when nothing changed.
	// Default 1s.
	SyncInterval time.Duration
	// RequestTimeout bounds one request to a peer. Default 5s.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Node is this broker's side of the peering: its route counts, what the peers announced, and
// one sender per peer. It implements server.Peers. Safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	epoch  uint64
	broker atomic.Pointer[Broker]

	mu struct {
		sync.Mutex
		// local are the filters with a local subscriber: this broker's routes.
		local  map[string]struct{}
		closed bool
	}
	// peers maps each peer's name to its sender; replaced as a whole (under mu) when a
	// broker joins (AddPeer), read without a lock.
	peers atomic.Pointer[map[string]*peer]

	// remote holds the peers' routes, each peer as one "client" of the index.
	remote *subscriptions.Index
	rmu    struct {
		sync.Mutex
		// from is each peer's epoch and the sequence number of its next delta.
		from map[string]*senderState
	}

	stop chan struct{}
	wg   sync.WaitGroup
	// turn takes the brokers of a shared group in turn (Forward).
	turn atomic.Uint64

	stats struct {
		forwarded, dropped, received, routeUpdatesSent, routeUpdatesReceived, resyncs atomic.Uint64
		takeOvers, takeOverFailures                                                   atomic.Uint64
	}
}

type senderState struct{ epoch, next uint64 }

// New starts the senders; Close stops them.
func New(cfg Config) (*Node, error) {
	if cfg.Self == "" || cfg.Transport == nil {
		return nil, errors.New("peering: Config.Self and Config.Transport are required")
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 16384
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = time.Second
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var e [8]byte
	rand.Read(e[:])
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Self), epoch: binary.BigEndian.Uint64(e[:]),
		remote: subscriptions.New(), stop: make(chan struct{})}
	if cfg.Broker != nil {
		n.SetBroker(cfg.Broker)
	}
	n.mu.local = map[string]struct{}{}
	n.rmu.from = map[string]*senderState{}
	n.peers.Store(&map[string]*peer{})
	for _, name := range cfg.Peers {
		n.AddPeer(name)
	}
	return n, nil
}

// AddPeer starts peering with the broker name (a site that joined the cluster): it gets this
// broker's whole route set, then its changes, and its own requests are taken. Adding a known
// peer, this broker, or any after Close does nothing.
func (n *Node) AddPeer(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.peerMap()
	if _, ok := old[name]; ok || name == n.cfg.Self || n.mu.closed {
		return
	}
	p := &peer{n: n, name: name, queue: make(chan Forwarded, n.cfg.QueueLen),
		wake: make(chan struct{}, 1), pending: map[string]bool{}, full: true}
	next := make(map[string]*peer, len(old)+1)
	maps.Copy(next, old)
	next[name] = p
	n.peers.Store(&next)
	n.wg.Add(1)
	go p.run()
}

func (n *Node) peerMap() map[string]*peer { return *n.peers.Load() }

// SetBroker sets the broker that receives the peers' messages.
func (n *Node) SetBroker(b Broker) { n.broker.Store(&b) }

// Close stops the senders; queued messages are dropped.
func (n *Node) Close() error {
	n.mu.Lock()
	if !n.mu.closed {
		n.mu.closed = true
		close(n.stop)
	}
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}

// Route records that filter gained its first local subscriber (present) or lost its last, as
// subscriptions.Index.Watch reports it; the change goes to every peer.
func (n *Node) Route(filter string, present bool) {
	n.mu.Lock()
	if _, had := n.mu.local[filter]; had == present {
		n.mu.Unlock()
		return
	}
	if present {
		n.mu.local[filter] = struct{}{}
	} else {
		delete(n.mu.local, filter)
	}
	peers := n.peerMap()
	for _, p := range peers {
		p.mu.Lock()
		p.pending[filter] = present
		p.mu.Unlock()
	}
	n.mu.Unlock()
	for _, p := range peers {
		p.poke()
	}
}

// routes returns the local routes, sorted.
func (n *Node) routes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.mu.local))
	for f := range n.mu.local {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Forward queues m for the peers whose routes match it (every peer for a retained message,
// which they keep in their view of the retained messages): once for each peer with a matching
// non-shared route, and, for each matching shared group, for one broker among those with
// members, taken in turn; local lists the shared filters (canonical form) this broker has
// members for, which makes it one of the candidates. It returns the shared filters it gave
// to a peer: this broker's members must not get the message too. It never blocks: a peer
// whose queue is full misses the message (counted), and a group picked for it falls back to
// the local members if there are any.
func (n *Node) Forward(m *server.Message, local []string) (elsewhere []string) {
	peers := n.peerMap()
	if len(peers) == 0 {
		return nil
	}
	buf := matchBufs.Get().(*[]subscriptions.Subscriber)
	subs := n.remote.Match(m.Topic, "", (*buf)[:0])
	var outs []outgoing // one per peer; a cluster has few
	out := func(name string) *Forwarded {
		p := peers[name]
		if p == nil {
			return nil
		}
		for i := range outs {
			if outs[i].p == p {
				return &outs[i].f
			}
		}
		outs = append(outs, outgoing{p: p, f: Forwarded{Message: m}})
		return &outs[len(outs)-1].f
	}
	for i := range subs {
		sub := &subs[i]
		if !sub.Shared() {
			if f := out(sub.ClientID); f != nil {
				f.Plain = true
			}
			continue
		}
		key := sub.Filter()
		candidates := len(sub.Members)
		if slices.Contains(local, key) {
			candidates++ // this broker is the last candidate
		}
		pick := int(n.turn.Add(1) % uint64(candidates))
		if pick == len(sub.Members) {
			continue // this broker's own members take it
		}
		if f := out(sub.Members[pick].ClientID); f != nil {
			f.Groups = append(f.Groups, key)
		}
	}
	clear(subs)
	*buf = subs[:0]
	matchBufs.Put(buf)
	if m.Retain {
		// Every broker keeps a view of the retained messages: each gets every retained
		// PUBLISH, matching routes or not.
		for name := range peers {
			out(name)
		}
	}
	for _, o := range outs {
		select {
		case o.p.queue <- o.f:
			elsewhere = append(elsewhere, o.f.Groups...)
		default:
			n.stats.dropped.Add(1)
		}
	}
	return elsewhere
}

type outgoing struct {
	p *peer
	f Forwarded
}

// matchBufs recycles the Match results of Forward, which runs for every PUBLISH.
var matchBufs = sync.Pool{New: func() any { s := make([]subscriptions.Subscriber, 0, 8); return &s }}

// Stats returns the counters (server.Peers).
func (n *Node) Stats() server.PeerStats {
	n.mu.Lock()
	routes := len(n.mu.local)
	n.mu.Unlock()
	return server.PeerStats{
		Forwarded: n.stats.forwarded.Load(), Dropped: n.stats.dropped.Load(), Received: n.stats.received.Load(),
		RouteUpdatesSent: n.stats.routeUpdatesSent.Load(), RouteUpdatesReceived: n.stats.routeUpdatesReceived.Load(),
		Resyncs: n.stats.resyncs.Load(), TakeOvers: n.stats.takeOvers.Load(), TakeOverFailures: n.stats.takeOverFailures.Load(),
		Routes: routes, RemoteRoutes: n.remote.Len(),
	}
}

// The Node is the broker's link to its peers.
var _ server.Peers = (*Node)(nil)

// RemoteRoutes returns the routes peer announced, as this node knows them.
func (n *Node) RemoteRoutes(peer string) []string {
	var out []string
	for _, s := range n.remote.ClientSubscriptions(peer, nil) {
		out = append(out, s.Filter)
	}
	slices.Sort(out)
	return out
}

// Handler serves the peers' requests (RoutesPath and PublishPath); the request's
// Mqttds-Node header names the sending peer.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+RoutesPath, n.serveRoutes)
	mux.HandleFunc("POST "+PublishPath, n.servePublish)
	mux.HandleFunc("POST "+TakeOverPath, n.serveTakeOver)
	return mux
}

// NodeHeader names the sending broker of a peering request.
const NodeHeader = "Mqttds-Node"

func (n *Node) readBody(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	from := r.Header.Get(NodeHeader)
	if _, ok := n.peerMap()[from]; !ok {
		http.Error(w, fmt.Sprintf("unknown node %q", from), http.StatusForbidden)
		return "", nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", nil, false
	}
	return from, body, true
}

func (n *Node) serveRoutes(w http.ResponseWriter, r *http.Request) {
	from, body, ok := n.readBody(w, r)
	if !ok {
		return
	}
	u, err := UnmarshalRoutes(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !n.applyRoutes(from, u) {
		http.Error(w, "route sequence lost: send the whole set", http.StatusConflict)
		return
	}
	n.stats.routeUpdatesReceived.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// applyRoutes applies an update from peer; false when it does not follow the last one
// applied (the peer must send its whole set).
func (n *Node) applyRoutes(from string, u *RouteUpdate) bool {
	n.rmu.Lock()
	defer n.rmu.Unlock()
	st := n.rmu.from[from]
	if !u.Full && (st == nil || st.epoch != u.Epoch || st.next != u.Seq) {
		return false
	}
	if u.Full {
		n.remote.RemoveClient(from)
		st = &senderState{epoch: u.Epoch}
		n.rmu.from[from] = st
	}
	for _, c := range u.Changes {
		if c.Present {
			// The peer filters by its own sessions' options: the route only says "send".
			if _, err := n.remote.Add(from, c.Filter, subscriptions.Options{QoS: 2}); err != nil {
				n.log.Warn("peering: route refused", "peer", from, "filter", c.Filter, "err", err)
			}
		} else {
			n.remote.Remove(from, c.Filter)
		}
	}
	st.next = u.Seq + 1
	return true
}

func (n *Node) servePublish(w http.ResponseWriter, r *http.Request) {
	_, body, ok := n.readBody(w, r)
	if !ok {
		return
	}
	msgs, err := UnmarshalBatch(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b := n.broker.Load()
	if b == nil {
		http.Error(w, "broker not started", http.StatusServiceUnavailable)
		return
	}
	for _, f := range msgs {
		(*b).DeliverFromPeer(f.Message, f.Plain, f.Groups)
	}
	n.stats.received.Add(uint64(len(msgs)))
	w.WriteHeader(http.StatusNoContent)
}

// TakeOver asks every peer at once to let go of clientID and waits for their answers, or for
// ctx to end (server.Peers). A peer that cannot be reached is not waited for: one whose last
// request got no answer is asked without waiting (so CONNECTs stay fast while a broker is
// down or cut off), and a broker cut off from the others may keep its connection until it
// finds out (its durable sessions' writes fail without a quorum).
func (n *Node) TakeOver(ctx context.Context, clientID string) {
	var wg sync.WaitGroup
	for _, p := range n.peerMap() {
		ask := func(ctx context.Context) {
			status, err := p.postCtx(ctx, TakeOverPath, []byte(clientID))
			if err != nil || status != http.StatusNoContent {
				n.stats.takeOverFailures.Add(1)
				n.log.Warn("peering: a broker did not confirm a take-over", "peer", p.name, "client", clientID,
					"status", status, "err", err)
			}
		}
		if p.down.Load() {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
				defer cancel()
				ask(ctx)
			}()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ask(ctx)
		}()
	}
	wg.Wait()
	n.stats.takeOvers.Add(1)
}

func (n *Node) serveTakeOver(w http.ResponseWriter, r *http.Request) {
	_, body, ok := n.readBody(w, r)
	if !ok {
		return
	}
	if len(body) == 0 || len(body) > 65535 || !utf8.Valid(body) {
		http.Error(w, "bad client id", http.StatusBadRequest)
		return
	}
	b := n.broker.Load()
	if b == nil {
		http.Error(w, "broker not started", http.StatusServiceUnavailable)
		return
	}
	(*b).LetGo(string(body))
	w.WriteHeader(http.StatusNoContent)
}
