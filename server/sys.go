package server

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// sysLoop publishes the broker's state under $SYS/brokers/<node>/ every
// SysInterval, retained, so a subscriber sees the latest values at once.
func (s *Server) sysLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	s.publishSys()
	for {
		select {
		case <-t.C:
			s.publishSys()
		case <-s.closing:
			return
		}
	}
}

// sysTopics lists the $SYS values, each from a metrics snapshot.
var sysTopics = []struct {
	name  string
	value func(s *Server, m *Metrics) string
}{
	{"version", func(*Server, *Metrics) string { return Version }},
	{"uptime", func(s *Server, _ *Metrics) string {
		return strconv.FormatInt(int64(time.Since(s.started)/time.Second), 10)
	}},
	{"clients/connected", func(_ *Server, m *Metrics) string { return itoa(m.Connections.Current) }},
	{"clients/total", func(_ *Server, m *Metrics) string { return itoa(m.Connections.Total) }},
	{"sessions/count", func(_ *Server, m *Metrics) string { return itoa(m.Sessions.Total) }},
	{"subscriptions/count", func(_ *Server, m *Metrics) string { return itoa(m.Subscriptions) }},
	{"retained/count", func(_ *Server, m *Metrics) string { return itoa(m.Retained) }},
	{"messages/received", func(_ *Server, m *Metrics) string { return itoa(m.Messages.Received) }},
	{"messages/sent", func(_ *Server, m *Metrics) string { return itoa(m.Messages.Sent) }},
	{"messages/dropped", func(_ *Server, m *Metrics) string { return itoa(m.DroppedTotal()) }},
	{"bytes/received", func(_ *Server, m *Metrics) string { return itoa(m.Bytes.Received) }},
	{"bytes/sent", func(_ *Server, m *Metrics) string { return itoa(m.Bytes.Sent) }},
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// publishSys publishes one round of $SYS values. Like every message the
// broker publishes itself, they are stored when a durable subscription
// matches: a durable session reads its messages from storage, and gets
// them live and after being away as it would any topic's.
func (s *Server) publishSys() {
	m := s.Metrics()
	prefix := "$SYS/brokers/" + s.opts.NodeName + "/"
	for _, t := range sysTopics {
		msg := &Message{Topic: prefix + t.name, Payload: []byte(t.value(s, &m)), QoS: mqtt.QoS0, Retain: true,
			Created: time.Now()}
		s.publishStored(msg)
	}
}

// AlarmEvent is the payload, JSON, of a $SYS/brokers/<node>/alarms/<name>
// message. It is published retained on every transition, so a subscriber
// learns the alarm's current state at once.
type AlarmEvent struct {
	Name  string    `json:"name"`
	State string    `json:"state"` // "raised" or "cleared"
	Value uint64    `json:"value"` // the measure at the transition (heap bytes)
	Limit uint64    `json:"limit"`
	Time  time.Time `json:"time"`
}

// publishAlarm publishes one alarm transition. Unlike the periodic values
// it does not wait for SysInterval, and is published even when that is off.
// It goes at QoS 1: above the memory watermark QoS 0 is shed, and the alarm
// saying so must not be.
func (s *Server) publishAlarm(name string, raised bool, value, limit uint64) {
	ev := AlarmEvent{Name: name, State: "cleared", Value: value, Limit: limit, Time: time.Now().UTC()}
	if raised {
		ev.State = "raised"
	}
	payload, _ := json.Marshal(ev) // strings, numbers and a time: cannot fail
	s.publishStored(&Message{Topic: "$SYS/brokers/" + s.opts.NodeName + "/alarms/" + name, Payload: payload,
		QoS: mqtt.QoS1, Retain: true, Created: ev.Time})
}
