package server

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/subscriptions"
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
	// TakeOver asks every other broker to let go of clientID (Server.LetGo) before a client
	// with that id is admitted here, so that a client id is connected to one broker of the
	// cluster at a time [MQTT-3.1.4-3] and two brokers never deliver the same session. It
	// returns once every broker answered or ctx ends; a broker that cannot be reached is not
	// waited for (see the peering package).
	TakeOver(ctx context.Context, clientID string)
	// Stats returns the peering's counters, for /metrics.
	Stats() PeerStats
}

// takeOverTimeout bounds how long a CONNECT waits for the other brokers to let go of its
// client id.
const takeOverTimeout = 2 * time.Second

// sessionBarrierTimeout bounds how long a CONNECT in a cluster waits for this site's replica
// of its session to be current; past it the CONNECT is refused (Server unavailable).
const sessionBarrierTimeout = 3 * time.Second

// prepareSession readies a CONNECT in a cluster before its session is looked up: the other
// brokers let go of clientID (takeOverRemote), which stores the state of a session one of them
// had connected, then a read barrier on the session's shard (ds.DB.Barrier) waits until this
// site's replica has applied every write acknowledged before it. Without the barrier a
// take-over could resume the session as this replica last saw it, one replication round
// behind the broker that let it go. An error means this site cannot tell (cut off from the
// shard's quorum, or too far behind): the CONNECT is refused rather than resumed stale.
func (s *Server) prepareSession(clientID string) error {
	s.takeOverRemote(clientID)
	if s.durable == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionBarrierTimeout)
	defer cancel()
	return s.durable.sessionBarrier(ctx, clientID)
}

// takeOverRemote is prepareSession's step for the other brokers of a cluster.
func (s *Server) takeOverRemote(clientID string) {
	if s.opts.Peers == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), takeOverTimeout)
	defer cancel()
	s.opts.Peers.TakeOver(ctx, clientID)
}

// LetGo disconnects the connection of clientID, if one is attached here, with Session taken
// over (0x8E) [MQTT-3.1.4-3] v5, because the client connected to another broker of the
// cluster, and waits until the connection has let go of its session (a durable session has
// then stored its state). It reports whether a connection was attached.
//
// A durable session still loaded here (attached a moment ago, or offline and not yet made
// compact) is made compact at once: the other broker will change it in the store, and a
// later CONNECT here must read it from there, not resume this broker's copy of it.
func (s *Server) LetGo(clientID string) bool {
	sess := s.loadedSession(clientID)
	if sess == nil {
		return false
	}
	defer s.evictTakenOver(sess)
	c := sess.currentConn()
	if c == nil {
		return false
	}
	s.log.Info("client taken over by another broker", "client", clientID)
	c.disconnect(CauseTakeover, mqtt.SessionTakenOver)
	c.waitFinished(5 * time.Second)
	return true
}

// evictTakenOver makes a durable session another broker takes over compact (see LetGo). One
// that holds something in memory alone (a transient delivery queued, a message of a shared
// group) stays loaded until its usual eviction.
func (s *Server) evictTakenOver(sess Session) {
	d, ok := sess.(*durableSession)
	if !ok || s.durable == nil {
		return
	}
	if retry := s.durable.evict(d); retry {
		s.durable.timers.evictLater(d, nil)
	}
}

// PeerStats are the counters of a broker's peering.
type PeerStats struct {
	// Forwarded messages went to a peer that took them; Dropped ones found a full queue or a
	// peer that did not take them; Received ones came from peers.
	Forwarded, Dropped, Received uint64
	// RouteUpdatesSent and RouteUpdatesReceived count route messages; Resyncs counts whole
	// route sets sent because a peer had lost track.
	RouteUpdatesSent, RouteUpdatesReceived, Resyncs uint64
	// TakeOvers counts the CONNECTs that asked the other brokers to let go of their client
	// id; TakeOverFailures the brokers that did not confirm.
	TakeOvers, TakeOverFailures uint64
	// Routes is how many filters this broker announces; RemoteRoutes how many the peers do.
	Routes, RemoteRoutes int
}

// peersCollector exports PeerStats (mqttds_peering_*).
type peersCollector struct {
	p     Peers
	descs map[string]*prometheus.Desc
}

func newPeersCollector(p Peers) *peersCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("mqttds_peering_"+name, help, nil, nil)
	}
	return &peersCollector{p: p, descs: map[string]*prometheus.Desc{
		"forwarded":     d("forwarded_total", "Messages published here and taken by another broker for its sessions."),
		"dropped":       d("dropped_total", "Messages for another broker dropped (its queue full, or it did not take them)."),
		"received":      d("received_total", "Messages published on another broker and routed here."),
		"routes_sent":   d("route_updates_sent_total", "Route updates taken by other brokers."),
		"routes_recv":   d("route_updates_received_total", "Route updates applied here."),
		"resyncs":       d("resyncs_total", "Whole route sets sent because a broker had lost track of this one's."),
		"takeovers":     d("takeovers_total", "CONNECTs that asked the other brokers to let go of the client id first."),
		"takeover_fail": d("takeover_failures_total", "Take-over requests a broker did not confirm (unreachable or refused)."),
		"routes":        d("routes", "Filters with a subscriber here, announced to the other brokers."),
		"remote_routes": d("remote_routes", "Filters the other brokers announced."),
	}}
}

func (pc *peersCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range pc.descs {
		ch <- d
	}
}

func (pc *peersCollector) Collect(ch chan<- prometheus.Metric) {
	st := pc.p.Stats()
	for name, v := range map[string]uint64{"forwarded": st.Forwarded, "dropped": st.Dropped, "received": st.Received,
		"routes_sent": st.RouteUpdatesSent, "routes_recv": st.RouteUpdatesReceived, "resyncs": st.Resyncs,
		"takeovers": st.TakeOvers, "takeover_fail": st.TakeOverFailures} {
		ch <- prometheus.MustNewConstMetric(pc.descs[name], prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(pc.descs["routes"], prometheus.GaugeValue, float64(st.Routes))
	ch <- prometheus.MustNewConstMetric(pc.descs["remote_routes"], prometheus.GaugeValue, float64(st.RemoteRoutes))
}

// forwardToPeers hands m to the peers, unless it is this broker's own $SYS tree (each broker
// publishes its own) or it came from a peer (the broker it was published on forwarded it
// everywhere already). It returns the shared groups this broker must leave out, and the
// filters of the matching shared subscriptions it computed (in rt.subs order: see
// sharedFilter).
func (s *Server) forwardToPeers(m *Message, rt *routes) (elsewhere, local []string) {
	if s.opts.Peers == nil || rt.fromPeer || strings.HasPrefix(m.Topic, "$SYS/") {
		return nil, nil
	}
	// Match puts the shared subscriptions first: local[i] is the filter of rt.subs[i].
	for i := range rt.subs {
		if !rt.subs[i].Shared() {
			break
		}
		local = append(local, rt.subs[i].Filter())
	}
	return s.opts.Peers.Forward(m, local), local
}

// sharedFilter is the filter of the shared subscription subs[i]: local[i] when
// forwardToPeers computed it, else computed now.
func sharedFilter(subs []subscriptions.Subscriber, i int, local []string) string {
	if i < len(local) {
		return local[i]
	}
	return subs[i].Filter()
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
// returns how many took it. A retained message (every broker gets each one) updates this
// broker's view of the retained messages, not the store: the broker it was published on
// wrote that, and the table is replicated. It is not stored or forwarded again. A durable
// session is only told to look in storage, where the message arrives by replication.
func (s *Server) DeliverFromPeer(m *Message, plain bool, groups []string) int {
	if m.Retain {
		s.mirrorRetained(m)
	}
	if !plain && len(groups) == 0 {
		return 0
	}
	rt := s.match(m)
	rt.fromPeer, rt.plain, rt.groups = true, plain, groups
	n, _ := s.routeFlow(m, &rt)
	return n
}

// retainedMirror is a RetainedStore whose table is shared by the brokers of a cluster: Mirror
// applies another broker's change to this broker's view only.
type retainedMirror interface {
	Mirror(m *Message) error
}

// mirrorRetained applies a retained PUBLISH made on another broker (an empty payload
// deletes) [MQTT-3.3.1-5], [MQTT-3.3.1-6] v5.
func (s *Server) mirrorRetained(m *Message) {
	var err error
	if mr, ok := s.opts.Retained.(retainedMirror); ok {
		err = mr.Mirror(m)
	} else {
		s.retain(m) // a store of this broker's own (tests): keep it like a local PUBLISH
		return
	}
	if err != nil {
		s.log.Error("retained view failed", "topic", m.Topic, "err", err)
	}
}

// forwardRetainedDelete tells the other brokers that the API deleted a retained message, as
// a retained PUBLISH with an empty payload would.
func (s *Server) forwardRetainedDelete(topic string) {
	if s.opts.Peers == nil {
		return
	}
	s.opts.Peers.Forward(&Message{Topic: topic, Retain: true, Created: time.Now()}, nil)
}
