package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/subscriptions"
	"github.com/prometheus/client_golang/prometheus"
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ClientView is a client as the API shows it. Clients fills the connection's fields;
// ClientList adds the session's.
type ClientView struct {
	ClientID  string `json:"client_id"`
	Username  string `json:"username,omitempty"`
	Listener  string `json:"listener,omitempty"`
	Remote    string `json:"remote,omitempty"`
	Version   string `json:"protocol_version,omitempty"`
	KeepAlive int    `json:"keepalive_s"`

	// Connected is set when a connection is attached; a disconnected client is listed while
	// its session lives on.
	Connected bool          `json:"connected"`
	Durable   bool          `json:"durable"`
	Expiry    time.Duration `json:"expiry_ns"`
	// Inflight is nil (JSON null) in a listing for a compact durable session, whose in-flight
	// state is on disk only; ClientDetail reads it.
	Inflight *int      `json:"inflight"`
	Queued   int       `json:"queued"`
	Created  time.Time `json:"created,omitzero"`
}

// Clients lists the connected clients, sorted by client id.
func (s *Server) Clients() []ClientView {
	s.mu.RLock()
	out := make([]ClientView, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		if !c.ready.Load() || c.sess.currentConn() != c {
			continue // still connecting, or already replaced
		}
		out = append(out, ClientView{ClientID: c.clientID, Username: c.username, Listener: c.listener,
			Remote: c.remote.String(), Version: c.version.String(), KeepAlive: int(c.keepAlive.Seconds()), Connected: true})
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b ClientView) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Kick disconnects the connected client with clientID: a v5 client gets
// DISCONNECT with Administrative action (0x98), a 3.x client is closed. The
// session stays, as after any disconnect. It reports whether such a client
// was connected.
func (s *Server) Kick(clientID string) bool {
	s.mu.RLock()
	var target *conn
	for c := range s.mu.conns {
		if c.ready.Load() && c.clientID == clientID && c.sess.currentConn() == c {
			target = c
			break
		}
	}
	s.mu.RUnlock()
	if target == nil {
		return false
	}
	s.log.Info("client kicked via the API", "client", clientID)
	target.disconnect(CauseAdmin, mqtt.AdministrativeAction)
	return true
}

// Sessions lists every session, sorted by client id.
func (s *Server) Sessions() []SessionInfo {
	s.mu.RLock()
	sessions := make([]Session, 0, len(s.mu.sessions))
	for _, sess := range s.mu.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.RUnlock()
	out := make([]SessionInfo, 0, len(sessions))
	for _, sess := range sessions {
		out = append(out, sess.Info())
	}
	if s.durable != nil {
		// Durable sessions kept compact while offline; one that moved between the two lists
		// while they were read is listed once.
		listed := make(map[string]bool, len(out))
		for _, i := range out {
			listed[i.ClientID] = true
		}
		for _, i := range s.durable.offlineSessions() {
			if !listed[i.ClientID] {
				out = append(out, i)
			}
		}
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// SubscriptionView is one subscription as the API shows it.
type SubscriptionView struct {
	ClientID          string `json:"client_id"`
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"retain_as_published,omitempty"`
	RetainHandling    byte   `json:"retain_handling,omitempty"`
	SubscriptionID    uint32 `json:"subscription_id,omitempty"`
}

// Subscriptions lists the subscriptions of clientID, or of every session
// when clientID is "".
func (s *Server) Subscriptions(clientID string) []SubscriptionView {
	ids := []string{clientID}
	if clientID == "" {
		ids = ids[:0]
		for _, si := range s.Sessions() {
			ids = append(ids, si.ClientID)
		}
	}
	out := []SubscriptionView{}
	for _, id := range ids {
		subs := s.subs.ClientSubscriptions(id, nil)
		if len(subs) == 0 && s.durable != nil {
			subs = s.durable.storedSubscriptions(id) // a compact durable session: read from storage
		}
		slices.SortFunc(subs, func(a, b subscriptions.Subscription) int { return strings.Compare(a.Filter, b.Filter) })
		for _, x := range subs {
			o := x.Options
			out = append(out, SubscriptionView{ClientID: id, Filter: x.Filter, QoS: o.QoS, NoLocal: o.NoLocal,
				RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling, SubscriptionID: o.SubscriptionID})
		}
	}
	return out
}

// promCollector exports a Metrics snapshot at each scrape, so the
// Prometheus view and $SYS can never disagree.
type promCollector struct{ s *Server }

var (
	promDesc = func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("mqttds_"+name, help, labels, nil)
	}
	descConnections      = promDesc("connections", "Connections open now.")
	descConnectionsTotal = promDesc("connections_total", "Connections accepted (CONNACK 0x00) since start.")
	descRefused          = promDesc("connections_refused_total", "Connections refused before or at CONNECT.")
	descSessions         = promDesc("sessions", "Sessions held, online or not.")
	descSessionsOnline   = promDesc("sessions_online", "Sessions with a connection attached.")
	descSubscriptions    = promDesc("subscriptions", "Subscriptions in the index.")
	descRetained         = promDesc("retained_messages", "Topics with a retained message.")
	descPackets          = promDesc("packets_total", "MQTT packets by direction.", "direction")
	descBytes            = promDesc("bytes_total", "Bytes of MQTT packets by direction.", "direction")
	descMessages         = promDesc("messages_total", "Application messages: received from clients, sent to clients, acknowledged by clients.", "event")
	descNoSubscribers    = promDesc("messages_no_subscribers_total", "Published messages that matched no subscription.")
	descDropped          = promDesc("messages_dropped_total", "Messages that did not reach a subscriber, by reason.", "reason")
	descDisconnects      = promDesc("disconnects_total", "Ended connections, by cause.", "cause")
	descAuthFailures     = promDesc("auth_failures_total", "Refused authentications.")
	descFlowPauses       = promDesc("flow_pauses_total", "Publisher reads paused for a subscriber backed up above the flow high watermark.")
	descFlowTimeouts     = promDesc("flow_pause_timeouts_total", "Publisher pauses that ran out (1 s) and marked the subscriber stuck.")
	descAlarm            = promDesc("alarm", "1 while the named alarm is raised.", "name")
	descAlarmRaised      = promDesc("alarm_raised_total", "Times the named alarm was raised.", "name")
)

func (p *promCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descConnectionsTotal, descRefused, descSessions,
		descSessionsOnline, descSubscriptions, descRetained, descPackets, descBytes, descMessages,
		descNoSubscribers, descDropped, descDisconnects, descAuthFailures, descFlowPauses, descFlowTimeouts, descAlarm,
		descAlarmRaised} {
		ch <- d
	}
}

func (p *promCollector) Collect(ch chan<- prometheus.Metric) {
	m := p.s.Metrics()
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descConnections, m.Connections.Current)
	counter(descConnectionsTotal, m.Connections.Total)
	counter(descRefused, m.Connections.Refused)
	gauge(descSessions, m.Sessions.Total)
	gauge(descSessionsOnline, m.Sessions.Online)
	gauge(descSubscriptions, m.Subscriptions)
	gauge(descRetained, m.Retained)
	counter(descPackets, m.Packets.Received, "in")
	counter(descPackets, m.Packets.Sent, "out")
	counter(descBytes, m.Bytes.Received, "in")
	counter(descBytes, m.Bytes.Sent, "out")
	counter(descMessages, m.Messages.Received, "received")
	counter(descMessages, m.Messages.Sent, "sent")
	counter(descMessages, m.Messages.Acked, "acked")
	counter(descNoSubscribers, m.Messages.NoSubscribers)
	for r, n := range m.Messages.Dropped {
		counter(descDropped, n, DropReason(r).String())
	}
	for c, n := range m.Disconnects {
		counter(descDisconnects, n, DisconnectCause(c).String())
	}
	counter(descAuthFailures, m.AuthFailures)
	counter(descFlowPauses, m.Flow.Pauses)
	counter(descFlowTimeouts, m.Flow.PauseTimeouts)
	gauge(descAlarm, m.Alarms.MemoryHigh, memoryAlarmName)
	counter(descAlarmRaised, m.Alarms.MemoryHighRaised, memoryAlarmName)
}
