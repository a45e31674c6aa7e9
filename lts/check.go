package lts

import (
	"fmt"
	"strings"

	"github.com/mqttds/mqttds/internal/invariants"
)

// CheckInvariants verifies the structural invariants of a trie (see node and Trie) by a full
// walk: unique ids, children above parents, '+' counts per path within MaxVarying, sorted small
// children, '$' labels only under the '$' root, byID and the counters matching the trie. Tests
// call it after every randomized round, and builds with the invariants tag after writes (see
// checkAfterWrite). It waits for a writer in progress.
func CheckInvariants(t *Trie) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	return t.checkWriterLocked()
}

// checkAfterWrite runs the full check, in builds with the invariants tag, after a write that
// changed the trie: after each of the first checkEveryWrite such writes, then with gaps that
// grow with the trie (half the writes so far), so that the checks cost a constant factor of
// learning instead of a walk of the whole trie per write. The caller holds writeMu.
func (t *Trie) checkAfterWrite() {
	if !invariants.Enabled {
		return
	}
	t.inv.writes++
	if t.inv.writes <= checkEveryWrite || t.inv.writes >= t.inv.next {
		invariants.CheckErr(t.checkWriterLocked())
		t.inv.next = t.inv.writes + max(checkEveryWrite, t.inv.writes/2)
	}
}

// checkEveryWrite is how many writes are checked one by one (small tries: the cases tests
// build by hand).
const checkEveryWrite = 256

// checkWriterLocked is CheckInvariants for a caller that holds writeMu.
func (t *Trie) checkWriterLocked() error {
	t.mu.RLock()
	defer t.mu.RUnlock()

	c := invChecker{t: t, seen: map[Index]*node{}}
	c.seen[rootIndex] = t.root
	c.count.nodes = 1
	c.node(t.root, 0, "root")
	if t.dollar != nil {
		c.edge(t.root, t.dollar, "$", "")
		c.count.dollar = 1
		c.node(t.dollar, 0, "$root")
	}
	if c.err != nil {
		return c.err
	}
	got := t.counts
	got.kidsBytes, c.count.kidsBytes = 0, 0 // depends on slice growth history
	if got != c.count {
		return fmt.Errorf("counters %+v, trie has %+v", got, c.count)
	}
	if len(t.byID) != len(c.seen) {
		return fmt.Errorf("byID has %d ids, trie has %d", len(t.byID), len(c.seen))
	}
	for id, n := range c.seen {
		if t.byID[id] != n {
			return fmt.Errorf("byID[%d] does not point at its state", id)
		}
		if id >= t.next {
			return fmt.Errorf("id %d not below next %d", id, t.next)
		}
		if id >= t.opts.MaxIndex {
			return fmt.Errorf("id %d not below MaxIndex %d", id, t.opts.MaxIndex)
		}
	}
	return nil
}

type invChecker struct {
	t     *Trie
	seen  map[Index]*node // id -> node (end-of-topic ids -> the node they end at)
	count counters
	err   error
}

func (c *invChecker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

// edge checks one edge from parent to child (child nil for end of topic, with id).
func (c *invChecker) edge(parent, child *node, what string, path string) {
	id := child.id
	if id <= parent.id {
		c.fail("%s: edge %s from %d to %d: child not above parent", path, what, parent.id, id)
	}
	if _, dup := c.seen[id]; dup {
		c.fail("%s: id %d used twice", path, id)
	}
	c.seen[id] = child
	c.count.nodes++
}

func (c *invChecker) node(n *node, plusSeen int, path string) {
	if int(n.varying) != plusSeen {
		c.fail("%s: varying %d, path has %d '+' edges", path, n.varying, plusSeen)
	}
	if plusSeen > c.t.opts.MaxVarying {
		c.fail("%s: %d '+' edges beyond MaxVarying", path, plusSeen)
	}
	isRoot, isDollarRoot := n == c.t.root, n == c.t.dollar
	if n.eot != 0 {
		if isRoot || isDollarRoot {
			c.fail("%s: end of topic at a root", path)
		}
		if n.eot <= n.id {
			c.fail("%s: end id %d not above %d", path, n.eot, n.id)
		}
		if _, dup := c.seen[n.eot]; dup {
			c.fail("%s: id %d used twice", path, n.eot)
		}
		c.seen[n.eot] = n
		c.count.streams++
	}
	if n.big != nil && (n.kids != nil || len(n.big) <= maxSortedKids) {
		c.fail("%s: map of %d children (slice %d)", path, len(n.big), len(n.kids))
	}
	if len(n.kids) > maxSortedKids {
		c.fail("%s: slice of %d children", path, len(n.kids))
	}
	for i := 1; i < len(n.kids); i++ {
		if n.kids[i-1].label >= n.kids[i].label {
			c.fail("%s: children not sorted", path)
		}
	}
	for _, e := range n.sortedKids() {
		if !validLevel(e.label) {
			c.fail("%s: invalid label %q", path, e.label)
		}
		if isRoot && strings.HasPrefix(e.label, "$") || isDollarRoot && !strings.HasPrefix(e.label, "$") {
			c.fail("%s: label %q under the wrong root", path, e.label)
		}
		c.count.concrete++
		c.count.labelBytes += int64(len(e.label))
		c.edge(n, e.child, fmt.Sprintf("%q", e.label), path)
		c.node(e.child, plusSeen, path+"/"+e.label)
	}
	if n.plus != nil {
		c.count.plus++
		c.edge(n, n.plus, "+", path)
		c.node(n.plus, plusSeen+1, path+"/+")
	}
}
