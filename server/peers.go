package server

import "strings"

// Peers links the broker to the other brokers of a cluster (Options.Peers; package
// server/peering implements it). A durable session needs none of this, since every message
// is in the replicated store; a session kept in memory lives on one broker, so what is
// published on another must be carried to it.
type Peers interface {
	// Route hears the filters with a subscriber on this broker come and go, in order
	// (subscriptions.Index.Watch): the routes the peers send messages for.
	Route(filter string, present bool)
	// Forward carries a message published on this broker to every other broker whose routes
	// match it, once each. It must not block.
	Forward(m *Message)
}

// forwardToPeers hands m to the peers, unless it is this broker's own $SYS tree (each broker
// publishes its own) or it came from a peer (rt.fromPeer: the broker it was published on
// forwarded it everywhere already).
func (s *Server) forwardToPeers(m *Message, rt *routes) {
	if s.opts.Peers == nil || rt.fromPeer || strings.HasPrefix(m.Topic, "$SYS/") {
		return
	}
	s.opts.Peers.Forward(m)
}

// DeliverFromPeer hands a message published on another broker of the cluster to this
// broker's sessions with a matching non-shared subscription, and returns how many took it.
// It is not retained again (the broker it was published on did that, in the shared store),
// not stored, and not forwarded. Shared groups are left out: the publishing broker's members
// received it. A durable session is only told to look in storage, where the message arrives
// by replication.
func (s *Server) DeliverFromPeer(m *Message) int {
	rt := s.match(m)
	rt.fromPeer = true
	n, _ := s.routeFlow(m, &rt)
	return n
}
