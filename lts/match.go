package lts

import (
	"cmp"
	"slices"
)

// Constraint restricts one varying level of a stream: Any ('+') or the concrete Value.
type Constraint struct {
	Any   bool
	Value string
}

func (c Constraint) String() string {
	if c.Any {
		return "+"
	}
	return c.Value
}

// Match is one stream that may hold topics matching a filter: the static index and one
// constraint per varying level of the stream, in level order. A topic of the stream matches
// the filter exactly when each of its varying levels satisfies its constraint.
type Match struct {
	Index   Index
	Varying []Constraint
}

// Satisfies reports whether a topic with these varying levels (as returned by Lookup for
// m.Index) satisfies m's constraints.
func (m Match) Satisfies(varying []string) bool {
	if len(varying) != len(m.Varying) {
		return false
	}
	for i, c := range m.Varying {
		if !c.Any && c.Value != varying[i] {
			return false
		}
	}
	return true
}

// Match returns the streams whose topics can match an MQTT topic filter (its levels), sorted by
// Index; every stream appears at most once. Rules ([MQTT-4.7]):
//   - a concrete filter level follows the concrete edge with that label if there is one,
//     else the '+' edge with a concrete constraint (the reference design follows both, but a
//     topic with that level can only be behind the concrete edge: see the invariant on node);
//   - '+' follows every concrete edge and the '+' edge (adding an Any constraint);
//   - '#' (last level only) takes the whole subtree, including the topic that ends at the
//     parent level: "a/#" matches "a";
//   - at the end of the filter only the end-of-topic edge matches;
//   - a filter whose first level is '+' or '#' never matches a topic starting with '$'
//     [MQTT-4.7.2-1], while "$SYS/#" matches under the '$' root.
//
// A filter that is not a valid MQTT filter (no levels, '#' before the last level, '+' or '#'
// sharing a level with other characters, NUL) matches nothing. The result and its
// constraints are owned by the caller; constraint values share the strings of filter. Safe for
// concurrent use.
func (t *Trie) Match(filter []string) []Match {
	if !validFilter(filter) {
		return nil
	}
	m := matcher{filter: filter}
	t.mu.RLock()
	start := t.root
	if isDollar(filter[0]) {
		start = t.dollar
	}
	if start != nil {
		m.walk(start, 0)
	}
	t.mu.RUnlock()
	// Map iteration makes the walk order vary; the trie is a tree, so an index is found at
	// most once and sorting by it gives one order.
	slices.SortFunc(m.out, func(a, b Match) int { return cmp.Compare(a.Index, b.Index) })
	return m.out
}

// matcher collects the results of one Match walk. stack holds the constraints of the current
// path; at each result they are appended to flat, and the result's Varying is a capped
// sub-slice of flat. When flat grows, earlier results keep pointing into the old array, whose
// contents never change again, so one flat slice serves every result.
type matcher struct {
	filter []string
	stack  []Constraint
	flat   []Constraint
	out    []Match
}

// walk matches filter[i:] from n.
func (m *matcher) walk(n *node, i int) {
	if i == len(m.filter) {
		if n.eot != 0 {
			m.emit(n.eot)
		}
		return
	}
	switch f := m.filter[i]; f {
	case "#":
		m.subtree(n)
	case "+":
		if n.big != nil {
			for _, c := range n.big {
				m.walk(c, i+1)
			}
		} else {
			for _, e := range n.kids {
				m.walk(e.child, i+1)
			}
		}
		if n.plus != nil {
			m.push(Constraint{Any: true})
			m.walk(n.plus, i+1)
			m.stack = m.stack[:len(m.stack)-1]
		}
	default:
		if c := n.child(f); c != nil {
			// A node's concrete edges are all in place before its '+' edge exists (Learn
			// never adds one later and Apply refuses to), so a topic whose level here is f
			// took the concrete edge: the '+' stream holds none of them.
			m.walk(c, i+1)
		} else if n.plus != nil {
			m.push(Constraint{Value: f})
			m.walk(n.plus, i+1)
			m.stack = m.stack[:len(m.stack)-1]
		}
	}
}

// subtree emits every topic at or below n.
func (m *matcher) subtree(n *node) {
	if n.eot != 0 {
		m.emit(n.eot)
	}
	if n.big != nil {
		for _, c := range n.big {
			m.subtree(c)
		}
	} else {
		for _, e := range n.kids {
			m.subtree(e.child)
		}
	}
	if n.plus != nil {
		m.push(Constraint{Any: true})
		m.subtree(n.plus)
		m.stack = m.stack[:len(m.stack)-1]
	}
}

// push adds a constraint to the current path, sized on first use for typical depths.
func (m *matcher) push(c Constraint) {
	if m.stack == nil {
		m.stack = make([]Constraint, 0, 4)
	}
	m.stack = append(m.stack, c)
}

func (m *matcher) emit(idx Index) {
	var varying []Constraint
	if len(m.stack) > 0 {
		off := len(m.flat)
		m.flat = append(m.flat, m.stack...)
		varying = m.flat[off:len(m.flat):len(m.flat)]
	}
	m.out = append(m.out, Match{Index: idx, Varying: varying})
}

// validFilter reports whether filter (its levels) is a valid MQTT topic filter [MQTT-4.7.1].
func validFilter(filter []string) bool {
	if len(filter) == 0 {
		return false
	}
	for i, l := range filter {
		switch l {
		case "+":
		case "#":
			if i != len(filter)-1 {
				return false
			}
		default:
			for j := 0; j < len(l); j++ {
				if c := l[j]; c == '+' || c == '#' || c == 0 {
					return false
				}
			}
		}
	}
	return true
}
