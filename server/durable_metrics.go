package server

import "github.com/prometheus/client_golang/prometheus"

// durableCollector exports the durable sessions' counters to Prometheus (mqttds_durable_*).
type durableCollector struct{ s *Server }

var durableDescs = struct {
	sessions, online, groups, routes, persisted, skipped, persistErrors *prometheus.Desc
	fetched, replayed, expired, lostStreams, commits, commitErr         *prometheus.Desc
	readsShared                                                         *prometheus.Desc
}{
	sessions:      promDesc("durable_sessions", "Durable sessions, online or not."),
	online:        promDesc("durable_sessions_online", "Durable sessions with a connection attached."),
	groups:        promDesc("durable_shared_groups", "Durable shared subscriptions (groups with a durable member)."),
	routes:        promDesc("durable_routes", "Distinct topic filters of durable subscriptions."),
	persisted:     promDesc("durable_messages_stored_total", "Messages stored because a durable subscription matched (once each)."),
	skipped:       promDesc("durable_messages_not_stored_total", "Published messages no durable subscription matched."),
	persistErrors: promDesc("durable_store_errors_total", "Messages whose storage failed (the publisher got an error)."),
	fetched:       promDesc("durable_messages_fetched_total", "Messages read from storage for durable sessions."),
	replayed:      promDesc("durable_messages_replayed_total", "In-flight messages re-sent on reconnect or after a restart."),
	expired:       promDesc("durable_messages_expired_total", "Messages skipped: message expiry passed or retention dropped them."),
	lostStreams:   promDesc("durable_streams_lost_total", "Streams whose generation retention dropped before a session read them to their end."),
	commits:       promDesc("durable_state_commits_total", "Session state batches committed."),
	commitErr:     promDesc("durable_state_commit_errors_total", "Session state batches that failed."),
	readsShared:   promDesc("durable_reads_shared_total", "Stream reads answered by another session's read of the same position."),
}

func (c *durableCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &durableDescs
	for _, x := range []*prometheus.Desc{d.sessions, d.online, d.groups, d.routes, d.persisted, d.skipped, d.persistErrors,
		d.fetched, d.replayed, d.expired, d.lostStreams, d.commits, d.commitErr, d.readsShared} {
		ch <- x
	}
}

func (c *durableCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.durable == nil {
		return
	}
	m := c.s.DurableMetrics()
	d := &durableDescs
	gauge := func(desc *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v))
	}
	counter := func(desc *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v))
	}
	gauge(d.sessions, m.Sessions)
	gauge(d.online, m.Online)
	gauge(d.groups, m.Groups)
	gauge(d.routes, m.Routes)
	counter(d.persisted, m.Persisted)
	counter(d.skipped, m.PersistSkipped)
	counter(d.persistErrors, m.PersistErrors)
	counter(d.fetched, m.Fetched)
	counter(d.replayed, m.Replayed)
	counter(d.expired, m.Expired)
	counter(d.lostStreams, m.LostStreams)
	counter(d.commits, m.Commits)
	counter(d.commitErr, m.CommitErrors)
	counter(d.readsShared, m.ReadsShared)
}
