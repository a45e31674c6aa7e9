package subscriptions

// smallNode is the number of non-shared subscriptions a node holds before it builds a client → position
// map. Below it a linear scan is faster than hashing and saves the map's memory, which matters because
// most filters have a single subscriber.
const smallNode = 8

// node is one level of a filter. The path from the root spells the filter; the subscriptions on a node
// are those whose filter ends there.
//
// The fields Match reads on every visited node (children, plus, hash, subs) come first: a node is a
// 128-byte object, aligned to 128 bytes by the allocator, so they share its first cache line and a
// visit costs one line, not two. The rest serves writers.
//
// All fields are guarded by Index.mu.
type node struct {
	// children holds the exact-level children.
	children children[node]
	// plus and hash are the '+' and '#' children, kept apart so matching never looks them up by key.
	plus, hash *node
	// subs are the non-shared subscriptions ending here, at most one per client.
	subs []*sub
	// groups are the shared subscriptions ending here, one per group name.
	groups []*group

	parent *node
	// level is this node's key in its parent: the exact level, "+" or "#". Interned (see intern).
	level string
	// subIdx maps client id → index in subs once len(subs) exceeds smallNode; nil before that.
	// Invariant: when non-nil, subIdx[s.client] == i for every i, s in subs.
	subIdx map[string]int
}

// sub is one stored subscription.
type sub struct {
	client *client
	// id is client.id, copied so that Match never follows the client pointer.
	id string
	// seq is client.seq, copied here so that Match can group a client's hits without following the
	// client pointer or comparing ids.
	seq   uint64
	opts  Options
	node  *node
	group *group // nil unless shared
	// pos is the index of this sub in client.subs. Invariant: client.subs[pos] == this sub.
	pos int
}

// client is the set of subscriptions of one client id, for RemoveClient and ClientSubscriptions.
type client struct {
	id string
	// seq is unique among the clients of one index (Index.mu.seq at creation).
	seq  uint64
	subs []*sub
}

// empty reports whether a node carries nothing and can be unlinked.
func (n *node) empty() bool {
	return n.children.len() == 0 && n.plus == nil && n.hash == nil && len(n.subs) == 0 && len(n.groups) == 0
}

// child returns the child for one filter level, creating it if create is set. It returns nil if the child
// does not exist and create is false.
func (n *node) child(level string, create bool) *node {
	var c *node
	switch level {
	case "+":
		c = n.plus
	case "#":
		c = n.hash
	default:
		c = n.children.get(level)
	}
	if c != nil || !create {
		return c
	}
	c = &node{parent: n, level: intern(level)}
	switch level {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		n.children.put(c.level, c)
	}
	return c
}

// prune removes the empty node n from its parent, then the parent if that left it empty, and so on up
// to the root, which always stays. It returns how many nodes it removed.
func (n *node) prune() (removed int) {
	for ; n.parent != nil && n.empty(); removed++ {
		p := n.parent
		switch {
		case p.plus == n:
			p.plus = nil
		case p.hash == n:
			p.hash = nil
		default:
			p.children.del(n.level)
		}
		n.parent = nil
		n = p
	}
	return removed
}

// findSub returns the index in n.subs of the subscription of client c, or -1.
func (n *node) findSub(c *client) int {
	if n.subIdx != nil {
		if i, ok := n.subIdx[c.id]; ok {
			return i
		}
		return -1
	}
	for i, s := range n.subs {
		if s.client == c {
			return i
		}
	}
	return -1
}

// addSub appends s to n.subs, building the index map once the node grows past smallNode.
func (n *node) addSub(s *sub) {
	n.subs = append(n.subs, s)
	switch {
	case n.subIdx != nil:
		n.subIdx[s.client.id] = len(n.subs) - 1
	case len(n.subs) > smallNode:
		n.subIdx = make(map[string]int, len(n.subs))
		for i, s := range n.subs {
			n.subIdx[s.client.id] = i
		}
	}
}

// removeSub removes n.subs[i] by moving the last subscription into its place.
func (n *node) removeSub(i int) {
	last := len(n.subs) - 1
	if n.subIdx != nil {
		delete(n.subIdx, n.subs[i].client.id)
		if i != last {
			n.subIdx[n.subs[last].client.id] = i
		}
	}
	n.subs[i] = n.subs[last]
	n.subs[last] = nil
	n.subs = n.subs[:last]
	if len(n.subs) == 0 {
		n.subs, n.subIdx = nil, nil
	}
}

// findGroup returns the group with the given name on n, or nil.
func (n *node) findGroup(name string) *group {
	for _, g := range n.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// removeGroup unlinks g from n.
func (n *node) removeGroup(g *group) {
	for i, x := range n.groups {
		if x == g {
			last := len(n.groups) - 1
			n.groups[i] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			break
		}
	}
	if len(n.groups) == 0 {
		n.groups = nil
	}
}

// filter rebuilds the topic filter that leads to n.
func (n *node) filter() string {
	size, depth := -1, 0
	for x := n; x.parent != nil; x = x.parent {
		size += len(x.level) + 1
		depth++
	}
	if depth == 0 {
		return ""
	}
	b := make([]byte, size)
	end := size
	for x := n; x.parent != nil; x = x.parent {
		start := end - len(x.level)
		copy(b[start:end], x.level)
		if start > 0 {
			b[start-1] = '/'
		}
		end = start - 1
	}
	return string(b)
}
