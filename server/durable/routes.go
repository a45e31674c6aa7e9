package durable

import (
	"strings"
	"sync"
)

// RouteIndex answers "does any durable subscription match this topic?" for the publish path: a
// message is written to storage only when the answer is yes. It counts filters (several
// sessions may hold the same one), so Remove undoes exactly one Add.
//
// Filters without wildcards are counted in a map: a topic matches one only if it is equal, and
// such filters are often one per session ("dev/17/cmd"), where a trie path of small maps
// would cost several times the session's compact entry. Filters with wildcards are a trie of
// topic levels with a count on each filter's end node; Match looks the topic up in the map,
// then walks at most one trie path per '+' branch and stops at the first hit, so its cost is
// bounded by the topic's levels times the wildcard fan-out, not by the number of
// subscriptions. The index lives in memory and is rebuilt from the persisted session records
// when the Store opens.
//
// Safe for concurrent use: Match takes a read lock, Add and Remove a write lock.
type RouteIndex struct {
	mu    sync.RWMutex
	exact map[string]int32 // filters without wildcards
	root  routeNode        // filters with wildcards
	n     int              // distinct filters
}

// wild reports whether a filter has a wildcard level.
func wild(filter string) bool { return strings.ContainsAny(filter, "+#") }

type routeNode struct {
	children map[string]*routeNode // exact levels, '+' and '#'
	count    int                   // subscriptions ending here
}

// Add records one durable subscription to filter (no "$share/" prefix).
func (r *RouteIndex) Add(filter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !wild(filter) {
		if r.exact == nil {
			r.exact = make(map[string]int32)
		}
		if r.exact[filter] == 0 {
			r.n++
		}
		r.exact[filter]++
		return
	}
	n := &r.root
	for _, l := range strings.Split(filter, "/") {
		c := n.children[l]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*routeNode)
			}
			c = &routeNode{}
			n.children[l] = c
		}
		n = c
	}
	if n.count == 0 {
		r.n++
	}
	n.count++
}

// Remove forgets one subscription to filter added earlier; it reports false if there was none.
func (r *RouteIndex) Remove(filter string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !wild(filter) {
		c := r.exact[filter]
		switch {
		case c == 0:
			return false
		case c == 1:
			delete(r.exact, filter)
			r.n--
		default:
			r.exact[filter] = c - 1
		}
		return true
	}
	levels := strings.Split(filter, "/")
	path := make([]*routeNode, 0, len(levels)+1)
	n := &r.root
	path = append(path, n)
	for _, l := range levels {
		if n = n.children[l]; n == nil {
			return false
		}
		path = append(path, n)
	}
	if n.count == 0 {
		return false
	}
	n.count--
	if n.count == 0 {
		r.n--
	}
	// Prune empty nodes bottom-up so that churn does not grow the trie.
	for i := len(path) - 1; i > 0; i-- {
		if path[i].count > 0 || len(path[i].children) > 0 {
			break
		}
		delete(path[i-1].children, levels[i-1])
	}
	return true
}

// Len returns the number of distinct filters.
func (r *RouteIndex) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}

// Match reports whether some filter in the index matches the topic name. Wildcards in the first
// level do not match names starting with '$' [MQTT-4.7.2-1].
func (r *RouteIndex) Match(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return false
	}
	if r.exact[name] > 0 {
		return true
	}
	return len(r.root.children) > 0 && matchNode(&r.root, name, true)
}

// matchNode matches the rest of a name (levels separated by '/') below n.
func matchNode(n *routeNode, rest string, first bool) bool {
	dollar := first && strings.HasPrefix(rest, "$")
	if !dollar {
		if h := n.children["#"]; h != nil && h.count > 0 {
			return true // '#' also matches the parent level itself ("a/#" matches "a")
		}
	}
	level, tail, more := strings.Cut(rest, "/")
	try := func(c *routeNode) bool {
		if c == nil {
			return false
		}
		if !more {
			if c.count > 0 {
				return true
			}
			h := c.children["#"]
			return h != nil && h.count > 0
		}
		return matchNode(c, tail, false)
	}
	if try(n.children[level]) {
		return true
	}
	return !dollar && try(n.children["+"])
}
