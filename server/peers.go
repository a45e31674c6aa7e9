package server

import (
	"slices"
	"strings"
)

// Peers links the broker to the other brokers of a cluster (Options.Peers; package
// server/peering implements it). A durable session needs none of this, since every message
// is in the replicated store; a session kept in memory lives on one broker, so what is
// published on another must be carried to it, and a shared group's members may be spread
// over brokers.
type Peers interface {
	// Route hears the filters with a subscriber on this broker come and go, in order
	// (subscriptions.Index.Watch; shared groups as "$share/{group}/{filter}"): the routes the
	// peers send messages for.
	Route(filter string, present bool)
	// Forward carries a message published on this broker to the brokers whose routes match
	// it: once to each broker with a matching non-shared route, and, for each matching shared
	// group, to one broker among those with members (this broker is a candidate for the
	// groups listed in local). It returns the groups it gave to another broker, which this
	// broker's members must not receive. It must not block.
	Forward(m *Message, local []string) (elsewhere []string)
}

// forwardToPeers hands m to the peers, unless it is this broker's own $SYS tree (each broker
// publishes its own) or it came from a peer (the broker it was published on forwarded it
// everywhere already). It returns the shared groups this broker must leave out.
func (s *Server) forwardToPeers(m *Message, rt *routes) (elsewhere []string) {
	if s.opts.Peers == nil || rt.fromPeer || strings.HasPrefix(m.Topic, "$SYS/") {
		return nil
	}
	var local []string
	for i := range rt.subs {
		if rt.subs[i].Shared() {
			local = append(local, rt.subs[i].Filter())
		}
	}
	return s.opts.Peers.Forward(m, local)
}

// sharedHere reports whether this broker's members of the shared subscription sub take m:
// not when Forward gave the group to another broker, and, for a message from a peer, only
// when the peer picked this broker for the group.
func (s *Server) sharedHere(sub string, rt *routes, elsewhere []string) bool {
	if rt.fromPeer {
		return slices.Contains(rt.groups, sub)
	}
	return !slices.Contains(elsewhere, sub)
}

// DeliverFromPeer hands a message published on another broker of the cluster to this
// broker's sessions: if plain, to those with a matching non-shared subscription, and to one
// member of each shared group in groups (the publishing broker picked this one for them). It
// returns how many took it. The message is not retained again (the broker it was published
// on did that, in the shared store), not stored, and not forwarded. A durable session is only
// told to look in storage, where the message arrives by replication.
func (s *Server) DeliverFromPeer(m *Message, plain bool, groups []string) int {
	rt := s.match(m)
	rt.fromPeer, rt.plain, rt.groups = true, plain, groups
	n, _ := s.routeFlow(m, &rt)
	return n
}
