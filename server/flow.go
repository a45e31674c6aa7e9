package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// Flow control: back-pressure from subscribers to publishers.
//
// Routing hands a message to every matching session without waiting, so a
// subscriber slower than its publishers collects the difference: QoS 1/2 in
// its session queue (its in-flight window is full) and QoS 0 in its
// connection's outbound queue. Left alone that backlog grows until
// MaxQueued or OutboundQueue drops messages, and every message waits behind
// it (seconds of latency in a fan-in).
//
// So a session's backlog is watched. Its backlog is the deliveries it
// queued plus the packets waiting for its connection's writer; only an
// online session has one (an offline queue drains only when the client
// returns, which no publisher can hasten; MaxQueued bounds it). When a
// PUBLISH is routed to a session whose backlog exceeds the high watermark,
// the publisher's reader waits, before it acknowledges, until the backlog
// is down to the low watermark. A paused reader reads nothing, so TCP and
// the client's Receive Maximum window push back on the publisher: it
// publishes only as fast as the slowest online subscriber it reaches
// consumes. Nothing is dropped to get there.
//
// A pause is bounded by flowMaxPause. The bound breaks wait cycles (A
// publishes to B while B publishes to A, and each reader must run for the
// other's window to move). A session that made no progress for that long
// is marked stuck, and nobody waits on it again until its backlog is back
// at the low watermark: one subscriber that stopped reading must not slow
// every publisher into its topics to a message a second. Meanwhile its
// backlog grows up to the queue limits (MaxQueued, OutboundQueue), whose
// drops stay counted, until the write timeout or keep alive ends it.
//
//	publisher reader: read PUBLISH → route → backlog(S) > high? wait ≤ low → PUBACK → read next
//	subscriber S:     writer takes the outbound queue, PUBACKs refill the window → notify

// flowMaxPause bounds one wait of a publisher for a backed-up session.
const flowMaxPause = time.Second

// flowGate is where publishers wait for one session's backlog to drain.
// Readers of the session check waiting with one atomic load on their hot
// path; everything else happens only while someone waits.
type flowGate struct {
	// waiting is set while ch is armed. Invariant: waiting iff ch != nil.
	waiting atomic.Bool
	// stuck is set when a wait timed out, and cleared when the backlog
	// reaches the low watermark; while it is set nobody waits.
	stuck atomic.Bool
	mu    sync.Mutex
	// ch is closed (and reset to nil) when the backlog reaches the low
	// watermark, waking every publisher waiting on it.
	ch chan struct{}
}

// arm returns the channel the next drain closes.
func (g *flowGate) arm() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
		g.waiting.Store(true)
	}
	return g.ch
}

// open wakes every waiter and clears stuck.
func (g *flowGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stuck.Store(false)
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
		g.waiting.Store(false)
	}
}

// flowWatermarks returns the watermarks in force: FlowHighWatermark, capped
// at half of OutboundQueue so that QoS 0 pauses well before it is dropped,
// and half of that. high is 0 when flow control is off.
func (o *Options) flowWatermarks() (high, low int) {
	if o.FlowHighWatermark < 0 {
		return 0, 0
	}
	high = max(min(o.FlowHighWatermark, o.OutboundQueue/2), 1)
	return high, max(high/2, 1)
}

// congestedLocked reports whether the session's backlog is above the high
// watermark. The caller holds s.mu.
func (s *memSession) congestedLocked() bool {
	high, _ := s.srv.opts.flowWatermarks()
	if high == 0 || s.mu.conn == nil {
		return false
	}
	return len(s.mu.queue)+int(s.mu.conn.out.n.Load()) > high
}

// backlog is the session's current backlog; zero while offline.
func (s *memSession) backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backlogLocked()
}

func (s *memSession) backlogLocked() int {
	if s.mu.conn == nil || s.mu.ended {
		return 0
	}
	return len(s.mu.queue) + int(s.mu.conn.out.n.Load())
}

// flowProgressLocked wakes the publishers waiting on s if its backlog is at
// the low watermark; called with s.mu held wherever the backlog shrinks.
func (s *memSession) flowProgressLocked() {
	if !s.flow.waiting.Load() && !s.flow.stuck.Load() {
		return
	}
	if _, low := s.srv.opts.flowWatermarks(); s.backlogLocked() <= low {
		s.flow.open()
	}
}

// flowProgress is flowProgressLocked for callers that do not hold s.mu (the
// writer, which just took its queue).
func (s *memSession) flowProgress() {
	if !s.flow.waiting.Load() && !s.flow.stuck.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flowProgressLocked()
}

// awaitDrain pauses the calling publisher until s's backlog is at the low
// watermark, s goes offline, or flowMaxPause passes (s is then stuck). It
// reports whether it waited at all.
func (s *memSession) awaitDrain() bool {
	_, low := s.srv.opts.flowWatermarks()
	if s.flow.stuck.Load() || s.backlog() <= low {
		return false
	}
	s.srv.stats.flowPauses.Add(1)
	timer := time.NewTimer(flowMaxPause)
	defer timer.Stop()
	for {
		ch := s.flow.arm()
		// Re-check after arming: a drain between the check above and the
		// arm saw no waiter and woke nobody.
		if s.backlog() <= low {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			s.flow.stuck.Store(true)
			s.srv.stats.flowPauseTimeouts.Add(1)
			return true
		case <-s.srv.closing:
			return true
		}
	}
}

// throttle is called by a publisher's reader after routing one of its
// messages: it waits for the backed-up session routing reported, unless
// that session is the publisher's own (its window moves only when this
// reader reads the PUBACKs).
func (c *conn) throttle(backed Session) {
	if backed == nil || backed == c.sess {
		return
	}
	backed.awaitDrain()
}
