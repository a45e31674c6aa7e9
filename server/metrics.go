package server

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// DropReason says why a message did not reach a subscriber. Every drop is
// counted under its reason (Metrics.Messages.Dropped), and told to hooks.
type DropReason uint8

const (
	// DropQueueFull: the session's queue was at MaxQueued.
	DropQueueFull DropReason = iota
	// DropExpired: the Message Expiry Interval ran out before delivery.
	DropExpired
	// DropTooLarge: the PUBLISH exceeds the client's Maximum Packet Size
	// [MQTT-3.1.2-25] v5.
	DropTooLarge
	// DropSlowConsumer: a QoS 0 message found the connection's outbound
	// queue full.
	DropSlowConsumer
	// DropOfflineQoS0: QoS 0 for an offline session with QueueQoS0 off.
	DropOfflineQoS0
	// DropNotAuthorized: a QoS 0 PUBLISH the ACL denied.
	DropNotAuthorized
	// DropMemoryPressure: QoS 0 shed above the memory high watermark.
	DropMemoryPressure
	// DropSessionEnded: the session ended with the message still queued.
	DropSessionEnded
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"queue_full", "expired", "too_large", "slow_consumer",
	"offline_qos0", "not_authorized", "memory_pressure", "session_ended"}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// DisconnectCause classifies why a connection ended.
type DisconnectCause uint8

const (
	CauseNormal    DisconnectCause = iota // client DISCONNECT
	CauseNetwork                          // read/write error, EOF without DISCONNECT
	CauseKeepAlive                        // nothing for 1.5 × keep alive
	CauseIdle                             // no CONNECT within the idle timeout
	CauseTakeover                         // same client id connected elsewhere
	CauseProtocol                         // protocol error
	CauseMalformed                        // malformed packet
	CauseTooLarge                         // packet above our maximum
	CauseQuota                            // receive maximum exceeded, slow consumer
	CauseAuth                             // CONNECT refused by auth
	CauseRefused                          // CONNECT refused: limits, memory, bad client id, version
	CauseShutdown                         // the broker is stopping
	CauseAdmin                            // kicked via the API
	numCauses
)

var causeNames = [numCauses]string{"normal", "network", "keepalive", "idle", "takeover", "protocol",
	"malformed", "too_large", "quota", "auth", "refused", "shutdown", "admin"}

func (c DisconnectCause) String() string {
	if c < numCauses {
		return causeNames[c]
	}
	return "unknown"
}

// counters are the broker's live counters. Use: incremented from any
// goroutine; read only through Server.Metrics.
type counters struct {
	connections, connectionsTotal, connectionsRefused atomic.Int64
	packetsReceived, packetsSent                      atomic.Int64
	bytesReceived, bytesSent                          atomic.Int64
	messagesReceived, messagesSent, messagesAcked     atomic.Int64
	messagesNoSubscribers                             atomic.Int64
	dropped                                           [numDropReasons]atomic.Int64
	disconnects                                       [numCauses]atomic.Int64
	authFailures                                      atomic.Int64
	flowPauses, flowPauseTimeouts                     atomic.Int64
}

// Metrics is a snapshot of the broker's state and counters. Counters only
// grow; Sub gives the change between two snapshots.
type Metrics struct {
	Connections struct {
		Current, Total, Refused int64
	}
	Sessions struct {
		Total, Online int64
	}
	Subscriptions int64
	Retained      int64
	Packets       struct{ Received, Sent int64 }
	Bytes         struct{ Received, Sent int64 }
	Messages      struct {
		Received, Sent, Acked, NoSubscribers int64
		Dropped                              [numDropReasons]int64
	}
	Disconnects  [numCauses]int64
	AuthFailures int64
	// Flow counts the back-pressure pauses of publishers (flow.go): how
	// often one waited for a backed-up subscriber, and how often such a wait
	// ran out (flowMaxPause) and marked the subscriber stuck.
	Flow struct {
		Pauses, PauseTimeouts int64
	}
	Alarms struct {
		// MemoryHigh is 1 while the heap is above MemoryHighWatermark.
		MemoryHigh int64
		// MemoryHighRaised counts the times that alarm was raised.
		MemoryHighRaised int64
	}
}

// DroppedTotal is the sum of drops over every reason.
func (m *Metrics) DroppedTotal() int64 {
	var n int64
	for _, d := range m.Messages.Dropped {
		n += d
	}
	return n
}

// Sub returns the counters of m minus those of prev; gauges (current
// connections, sessions, subscriptions, retained) keep m's values.
func (m Metrics) Sub(prev Metrics) Metrics {
	d := m
	d.Connections.Total -= prev.Connections.Total
	d.Connections.Refused -= prev.Connections.Refused
	d.Packets.Received -= prev.Packets.Received
	d.Packets.Sent -= prev.Packets.Sent
	d.Bytes.Received -= prev.Bytes.Received
	d.Bytes.Sent -= prev.Bytes.Sent
	d.Messages.Received -= prev.Messages.Received
	d.Messages.Sent -= prev.Messages.Sent
	d.Messages.Acked -= prev.Messages.Acked
	d.Messages.NoSubscribers -= prev.Messages.NoSubscribers
	for i := range d.Messages.Dropped {
		d.Messages.Dropped[i] -= prev.Messages.Dropped[i]
	}
	for i := range d.Disconnects {
		d.Disconnects[i] -= prev.Disconnects[i]
	}
	d.AuthFailures -= prev.AuthFailures
	d.Flow.Pauses -= prev.Flow.Pauses
	d.Flow.PauseTimeouts -= prev.Flow.PauseTimeouts
	d.Alarms.MemoryHighRaised -= prev.Alarms.MemoryHighRaised
	return d
}

// String renders the snapshot for people, one subsystem per line.
func (m *Metrics) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connections: current=%d total=%d refused=%d auth_failures=%d\n",
		m.Connections.Current, m.Connections.Total, m.Connections.Refused, m.AuthFailures)
	fmt.Fprintf(&b, "sessions:    total=%d online=%d subscriptions=%d retained=%d\n",
		m.Sessions.Total, m.Sessions.Online, m.Subscriptions, m.Retained)
	fmt.Fprintf(&b, "traffic:     packets in=%d out=%d bytes in=%d out=%d\n",
		m.Packets.Received, m.Packets.Sent, m.Bytes.Received, m.Bytes.Sent)
	fmt.Fprintf(&b, "messages:    received=%d sent=%d acked=%d no_subscribers=%d dropped=%d",
		m.Messages.Received, m.Messages.Sent, m.Messages.Acked, m.Messages.NoSubscribers, m.DroppedTotal())
	for r, n := range m.Messages.Dropped {
		if n != 0 {
			fmt.Fprintf(&b, " %s=%d", DropReason(r), n)
		}
	}
	b.WriteString("\ndisconnects:")
	for c, n := range m.Disconnects {
		if n != 0 {
			fmt.Fprintf(&b, " %s=%d", DisconnectCause(c), n)
		}
	}
	fmt.Fprintf(&b, "\nflow:        pauses=%d pause_timeouts=%d", m.Flow.Pauses, m.Flow.PauseTimeouts)
	fmt.Fprintf(&b, "\nalarms:      memory_high=%d raised=%d\n", m.Alarms.MemoryHigh, m.Alarms.MemoryHighRaised)
	return b.String()
}

func (c *counters) snapshot(m *Metrics) {
	m.Connections.Current = c.connections.Load()
	m.Connections.Total = c.connectionsTotal.Load()
	m.Connections.Refused = c.connectionsRefused.Load()
	m.Packets.Received = c.packetsReceived.Load()
	m.Packets.Sent = c.packetsSent.Load()
	m.Bytes.Received = c.bytesReceived.Load()
	m.Bytes.Sent = c.bytesSent.Load()
	m.Messages.Received = c.messagesReceived.Load()
	m.Messages.Sent = c.messagesSent.Load()
	m.Messages.Acked = c.messagesAcked.Load()
	m.Messages.NoSubscribers = c.messagesNoSubscribers.Load()
	for i := range c.dropped {
		m.Messages.Dropped[i] = c.dropped[i].Load()
	}
	for i := range c.disconnects {
		m.Disconnects[i] = c.disconnects[i].Load()
	}
	m.AuthFailures = c.authFailures.Load()
	m.Flow.Pauses = c.flowPauses.Load()
	m.Flow.PauseTimeouts = c.flowPauseTimeouts.Load()
}
