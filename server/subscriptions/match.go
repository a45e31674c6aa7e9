package subscriptions

import (
	"strings"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Subscriber is one recipient of a PUBLISH, as returned by Index.Match: either a client (non-shared
// subscriptions) or a shared subscription to pick a member from.
type Subscriber struct {
	// ClientID is the receiving client; "" for a shared subscription.
	ClientID string
	// QoS is the highest QoS among the client's matching subscriptions [MQTT-3.3.4-2] v5. The delivery
	// uses the lower of it and the published QoS [MQTT-3.8.4-8] v5.
	QoS byte
	// RetainAsPublished is set if any of the client's matching subscriptions asked for it: with one
	// copy for several subscriptions the specification leaves the choice open, and keeping the flag
	// loses no information.
	RetainAsPublished bool
	// SubscriptionIDs are the identifiers of all the client's matching subscriptions that have one, in
	// no particular order [MQTT-3.3.4-3] v5, [MQTT-3.3.4-4] v5. Empty when none has.
	SubscriptionIDs []uint32

	// Group is the share name of a shared subscription; "" otherwise. Two shared subscriptions with the
	// same name on different filters are different subscriptions and come out as two Subscribers.
	Group string
	// Members are the clients of the shared subscription, each with its own options. The slice is
	// shared with the index and with other Match results: read it, never modify it.
	Members []Member

	group *group
}

// Shared reports whether s stands for a shared subscription.
func (s *Subscriber) Shared() bool { return s.group != nil }

// Match appends to dst the recipients of a message published on topic by publisherID, and returns the
// extended slice:
//
//   - one Subscriber per client with at least one matching non-shared subscription, however many of its
//     subscriptions match, with the highest QoS and every subscription identifier among them;
//   - a subscription with No Local set does not count when its client is the publisher
//     [MQTT-3.8.3-3] v5 (publisherID "" matches no client, for messages the broker publishes itself);
//   - one Subscriber per matching shared subscription, with its members (Pick chooses one).
//
// Shared Subscribers come first, then the clients; the order within each part is unspecified. topic
// must be a valid topic name (see topic.ValidateName): a filter-like string gives unspecified results.
//
// To avoid allocating per call, pass the previous result truncated to zero length: Match reuses the
// SubscriptionIDs arrays found in dst's spare capacity, so a caller that keeps a Subscriber beyond the
// next Match into the same buffer must copy its SubscriptionIDs.
func (ix *Index) Match(topic, publisherID string, dst []Subscriber) []Subscriber {
	m := ix.scratch.Get().(*matcher)
	m.dst = dst

	ix.mu.RLock()
	m.visit(&ix.mu.root, topic, strings.HasPrefix(topic, "$"))
	m.collect(publisherID)
	ix.mu.RUnlock()

	dst = m.dst
	clear(m.hits) // drop the pointers so the pool does not keep removed subscriptions alive
	m.hits, m.nodes, m.dst = m.hits[:0], 0, nil
	ix.scratch.Put(m)
	return dst
}

// matcher carries the state of one Match. Matchers are recycled through Index.scratch so that their
// buffers are reused.
type matcher struct {
	// hits are the non-shared subscriptions of every matching node, node by node.
	hits []*sub
	// nodes counts the matching nodes that contributed hits: with fewer than two, no client can appear
	// twice and the merge step is skipped.
	nodes int
	// table is the open-addressing hash table of the merge step: client seq → index in dst.
	table []mergeSlot
	dst   []Subscriber
}

// mergeSlot is one entry of matcher.table; seq 0 marks an empty slot (client seqs start at 1).
type mergeSlot struct {
	seq uint64
	idx int
}

// visit finds the nodes under n whose filters match name, the part of the topic after n's level.
// dollar is set on the root for a topic starting with '$', whose first level wildcards must not match
// [MQTT-4.7.2-1] v5.
func (m *matcher) visit(n *node, name string, dollar bool) {
	if !dollar && n.hash != nil {
		m.emit(n.hash) // "#" after n matches every remaining level
	}
	level, rest, more := topic.CutLevel(name)
	if c := n.children.get(level); c != nil {
		m.step(c, rest, more)
	}
	if !dollar && n.plus != nil {
		m.step(n.plus, rest, more)
	}
}

// step continues the walk into c, the child that matched one level.
func (m *matcher) step(c *node, rest string, more bool) {
	if more {
		m.visit(c, rest, false)
		return
	}
	m.emit(c)
	if c.hash != nil {
		m.emit(c.hash) // "a/#" matches "a" (§4.7.1.2)
	}
}

// emit records the subscriptions of a matching node.
func (m *matcher) emit(n *node) {
	if len(n.subs) > 0 {
		m.hits = append(m.hits, n.subs...)
		m.nodes++
	}
	for _, g := range n.groups {
		var s *Subscriber
		m.dst, s = grow(m.dst)
		s.Group, s.Members, s.group = g.name, g.members, g
	}
}

// collect turns the hits into one Subscriber per client.
func (m *matcher) collect(publisherID string) {
	// A client can only have hits in several nodes if several nodes matched. Merging goes through a
	// hash table of client seqs rather than a sort: linear in the number of hits, which matters for
	// topics with thousands of subscribers.
	merge := m.nodes > 1
	var mask uint64
	if merge {
		size := 4
		for size < 2*len(m.hits) {
			size *= 2
		}
		if cap(m.table) < size {
			m.table = make([]mergeSlot, size)
		}
		m.table = m.table[:size]
		clear(m.table)
		mask = uint64(size - 1)
	}
	for _, h := range m.hits {
		if h.opts.NoLocal && h.id == publisherID {
			continue // [MQTT-3.8.3-3] v5
		}
		var s *Subscriber
		if merge {
			i := (h.seq * 0x9e3779b97f4a7c15 >> 32) & mask // Fibonacci hashing spreads sequential seqs
			for m.table[i].seq != 0 && m.table[i].seq != h.seq {
				i = (i + 1) & mask
			}
			if m.table[i].seq == h.seq {
				s = &m.dst[m.table[i].idx]
			} else {
				m.dst, s = grow(m.dst)
				m.table[i] = mergeSlot{seq: h.seq, idx: len(m.dst) - 1}
				s.ClientID = h.id
			}
		} else {
			m.dst, s = grow(m.dst)
			s.ClientID = h.id
		}
		s.QoS = max(s.QoS, h.opts.QoS)
		s.RetainAsPublished = s.RetainAsPublished || h.opts.RetainAsPublished
		if h.opts.SubscriptionID != 0 {
			s.SubscriptionIDs = append(s.SubscriptionIDs, h.opts.SubscriptionID)
		}
	}
}

// grow appends a zero Subscriber to dst, keeping the SubscriptionIDs array of a spare element, and
// returns a pointer to it that is valid until the next grow.
func grow(dst []Subscriber) ([]Subscriber, *Subscriber) {
	if len(dst) < cap(dst) {
		dst = dst[:len(dst)+1]
		s := &dst[len(dst)-1]
		*s = Subscriber{SubscriptionIDs: s.SubscriptionIDs[:0]}
		return dst, s
	}
	dst = append(dst, Subscriber{})
	return dst, &dst[len(dst)-1]
}
