package subscriptions

import "unique"

// smallKids is how many exact children a node keeps in a slice before switching to a map. Most nodes of
// a large index have one child (the last levels of device topics), where a Go map would cost ~250 bytes
// and a slice entry costs 24; scanning up to this many short, interned strings is as fast as hashing.
const smallKids = 8

// children is the set of exact-level children of a trie node (N is the node type of either trie).
// The zero value is empty.
type children[N any] struct {
	// small holds the children while there are at most smallKids; nil once big is in use.
	small []kid[N]
	// big replaces small when a node gains more children; it stays a map until it is empty again.
	big map[string]*N
}

type kid[N any] struct {
	level string
	node  *N
}

// intern returns a canonical copy of a level. Levels repeat a lot ("temp", "status", small numbers), so
// sharing their bytes saves memory and keeps the bytes a lookup compares hot in the cache; the copy also
// keeps the index from pinning the caller's buffer. Sharing is best effort: the index keeps the string,
// not the unique.Handle, so once the runtime drops its weak entry a later level gets a fresh copy, which
// costs memory but never correctness.
func intern(level string) string { return unique.Make(level).Value() }

func (c *children[N]) len() int {
	if c.big != nil {
		return len(c.big)
	}
	return len(c.small)
}

func (c *children[N]) get(level string) *N {
	if c.big != nil {
		return c.big[level]
	}
	for i := range c.small {
		if c.small[i].level == level {
			return c.small[i].node
		}
	}
	return nil
}

// put adds a child; level must not be present yet.
func (c *children[N]) put(level string, n *N) {
	switch {
	case c.big != nil:
		c.big[level] = n
	case len(c.small) < smallKids:
		c.small = append(c.small, kid[N]{level, n})
	default:
		c.big = make(map[string]*N, 2*smallKids)
		for _, k := range c.small {
			c.big[k.level] = k.node
		}
		c.big[level] = n
		c.small = nil
	}
}

// del removes a child if present.
func (c *children[N]) del(level string) {
	if c.big != nil {
		delete(c.big, level)
		if len(c.big) == 0 {
			c.big = nil
		}
		return
	}
	for i := range c.small {
		if c.small[i].level == level {
			last := len(c.small) - 1
			c.small[i] = c.small[last]
			c.small[last] = kid[N]{}
			c.small = c.small[:last]
			if last == 0 {
				c.small = nil
			}
			return
		}
	}
}

// each calls f for every child, in no particular order.
func (c *children[N]) each(f func(level string, n *N)) {
	if c.big != nil {
		for l, n := range c.big {
			f(l, n)
		}
		return
	}
	for _, k := range c.small {
		f(k.level, k.node)
	}
}
