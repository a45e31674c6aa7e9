package lts

import (
	"sort"
	"unsafe"
)

// maxSortedKids is the most concrete children a node keeps in its sorted slice; beyond it the
// children move to a map. A short slice is searched by a linear scan of string equality (a
// length check first), which beats both binary search and hashing for a handful of labels;
// past that a map is faster, takes about as much memory as the slice would, and keeps nodes
// with millions of children (large thresholds, or paths at MaxVarying) free of quadratic
// sorted insertion.
const maxSortedKids = 8

// node is one state of the trie.
//
// Invariants: a node is reachable from a root through exactly one path; every edge leaving it
// leads to a node with a larger id (ids are allocated after the parent exists); no concrete
// edge is added once the node has a '+' edge, so a topic that went through '+' here has a level
// that matches none of the node's concrete labels. Match relies on the last one.
type node struct {
	id Index
	// eot is the id of the end-of-topic state: the static index of the topic that ends at
	// this node. 0 when no topic ends here. End-of-topic states have no node of their own.
	eot Index
	// plus is the learned wildcard child, nil until learned.
	plus *node
	// kids holds the concrete children sorted by label while there are at most
	// maxSortedKids of them; nil once big is in use.
	kids []edge
	// big holds the concrete children once there are more than maxSortedKids.
	big map[string]*node
	// varying counts the '+' edges on the path from the root to this node.
	varying uint8
}

// edge is a concrete edge: a topic level and the node it leads to.
type edge struct {
	label string
	child *node
}

// Approximate in-memory sizes, used by Stats. mapEntryBytes covers a Go map slot (key, value,
// control byte) at the average load factor.
const (
	nodeBytes     = int64(unsafe.Sizeof(node{}))
	edgeBytes     = int64(unsafe.Sizeof(edge{}))
	mapEntryBytes = 40 // string key (16) + pointer (8) + control byte, at ~7/8 load, plus growth slack
	idEntryBytes  = 28 // Index key (8) + pointer (8) + control byte, at ~7/8 load, plus growth slack
)

// child returns the concrete child for label, or nil.
func (n *node) child(label string) *node {
	if n.big != nil {
		return n.big[label]
	}
	for i := range n.kids {
		if n.kids[i].label == label {
			return n.kids[i].child
		}
	}
	return nil
}

// concreteCount returns the number of concrete children; it is what thresholds compare with.
func (n *node) concreteCount() int {
	if n.big != nil {
		return len(n.big)
	}
	return len(n.kids)
}

// addChild inserts a concrete child that must not exist yet. It returns the change in bytes
// held by the children containers, for Stats.
func (n *node) addChild(label string, c *node) (deltaBytes int64) {
	if n.big != nil {
		n.big[label] = c
		return mapEntryBytes
	}
	i := 0
	for i < len(n.kids) && n.kids[i].label < label {
		i++
	}
	before := int64(cap(n.kids))
	n.kids = append(n.kids, edge{})
	copy(n.kids[i+1:], n.kids[i:])
	n.kids[i] = edge{label: label, child: c}
	delta := (int64(cap(n.kids)) - before) * edgeBytes
	if len(n.kids) > maxSortedKids {
		n.big = make(map[string]*node, 2*len(n.kids))
		for _, e := range n.kids {
			n.big[e.label] = e.child
		}
		delta += int64(len(n.kids))*mapEntryBytes - int64(cap(n.kids))*edgeBytes
		n.kids = nil
	}
	return delta
}

// forEachChild calls f for every concrete child, in no particular order once the node uses a
// map. Callers that need an order use sortedKids.
func (n *node) forEachChild(f func(label string, c *node)) {
	if n.big != nil {
		for l, c := range n.big {
			f(l, c)
		}
		return
	}
	for _, e := range n.kids {
		f(e.label, e.child)
	}
}

// sortedKids returns the concrete children sorted by label. The result aliases n.kids for a
// small node: callers must not modify it.
func (n *node) sortedKids() []edge {
	if n.big == nil {
		return n.kids
	}
	kids := make([]edge, 0, len(n.big))
	for l, c := range n.big {
		kids = append(kids, edge{label: l, child: c})
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].label < kids[j].label })
	return kids
}
