package subscriptions

import (
	"strings"
	"sync"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Retained maps topic names to values, typically the retained message of each topic, and finds the
// topics a filter matches: the lookup a new subscription needs [MQTT-3.3.1-9] v5. The broker uses it as
// its in-memory retained store and persists the values itself.
//
// The zero value is not usable; call NewRetained. All methods are safe for concurrent use. Values are
// stored and returned as they are: if V is a pointer, the caller must not modify what it points to after
// Set.
type Retained[V any] struct {
	mu struct {
		sync.RWMutex
		root rnode[V]
		// count is the number of topics holding a value.
		count int
	}
}

// RetainedEntry is one topic and its value, as returned by Match and All.
type RetainedEntry[V any] struct {
	Topic string
	Value V
}

// rnode is one level of a topic name. Guarded by Retained.mu.
type rnode[V any] struct {
	parent   *rnode[V]
	level    string
	children children[rnode[V]]
	// topic is the full name when the node holds a value, so matching never rebuilds names.
	topic string
	has   bool
	value V
}

// NewRetained returns an empty retained index.
func NewRetained[V any]() *Retained[V] {
	return &Retained[V]{}
}

// Set stores v for the topic name, replacing any previous value, and reports whether there was one. A
// topic that is not a valid name (see topic.ValidateName) gets that validation error.
func (r *Retained[V]) Set(name string, v V) (replaced bool, err error) {
	if err := topic.ValidateName(name); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.mu.root
	for rest, more := name, true; more; {
		var level string
		level, rest, more = topic.CutLevel(rest)
		c := n.children.get(level)
		if c == nil {
			c = &rnode[V]{parent: n, level: intern(level)}
			n.children.put(c.level, c)
		}
		n = c
	}
	replaced = n.has
	if !replaced {
		n.topic, n.has = strings.Clone(name), true
		r.mu.count++
	}
	n.value = v
	return replaced, nil
}

// Get returns the value stored for the topic name.
func (r *Retained[V]) Get(name string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.findLocked(name); n != nil && n.has {
		return n.value, true
	}
	var zero V
	return zero, false
}

// Delete removes the value of the topic name, as a retained message with an empty payload does
// [MQTT-3.3.1-6] v5, and reports whether there was one.
func (r *Retained[V]) Delete(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.findLocked(name)
	if n == nil || !n.has {
		return false
	}
	var zero V
	n.topic, n.has, n.value = "", false, zero
	r.mu.count--
	// Unlink the nodes that now lead nowhere.
	for n.parent != nil && !n.has && n.children.len() == 0 {
		p := n.parent
		p.children.del(n.level)
		n.parent = nil
		n = p
	}
	return true
}

func (r *Retained[V]) findLocked(name string) *rnode[V] {
	n := &r.mu.root
	for rest, more := name, true; more && n != nil; {
		var level string
		level, rest, more = topic.CutLevel(rest)
		n = n.children.get(level)
	}
	return n
}

// Len returns the number of topics holding a value.
func (r *Retained[V]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.mu.count
}

// Match appends to dst every stored topic that the filter matches, with its value, and returns the
// extended slice. The filter is a plain topic filter (a shared subscription receives no retained
// messages, MQTT5 §4.8.2, so there is nothing to strip); an invalid one matches nothing. Leading
// wildcards skip '$' topics [MQTT-4.7.2-1] v5. The order is unspecified.
func (r *Retained[V]) Match(filter string, dst []RetainedEntry[V]) []RetainedEntry[V] {
	if topic.ValidateFilter(filter) != nil {
		return dst
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.matchLocked(&r.mu.root, filter, true, dst)
}

// matchLocked walks the part of the tree under n that rest, the filter after n's level, can match.
// first is set at the root, where wildcards skip '$' topics.
func (r *Retained[V]) matchLocked(n *rnode[V], rest string, first bool, dst []RetainedEntry[V]) []RetainedEntry[V] {
	level, rest, more := topic.CutLevel(rest)
	switch level {
	case "#":
		// "a/#" matches "a" itself as well as everything below it.
		if n.has {
			dst = append(dst, RetainedEntry[V]{n.topic, n.value})
		}
		n.children.each(func(level string, c *rnode[V]) {
			if !(first && strings.HasPrefix(level, "$")) {
				dst = appendAll(c, dst)
			}
		})
	case "+":
		n.children.each(func(level string, c *rnode[V]) {
			if !(first && strings.HasPrefix(level, "$")) {
				dst = r.step(c, rest, more, dst)
			}
		})
	default:
		if c := n.children.get(level); c != nil {
			dst = r.step(c, rest, more, dst)
		}
	}
	return dst
}

// step continues the walk into c, the child that matched one filter level.
func (r *Retained[V]) step(c *rnode[V], rest string, more bool, dst []RetainedEntry[V]) []RetainedEntry[V] {
	if more {
		return r.matchLocked(c, rest, false, dst)
	}
	if c.has {
		dst = append(dst, RetainedEntry[V]{c.topic, c.value})
	}
	return dst
}

// All appends every stored topic, '$' topics included, to dst, for snapshots and persistence.
func (r *Retained[V]) All(dst []RetainedEntry[V]) []RetainedEntry[V] {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return appendAll(&r.mu.root, dst)
}

// appendAll appends n and everything under it.
func appendAll[V any](n *rnode[V], dst []RetainedEntry[V]) []RetainedEntry[V] {
	if n.has {
		dst = append(dst, RetainedEntry[V]{n.topic, n.value})
	}
	n.children.each(func(_ string, c *rnode[V]) { dst = appendAll(c, dst) })
	return dst
}
