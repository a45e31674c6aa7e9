package lts

import (
	"fmt"
	"strings"
)

// grower builds the states one Learn call adds. Everything it creates stays private (invisible
// to readers) until commitLocked; the only shared node it changes is shared, the existing node
// where the walk stopped, and those changes are recorded in graft until commit. This is what
// makes Learn all-or-nothing when ids run out.
type grower struct {
	t    *Trie
	next Index // next id to allocate; becomes t.next on commit
	ops  []Op
	mark int // len(ops) on entry: ops[:mark] belong to the caller

	// shared is the existing node that receives the first new edge(s); nil when the walk
	// stopped because the '$' root does not exist yet (graft.dollar is then the change).
	shared *node
	graft  struct {
		dollar   *node // new '$' root
		label    string
		concrete *node // new concrete edge at shared
		plus     *node // new '+' edge at shared
		eot      Index // new end-of-topic edge at shared
	}
	fresh    []idNode // ids to register in byID
	counts   counters // to add to t.counts
	lastPlus bool     // the last step went through a new '+' edge
}

type idNode struct {
	id Index
	n  *node
}

// alloc returns the next id, or 0 when it would reach MaxIndex.
func (g *grower) alloc() Index {
	if g.next >= g.t.opts.MaxIndex {
		return 0
	}
	id := g.next
	g.next++
	return id
}

func (g *grower) exhausted() error {
	return fmt.Errorf("%w: learning the topic needs id %d, MaxIndex is %d",
		ErrIndexExhausted, g.next, g.t.opts.MaxIndex)
}

// newNode creates the target of a new concrete or '+' edge leaving parent and records its op.
// label must be owned by the trie. It returns nil when ids are exhausted.
func (g *grower) newNode(parent *node, kind EdgeKind, label string) *node {
	id := g.alloc()
	if id == 0 {
		return nil
	}
	c := &node{id: id, varying: parent.varying}
	switch kind {
	case EdgePlus:
		c.varying++
		g.counts.plus++
	case EdgeConcrete:
		g.counts.concrete++
		g.counts.labelBytes += int64(len(label))
	}
	g.counts.nodes++
	g.ops = append(g.ops, Op{Parent: parent.id, Kind: kind, Label: label, Child: id})
	g.fresh = append(g.fresh, idNode{id, c})
	return c
}

// newDollarRoot creates the root of '$' topics. It returns nil when ids are exhausted.
func (g *grower) newDollarRoot() *node {
	id := g.alloc()
	if id == 0 {
		return nil
	}
	d := &node{id: id}
	g.counts.nodes++
	g.counts.dollar++
	g.ops = append(g.ops, Op{Parent: rootIndex, Kind: EdgeDollar, Child: id})
	g.fresh = append(g.fresh, idNode{id, d})
	g.graft.dollar = d
	return d
}

// step learns the edge for level at n (depth depth), which has neither a concrete edge for
// level nor a '+' edge, and returns the node the topic continues at, or nil when ids are
// exhausted. It sets lastPlus when the topic continues through a '+' edge.
func (g *grower) step(n *node, depth int, level string) *node {
	o := &g.t.opts
	th := o.threshold(depth)
	canPlus := n.plus == nil && int(n.varying) < o.MaxVarying
	g.lastPlus = false
	if canPlus && th == 0 {
		p := g.newNode(n, EdgePlus, "")
		if p == nil {
			return nil
		}
		g.linkPlus(n, p)
		g.lastPlus = true
		return p
	}
	// Clone: the caller's level is often a substring of a whole topic, which the trie would
	// otherwise keep alive.
	label := strings.Clone(level)
	c := g.newNode(n, EdgeConcrete, label)
	if c == nil {
		return nil
	}
	// The new concrete child is the one that may reach the threshold; it keeps its concrete
	// edge, and the '+' edge serves the siblings that come after it.
	var p *node
	if canPlus && n.concreteCount()+1 >= th {
		if p = g.newNode(n, EdgePlus, ""); p == nil {
			return nil
		}
	}
	g.linkConcrete(n, label, c)
	if p != nil {
		g.linkPlus(n, p)
	}
	return c
}

// end creates the end-of-topic edge at n and returns its id, or 0 when ids are exhausted.
func (g *grower) end(n *node) Index {
	id := g.alloc()
	if id == 0 {
		return 0
	}
	g.counts.streams++
	g.ops = append(g.ops, Op{Parent: n.id, Kind: EdgeEnd, Child: id})
	g.fresh = append(g.fresh, idNode{id, n})
	if n == g.shared {
		g.graft.eot = id
	} else {
		n.eot = id
	}
	return id
}

func (g *grower) linkConcrete(n *node, label string, c *node) {
	if n == g.shared {
		g.graft.label, g.graft.concrete = label, c
		return
	}
	g.counts.kidsBytes += n.addChild(label, c)
}

func (g *grower) linkPlus(n, p *node) {
	if n == g.shared {
		g.graft.plus = p
		return
	}
	n.plus = p
}

// commitLocked makes the new states visible. The caller holds t.mu.
func (g *grower) commitLocked() {
	t := g.t
	if g.graft.dollar != nil {
		t.dollar = g.graft.dollar
	}
	if s := g.shared; s != nil {
		if g.graft.concrete != nil {
			g.counts.kidsBytes += s.addChild(g.graft.label, g.graft.concrete)
		}
		if g.graft.plus != nil {
			s.plus = g.graft.plus
		}
		if g.graft.eot != 0 {
			s.eot = g.graft.eot
		}
	}
	t.counts.add(g.counts)
	t.next = g.next
	for _, f := range g.fresh {
		t.byID[f.id] = f.n
	}
}

func (c *counters) add(d counters) {
	c.nodes += d.nodes
	c.concrete += d.concrete
	c.plus += d.plus
	c.streams += d.streams
	c.dollar += d.dollar
	c.kidsBytes += d.kidsBytes
	c.labelBytes += d.labelBytes
}
