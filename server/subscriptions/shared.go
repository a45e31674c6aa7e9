package subscriptions

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Member is one client of a shared subscription, with the options it subscribed with.
type Member struct {
	ClientID string
	// QoS is the member's own granted QoS, the one its deliveries use [MQTT-4.8.2-3] v5.
	QoS               byte
	RetainAsPublished bool
	// SubscriptionID is the member's own identifier (0 = none); a delivery to this member carries only
	// this one (MQTT5 §4.8.2).
	SubscriptionID uint32
}

// group is one shared subscription: a share name on one filter node.
type group struct {
	name string
	node *node
	// members is what Match hands out, and callers read it after the index lock is released, so an
	// element once published is never written again: an update or a removal publishes a new array. A
	// new member is appended in place, which no earlier snapshot can see (each snapshot's length ends
	// before it). Written under Index.mu (write lock).
	members []Member
	// subs[i] is the stored subscription of members[i]. Guarded by Index.mu.
	subs []*sub
	// pos maps client → index in subs once the group has more than smallNode members; nil before.
	// Guarded by Index.mu.
	pos map[*client]int
	// next is the round-robin cursor. Atomic because Pick runs outside the index lock.
	next atomic.Uint64
	// sticky is the member the Sticky strategy keeps choosing while it stays online.
	sticky atomic.Pointer[string]
}

// filter is the group's subscription filter in canonical form, "$share/{group}/{filter}".
func (g *group) filter() string {
	return topic.Filter{Filter: g.node.filter(), Group: g.name}.String()
}

// Filter is a shared subscription's filter in canonical form ("$share/{group}/{filter}"), the
// form Index.Watch reports; "" for a client. It allocates: for the cluster's routing, not for
// every delivery.
func (s *Subscriber) Filter() string {
	if s.group == nil {
		return ""
	}
	return s.group.filter()
}

// find returns the index of client c among the members, or -1.
func (g *group) find(c *client) int {
	if g.pos != nil {
		if i, ok := g.pos[c]; ok {
			return i
		}
		return -1
	}
	for i, s := range g.subs {
		if s.client == c {
			return i
		}
	}
	return -1
}

// set adds the member for s, or publishes its new options if it is already a member.
func (g *group) set(s *sub) {
	m := Member{ClientID: s.client.id, QoS: s.opts.QoS, RetainAsPublished: s.opts.RetainAsPublished,
		SubscriptionID: s.opts.SubscriptionID}
	if i := g.find(s.client); i >= 0 {
		members := slices.Clone(g.members)
		members[i] = m
		g.members = members
		return
	}
	g.members = append(g.members, m)
	g.subs = append(g.subs, s)
	switch {
	case g.pos != nil:
		g.pos[s.client] = len(g.subs) - 1
	case len(g.subs) > smallNode:
		g.pos = make(map[*client]int, len(g.subs))
		for i, s := range g.subs {
			g.pos[s.client] = i
		}
	}
}

// remove drops member i, keeping the order of the others so that round robin and hashing move as little
// as possible. It costs O(members): shared subscriptions are sized for up to a few thousand members.
func (g *group) remove(i int) {
	members := make([]Member, 0, len(g.members)-1)
	members = append(members, g.members[:i]...)
	g.members = append(members, g.members[i+1:]...)
	if g.pos != nil {
		delete(g.pos, g.subs[i].client)
	}
	copy(g.subs[i:], g.subs[i+1:])
	g.subs[len(g.subs)-1] = nil
	g.subs = g.subs[:len(g.subs)-1]
	if g.pos != nil {
		for j := i; j < len(g.subs); j++ {
			g.pos[g.subs[j].client] = j
		}
	}
}

// Strategy chooses which member of a shared subscription receives a message.
type Strategy uint8

const (
	// RoundRobin takes the members in turn.
	RoundRobin Strategy = iota
	// Random takes a member at random.
	Random
	// Sticky keeps choosing the same member for as long as it stays online, then picks another at random.
	Sticky
	// HashClientID chooses by a hash of the publisher's client id, so the messages of one publisher keep
	// going to the same member (and stay in order) while the group does not change.
	HashClientID
)

var strategyNames = [...]string{RoundRobin: "round_robin", Random: "random", Sticky: "sticky",
	HashClientID: "hash_clientid"}

// String returns the name ParseStrategy accepts.
func (s Strategy) String() string {
	if int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("Strategy(%d)", s)
}

// ParseStrategy reads a strategy name as written in the broker's configuration.
func ParseStrategy(name string) (Strategy, error) {
	for i, n := range strategyNames {
		if n == name {
			return Strategy(i), nil
		}
	}
	return 0, fmt.Errorf("subscriptions: unknown shared subscription strategy %q (want round_robin, random, sticky or hash_clientid)", name)
}

// Pick chooses the member of a shared Subscriber that receives the message, skipping members for which
// online returns false (a nil online treats every member as online). It returns false if no member is
// online, or if s is not shared. Pick is safe for concurrent use on Subscribers of the same group; the
// Sticky and RoundRobin state lives in the index and outlives s.
func (s *Subscriber) Pick(strategy Strategy, publisherID string, online func(clientID string) bool) (Member, bool) {
	n := len(s.Members)
	if s.group == nil || n == 0 {
		return Member{}, false
	}
	var start int
	switch strategy {
	case RoundRobin:
		start = int(s.group.next.Add(1) % uint64(n))
	case HashClientID:
		start = int(fnv1a(publisherID) % uint64(n))
	case Sticky:
		if id := s.group.sticky.Load(); id != nil {
			for _, m := range s.Members {
				if m.ClientID == *id && (online == nil || online(m.ClientID)) {
					return m, true
				}
			}
		}
		start = rand.IntN(n)
	default: // Random
		start = rand.IntN(n)
	}
	for i := range n {
		m := s.Members[(start+i)%n]
		if online == nil || online(m.ClientID) {
			if strategy == Sticky {
				s.group.sticky.Store(&m.ClientID)
			}
			return m, true
		}
	}
	return Member{}, false
}

// fnv1a is the 64-bit FNV-1a hash: stable across runs and platforms, so a publisher maps to the same
// member after a broker restart too.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
