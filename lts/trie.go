package lts

import (
	"fmt"
	"sync"
)

// Index is the id of a trie state. Ids are allocated 1, 2, 3, ... in learning order (never
// hashed, so two states never share one); the static index of a topic, its stream, is the id of
// its end-of-topic state. 0 is never allocated: it names the root.
type Index uint64

// rootIndex is the id of the root of ordinary topics. The root of '$' topics is an ordinary
// allocated state reached from it by an EdgeDollar edge.
const rootIndex Index = 0

// Trie is the learned topic structure of one generation of one shard.
//
// Concurrency: Learn and Apply (the writers) are serialised by an internal mutex; the layout
// has one writer goroutine per shard anyway, and a second one would wait, not corrupt. Lookup,
// Match, WildcardOps, Ops and Stats (the readers) may be called from any number of goroutines
// at once, concurrently with a writer. Readers share an RWMutex read lock that a writer takes
// exclusively only for the short moment it links new states in: learning a topic that is
// already known never blocks a reader.
type Trie struct {
	opts Options

	// writeMu serialises writers. A writer holding it may read the trie without mu, because
	// only writers change it.
	writeMu sync.Mutex

	// mu guards the shape of the trie (every node field reachable from root, and dollar) and
	// counters. Readers hold mu.RLock; a writer holds writeMu and takes mu.Lock to change it.
	mu     sync.RWMutex
	root   *node
	dollar *node // root of topics starting with '$'; nil until the first one is learned
	counts counters

	// byID maps every allocated id to its node; an end-of-topic id maps to the node the
	// topic ends at (whose id differs). Use: Apply finds parents and detects reused ids.
	// Only writers touch it (under writeMu).
	byID map[Index]*node
	// next is the next id to allocate. Invariant: next > every id in byID. Changed by
	// writers under mu (commitLocked, applyLocked); Stats reads it under mu.RLock.
	next Index

	// inv schedules the checks of invariants builds (checkAfterWrite): writes counts the
	// writes that changed the trie, next is the count at which the next check runs.
	// Guarded by writeMu.
	inv struct{ writes, next int }
}

// counters are the figures behind Stats. Guarded by Trie.mu.
type counters struct {
	nodes      int64 // nodes, roots included
	concrete   int64 // concrete edges
	plus       int64 // '+' edges
	streams    int64 // end-of-topic edges
	dollar     int64 // 0 or 1
	kidsBytes  int64 // bytes held by children slices and maps
	labelBytes int64 // bytes of concrete labels
}

// New returns an empty trie. A nil opts means defaults. New panics if opts fails Validate:
// options come from configuration that the caller validates first.
func New(opts *Options) *Trie {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	var o Options
	if opts != nil {
		o = *opts
		o.Thresholds = append([]int(nil), opts.Thresholds...)
	}
	o.EnsureDefaults()
	root := &node{id: rootIndex}
	return &Trie{
		opts:   o,
		root:   root,
		byID:   map[Index]*node{rootIndex: root},
		next:   1,
		counts: counters{nodes: 1},
	}
}

// Lookup returns the static index of a topic (MQTT topic levels) and its varying levels (the
// levels that go through '+' edges, in order), or ok = false if the topic was never learned
// and no learned path covers it. It learns nothing.
//
// varying is a new slice that shares the strings of levels; it is nil when the topic has no
// varying level. Safe for concurrent use.
func (t *Trie) Lookup(levels []string) (idx Index, varying []string, ok bool) {
	return t.LookupAppend(levels, nil)
}

// LookupAppend is Lookup appending the varying levels to dst, so that a caller reusing dst
// looks topics up without allocating. When ok is false, varying is dst[:len(dst)] (possibly
// with scratch data beyond its length).
func (t *Trie) LookupAppend(levels, dst []string) (idx Index, varying []string, ok bool) {
	t.mu.RLock()
	n, i, varying := t.walk(levels, dst)
	if n != nil && i == len(levels) {
		idx = n.eot
	}
	t.mu.RUnlock()
	if idx == 0 {
		return 0, dst, false
	}
	return idx, varying, true
}

// walk follows the existing edges for levels, preferring concrete edges over '+', and returns
// the node where it stopped, the number of levels consumed and varying: dst with the levels
// consumed by '+' edges appended. n is nil when the topic starts with '$' and no '$' topic was
// learned yet. Callers hold mu.RLock or writeMu.
func (t *Trie) walk(levels, dst []string) (n *node, i int, varying []string) {
	varying = dst
	n = t.root
	if len(levels) > 0 && isDollar(levels[0]) {
		if n = t.dollar; n == nil {
			return nil, 0, varying
		}
	}
	for ; i < len(levels); i++ {
		if c := n.child(levels[i]); c != nil {
			n = c
			continue
		}
		if n.plus == nil {
			break
		}
		varying = t.appendVarying(varying, levels, i)
		n = n.plus
	}
	return n, i, varying
}

// appendVarying appends levels[i] to varying. A nil varying gets room for every varying level
// the topic can still have, so that one allocation serves the whole walk.
func (t *Trie) appendVarying(varying, levels []string, i int) []string {
	if varying == nil {
		varying = make([]string, 0, min(len(levels)-i, t.opts.MaxVarying))
	}
	return append(varying, levels[i])
}

// Learn returns the static index and varying levels of a topic like Lookup, learning the
// structure it needs first: every state it creates is appended to ops (parents before
// children), for the caller to persist in the same batch as the message that needed them.
//
// Learning follows the rules of the reference design: an existing concrete edge always wins;
// otherwise an existing '+' edge is taken; otherwise a concrete edge is created, and if that
// brings the node's concrete children to Threshold(depth), a '+' edge is created too (later new
// siblings take it). With threshold 0 the '+' edge is created and taken at once. No '+' edge is
// created below MaxVarying '+' edges.
//
// Errors: ErrInvalidTopic (nothing learned), ErrIndexExhausted (nothing learned, ops returned
// unchanged). varying shares the strings of levels; the trie keeps its own copies of labels,
// so levels may be reused after Learn returns. Writers are serialised (see Trie).
func (t *Trie) Learn(levels []string, ops []Op) (Index, []string, []Op, error) {
	return t.LearnAppend(levels, nil, ops)
}

// LearnAppend is Learn appending the varying levels to dst, so that a writer reusing dst (and
// ops) learns known topics without allocating. On error varying is dst.
func (t *Trie) LearnAppend(levels, dst []string, ops []Op) (idx Index, varying []string, _ []Op, _ error) {
	if err := checkTopic(levels); err != nil {
		return 0, dst, ops, err
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()

	// 1. Follow what exists. The common case ends here, without taking mu.
	n, i, varying := t.walk(levels, dst)
	if n != nil && i == len(levels) && n.eot != 0 {
		return n.eot, varying, ops, nil
	}

	// 2. Build the missing states aside, invisible to readers, so that running out of ids
	// leaves nothing half-learned.
	g := grower{t: t, next: t.next, ops: ops, mark: len(ops)}
	if n == nil {
		if n = g.newDollarRoot(); n == nil {
			return 0, dst, g.ops[:g.mark], g.exhausted()
		}
	} else {
		g.shared = n
	}
	for ; i < len(levels); i++ {
		if n = g.step(n, i, levels[i]); n == nil {
			return 0, dst, g.ops[:g.mark], g.exhausted()
		}
		if g.lastPlus {
			varying = t.appendVarying(varying, levels, i)
		}
	}
	eot := g.end(n)
	if eot == 0 {
		return 0, dst, g.ops[:g.mark], g.exhausted()
	}

	// 3. Link the new states in. Only the graft point is shared with readers.
	t.mu.Lock()
	g.commitLocked()
	t.mu.Unlock()
	t.checkAfterWrite()
	return eot, varying, g.ops, nil
}

// Stats describes the size of a trie.
type Stats struct {
	// Nodes counts trie states with outgoing edges: the roots and the targets of concrete
	// and '+' edges. End-of-topic states are counted by Streams.
	Nodes int64
	// ConcreteEdges, WildcardEdges and Streams count concrete, '+' and end-of-topic edges.
	ConcreteEdges, WildcardEdges, Streams int64
	// Edges counts every edge, the one to the '$' root included.
	Edges int64
	// MemoryBytes approximates the heap bytes the trie holds (nodes, children containers,
	// labels and the id index). It is computed, not measured; tests keep it within a factor
	// of the measured figure.
	MemoryBytes int64
	// NextIndex is the id the next new state will get. Ids only grow, across generations
	// too (inherited states keep theirs), so NextIndex against Options.MaxIndex says how
	// close the id space is to exhaustion.
	NextIndex Index
}

// Stats returns the trie's size figures. Safe for concurrent use.
func (t *Trie) Stats() Stats {
	t.mu.RLock()
	c, next := t.counts, t.next
	t.mu.RUnlock()
	ids := c.nodes + c.streams
	return Stats{
		Nodes:         c.nodes,
		ConcreteEdges: c.concrete,
		WildcardEdges: c.plus,
		Streams:       c.streams,
		Edges:         c.concrete + c.plus + c.streams + c.dollar,
		MemoryBytes:   c.nodes*nodeBytes + c.kidsBytes + c.labelBytes + ids*idEntryBytes,
		NextIndex:     next,
	}
}

func (s Stats) String() string {
	return fmt.Sprintf("nodes=%d edges=%d (concrete=%d +=%d end=%d) memory≈%dB next=%d",
		s.Nodes, s.Edges, s.ConcreteEdges, s.WildcardEdges, s.Streams, s.MemoryBytes, s.NextIndex)
}

// isDollar reports whether a first topic level puts the topic under the '$' root
// [MQTT-4.7.2-1].
func isDollar(level string) bool { return len(level) > 0 && level[0] == '$' }

// checkTopic validates topic levels as an MQTT topic name.
func checkTopic(levels []string) error {
	if len(levels) == 0 {
		return fmt.Errorf("%w: no levels", ErrInvalidTopic)
	}
	for i, l := range levels {
		if !validLevel(l) {
			return fmt.Errorf("%w: level %d %q contains '+', '#', '/' or NUL", ErrInvalidTopic, i, l)
		}
	}
	return nil
}

// validLevel reports whether l can be a level of a topic name. Empty levels are valid.
func validLevel(l string) bool {
	// A plain loop: this runs for every level of every message written.
	for i := 0; i < len(l); i++ {
		switch l[i] {
		case '+', '#', '/', 0:
			return false
		}
	}
	return true
}
