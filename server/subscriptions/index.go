package subscriptions

import (
	"strings"
	"sync"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Index is the broker's subscription index. The zero value is not usable; call New. All methods are
// safe for concurrent use.
type Index struct {
	mu struct {
		sync.RWMutex
		// root is the node before the first level; it never carries subscriptions.
		root node
		// clients maps client id → that client's subscriptions.
		// Invariant: a client is present iff it has at least one subscription.
		clients map[string]*client
		// count is the number of subscriptions, shared ones included.
		count int
		// nodes and groups count the trie nodes (root excluded) and the shared subscriptions.
		nodes, groups int
		// seq numbers clients; see client.seq.
		seq uint64
	}
	// scratch recycles the *matcher of Match calls, with their buffers.
	scratch sync.Pool
	// watch, if set, hears a filter gain its first subscriber or lose its last.
	watch func(filter string, present bool)
}

// Watch makes the index call f when a filter gains its first subscriber (present true) or
// loses its last (false): a non-shared filter its first or last subscription, a shared one
// ("$share/{group}/{filter}", the canonical form, "$queue/f" as "$share/$queue/f") its
// group's first or last member. That is the set of filters with a subscriber, as a stream of
// changes (a cluster's brokers announce it to each other). f runs under the index's write
// lock, so the calls come in the order of the changes; it must not call the index. Call Watch
// before the index is used.
func (ix *Index) Watch(f func(filter string, present bool)) { ix.watch = f }

// New returns an empty index.
func New() *Index {
	ix := &Index{}
	ix.mu.clients = make(map[string]*client)
	ix.scratch.New = func() any { return &matcher{hits: make([]*sub, 0, 64)} }
	return ix
}

// Add subscribes clientID to filter, which may be a shared filter ("$share/{group}/{filter}" or
// "$queue/{filter}"). If the client already has a subscription with the same filter (same group
// included) its options are replaced [MQTT-3.8.4-3] v5 and replaced is true: with Retain Handling 1 the
// broker then sends no retained messages [MQTT-3.3.1-10] v5.
//
// The filter is validated with mqtt/topic's default rules; broker limits such as a maximum number of
// levels are the caller's to check first. Errors are *topic.RuleError values for a bad filter, or one of
// the Err variables of this package for bad options. The index keeps copies of the strings it needs, so
// the caller may reuse clientID's and filter's memory.
func (ix *Index) Add(clientID, filter string, opts Options) (replaced bool, err error) {
	if clientID == "" {
		return false, ErrEmptyClientID
	}
	f, err := topic.ParseFilter(filter)
	if err != nil {
		return false, err
	}
	if err := opts.validate(f); err != nil {
		return false, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.addLocked(clientID, f, opts), nil
}

func (ix *Index) addLocked(clientID string, f topic.Filter, opts Options) (replaced bool) {
	// 1. Find or create the node of the filter.
	n := &ix.mu.root
	for rest, more := f.Filter, true; more; {
		var level string
		level, rest, more = topic.CutLevel(rest)
		c := n.child(level, false)
		if c == nil {
			c = n.child(level, true)
			ix.mu.nodes++
		}
		n = c
	}
	// 2. Find or create the client record.
	c := ix.mu.clients[clientID]
	if c == nil {
		ix.mu.seq++
		c = &client{id: strings.Clone(clientID), seq: ix.mu.seq}
		ix.mu.clients[c.id] = c
	}
	// 3. Replace the client's subscription on that node (and group), or add one.
	if f.Shared() {
		g := n.findGroup(f.Group)
		if g == nil {
			g = &group{name: strings.Clone(f.Group), node: n}
			n.groups = append(n.groups, g)
			ix.mu.groups++
		}
		if i := g.find(c); i >= 0 {
			g.subs[i].opts = opts
			g.set(g.subs[i])
			return true
		}
		s := &sub{client: c, id: c.id, seq: c.seq, opts: opts, node: n, group: g}
		g.set(s)
		ix.linkLocked(c, s)
		if ix.watch != nil && len(g.members) == 1 {
			ix.watch(g.filter(), true)
		}
		return false
	}
	if i := n.findSub(c); i >= 0 {
		n.subs[i].opts = opts
		return true
	}
	s := &sub{client: c, id: c.id, seq: c.seq, opts: opts, node: n}
	n.addSub(s)
	ix.linkLocked(c, s)
	if ix.watch != nil && len(n.subs) == 1 {
		ix.watch(n.filter(), true)
	}
	return false
}

// linkLocked records a new subscription on its client.
func (ix *Index) linkLocked(c *client, s *sub) {
	s.pos = len(c.subs)
	c.subs = append(c.subs, s)
	ix.mu.count++
}

// Remove deletes clientID's subscription to filter, compared as the client wrote it, wildcards
// included, without any matching [MQTT-3.10.4-1] v5. It reports whether there was one; an invalid
// filter never names a subscription, so it reports false.
func (ix *Index) Remove(clientID, filter string) bool {
	f, err := topic.ParseFilter(filter)
	if err != nil {
		return false
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := ix.mu.clients[clientID]
	if c == nil {
		return false
	}
	n := &ix.mu.root
	for rest, more := f.Filter, true; more && n != nil; {
		var level string
		level, rest, more = topic.CutLevel(rest)
		n = n.child(level, false)
	}
	if n == nil {
		return false
	}
	var s *sub
	if f.Shared() {
		if g := n.findGroup(f.Group); g != nil {
			if i := g.find(c); i >= 0 {
				s = g.subs[i]
			}
		}
	} else if i := n.findSub(c); i >= 0 {
		s = n.subs[i]
	}
	if s == nil {
		return false
	}
	ix.unlinkLocked(s)
	return true
}

// RemoveClient deletes every subscription of clientID, as when its session ends, and returns how many
// there were.
func (ix *Index) RemoveClient(clientID string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := ix.mu.clients[clientID]
	if c == nil {
		return 0
	}
	n := len(c.subs)
	for len(c.subs) > 0 {
		ix.unlinkLocked(c.subs[len(c.subs)-1])
	}
	return n
}

// unlinkLocked removes s from its node or group, from its client, and prunes what became empty.
func (ix *Index) unlinkLocked(s *sub) {
	// 1. Off the node or the group (and the group off the node once it has no member).
	if g := s.group; g != nil {
		g.remove(g.find(s.client))
		if len(g.members) == 0 {
			if ix.watch != nil {
				ix.watch(g.filter(), false)
			}
			s.node.removeGroup(g)
			ix.mu.groups--
		}
	} else {
		s.node.removeSub(s.node.findSub(s.client))
		if ix.watch != nil && len(s.node.subs) == 0 {
			ix.watch(s.node.filter(), false) // before prune unlinks the node from its parents
		}
	}
	ix.mu.nodes -= s.node.prune()
	// 2. Off the client, moving its last subscription into the hole.
	c := s.client
	last := len(c.subs) - 1
	c.subs[s.pos] = c.subs[last]
	c.subs[s.pos].pos = s.pos
	c.subs[last] = nil
	c.subs = c.subs[:last]
	if last == 0 {
		delete(ix.mu.clients, c.id)
	}
	ix.mu.count--
}

// ClientSubscriptions appends clientID's subscriptions to dst, in no particular order, and returns the
// extended slice. Filters come out in canonical form: "$queue/f" is listed as "$share/$queue/f".
func (ix *Index) ClientSubscriptions(clientID string, dst []Subscription) []Subscription {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := ix.mu.clients[clientID]
	if c == nil {
		return dst
	}
	for _, s := range c.subs {
		f := topic.Filter{Filter: s.node.filter()}
		if s.group != nil {
			f.Group = s.group.name
		}
		dst = append(dst, Subscription{Filter: f.String(), Group: f.Group, Options: s.opts})
	}
	return dst
}

// Len returns the number of subscriptions, shared ones included.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.mu.count
}

// Metrics is a snapshot of the size of an Index.
type Metrics struct {
	// Subscriptions counts every subscription, each member of a shared subscription included.
	Subscriptions int
	// Clients counts the clients with at least one subscription.
	Clients int
	// SharedSubscriptions counts the distinct shared subscriptions (share name and filter).
	SharedSubscriptions int
	// Nodes counts the trie nodes, one per distinct filter prefix: the index's memory grows with it.
	Nodes int
}

// Metrics returns the current sizes of the index.
func (ix *Index) Metrics() Metrics {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return Metrics{Subscriptions: ix.mu.count, Clients: len(ix.mu.clients),
		SharedSubscriptions: ix.mu.groups, Nodes: ix.mu.nodes}
}

// Clients returns the number of clients with at least one subscription.
func (ix *Index) Clients() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.mu.clients)
}
