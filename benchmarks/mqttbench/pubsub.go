package mqttbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/client"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// receiver is one subscribing client's accounting. Its trackers are touched only by the client's
// reader goroutine (OnMessage) while the client runs, and read by the runner after it is closed.
type receiver struct {
	r      *runner
	filter string
	// ownRun: count only this run's messages (pub mode); otherwise (sub mode) every bench payload.
	ownRun   bool
	trackers map[uint64]*SeqTracker // by runID<<32 | publisher
}

func (rc *receiver) onMessage(m *client.Message) {
	st := &rc.r.st
	h, err := DecodeHeader(m.Payload)
	if err != nil || rc.ownRun && h.RunID != rc.r.runID {
		st.foreign.Add(1)
		return
	}
	now := time.Now().UnixNano()
	st.e2eLat.record(time.Duration(now - h.SentNanos))
	key := uint64(h.RunID)<<32 | uint64(h.Publisher)
	tr := rc.trackers[key]
	if tr == nil {
		tr = &SeqTracker{}
		rc.trackers[key] = tr
	}
	st.received.Add(1)
	st.lastRecv.Store(now)
	switch tr.Observe(h.Seq) {
	case Duplicate:
		st.duplicates.Add(1)
	case Reordered:
		st.reordered.Add(1)
		st.distinct.Add(1)
	default:
		st.distinct.Add(1)
	}
}

// publisher is one publishing client.
type publisher struct {
	index int
	topic string
	cl    *client.Client
	sent  uint64 // highest sequence number written; owned by the publishing goroutine

	mu struct {
		sync.Mutex
		acked SeqTracker // sequence numbers the broker acknowledged (QoS 1/2)
	}
}

// want is the set of sequence numbers a subscriber of this publisher must receive: all the written
// ones at QoS 0, the acknowledged ones at QoS 1 and 2 (an unacknowledged message may never have
// reached the broker, so its absence is not a loss).
// It returns a copy: acknowledgements may still arrive while the caller counts.
func (p *publisher) want(qos byte) *SeqTracker {
	if qos > 0 {
		p.mu.Lock()
		defer p.mu.Unlock()
		w := p.mu.acked
		w.runs = append([]seqRun(nil), w.runs...)
		return &w
	}
	w := &SeqTracker{}
	if p.sent > 0 {
		w.runs = []seqRun{{1, p.sent}}
		w.distinct = p.sent
	}
	return w
}

// publish sends up to limit messages (0: no limit) until the end of ctx or a failed connection.
// interval spaces them (0: as fast as the connection and the in-flight window allow).
func (r *runner) publish(ctx context.Context, p *publisher, interval time.Duration, limit int) {
	c := r.cfg
	buf := append([]byte(nil), r.payload...)
	pace := newIntervalPacer(interval)
	h := Header{RunID: r.runID, Publisher: uint32(p.index)}
	for seq := uint64(1); limit == 0 || seq <= uint64(limit); seq++ {
		if !pace.wait(ctx, int(seq-1)) {
			return
		}
		t0 := time.Now()
		h.Seq, h.SentNanos = seq, t0.UnixNano()
		h.Put(buf)
		var done func(error)
		if c.QoS > 0 {
			r.st.outstanding.Add(1)
			done = r.ackFunc(p, seq, t0)
		}
		if err := p.cl.Publish(ctx, p.topic, buf, mqtt.QoS(c.QoS), false, done); err != nil {
			if c.QoS > 0 {
				r.st.outstanding.Add(-1)
			}
			if ctx.Err() == nil {
				r.st.pubFailed.Add(1)
			}
			return
		}
		p.sent = seq
		r.st.sent.Add(1)
	}
}

func (r *runner) ackFunc(p *publisher, seq uint64, t0 time.Time) func(error) {
	return func(err error) {
		r.st.outstanding.Add(-1)
		if err != nil {
			r.st.pubFailed.Add(1)
			return
		}
		r.st.ackLat.record(time.Since(t0))
		r.st.acked.Add(1)
		p.mu.Lock()
		p.mu.acked.Observe(seq)
		p.mu.Unlock()
	}
}

// publishInterval is the pause between two messages of one publisher.
func (c *Config) publishInterval() time.Duration {
	if c.Rate > 0 {
		return time.Duration(float64(time.Second) * float64(c.Clients) / c.Rate)
	}
	return c.Interval
}

// runPub: subscribers first (so nothing is published before they listen), then publishers, publish
// until the limit or the duration, drain, and count.
func (r *runner) runPub(ctx context.Context) (*Result, error) {
	c := r.cfg
	stopProgress := r.startProgress()
	defer stopProgress()
	runCtx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()

	// 1. Subscribers, each on its own filter, subscribed before any publisher starts.
	recvs, subs, err := r.startReceivers(runCtx, c.Subscribers, c.SubClientID, c.SubTopic, true)
	defer closeAll(subs)
	if err != nil {
		return nil, err
	}

	// 2. Publishers.
	pubs := make([]*publisher, c.Clients)
	for k := range pubs {
		idx := c.StartIndex + k
		pubs[k] = &publisher{index: idx, topic: c.Topic.Expand(idx)}
	}
	pcls, err := r.connectAll(runCtx, c.Clients, func(k int) *client.Options {
		return r.clientOptions(c.ClientID.Expand(pubs[k].index), nil)
	})
	defer closeAll(pcls)
	if !slices.ContainsFunc(pcls, func(cl *client.Client) bool { return cl != nil }) {
		return nil, fmt.Errorf("bench: no publisher could connect: %w", err)
	}

	// 3. Publish.
	pubStart := time.Now()
	var wg sync.WaitGroup
	for k, cl := range pcls {
		if cl == nil {
			continue
		}
		pubs[k].cl = cl
		wg.Add(1)
		go func(p *publisher) {
			defer wg.Done()
			r.publish(runCtx, p, c.publishInterval(), c.Limit)
		}(pubs[k])
	}
	wg.Wait()
	pubTime := time.Since(pubStart)
	stop := stopCause(ctx, runCtx)

	// 4. Drain, within one cfg.Drain: outstanding acknowledgements first (they decide what is
	// expected), then receipts.
	drainEnd := time.Now().Add(c.Drain)
	r.drainUntil(ctx, drainEnd, func() bool { return r.st.outstanding.Load() == 0 })
	expected := r.expected(pubs, recvs)
	r.drainUntil(ctx, drainEnd, func() bool { return r.st.distinct.Load() >= expected })
	closeAll(pcls)
	closeAll(subs)

	// 5. Count.
	res := r.baseResult(stop)
	res.Subs = c.Subscribers
	res.PublishTime = pubTime.Seconds()
	res.SendRate = float64(res.Sent) / pubTime.Seconds()
	if c.Subscribers > 0 {
		res.Expected = expected
		res.Lost = r.lost(pubs, recvs)
		res.LossIsExact = true
		if last := r.st.lastRecv.Load(); last > 0 {
			res.RecvRate = float64(res.Received) / time.Unix(0, last).Sub(pubStart).Seconds()
		}
	}
	return res, nil
}

// startReceivers connects n subscribers and subscribes each to its filter.
func (r *runner) startReceivers(ctx context.Context, n int, ids, filters Template, ownRun bool) ([]*receiver, []*client.Client, error) {
	c := r.cfg
	recvs := make([]*receiver, n)
	for k := range recvs {
		recvs[k] = &receiver{r: r, filter: filters.Expand(c.StartIndex + k), ownRun: ownRun,
			trackers: map[uint64]*SeqTracker{}}
	}
	cls, err := r.connectAll(ctx, n, func(k int) *client.Options {
		return r.clientOptions(ids.Expand(c.StartIndex+k), recvs[k].onMessage)
	})
	if n > 0 && r.st.connected.Load() == 0 {
		return nil, cls, fmt.Errorf("bench: no subscriber could connect: %w", err)
	}
	for k, cl := range cls {
		if cl == nil {
			continue
		}
		codes, err := cl.Subscribe(ctx, mqtt.Subscription{Filter: recvs[k].filter, QoS: mqtt.QoS(c.QoS)})
		if err == nil && len(codes) == 1 && codes[0].IsError() {
			err = fmt.Errorf("refused: %v", codes[0])
		}
		if err != nil {
			return nil, cls, fmt.Errorf("bench: subscribing to %q: %w", recvs[k].filter, err)
		}
	}
	return recvs, cls, nil
}

// expected is the number of distinct receipts a lossless broker delivers: for every subscriber,
// the wanted messages of every publisher whose topic its filter matches.
func (r *runner) expected(pubs []*publisher, recvs []*receiver) int64 {
	var n int64
	for _, rc := range recvs {
		for _, p := range pubs {
			if topic.Match(rc.filter, p.topic) {
				n += int64(p.want(r.cfg.QoS).Distinct())
			}
		}
	}
	return n
}

// lost is, over every matching (subscriber, publisher) pair, the wanted messages that never arrived.
func (r *runner) lost(pubs []*publisher, recvs []*receiver) int64 {
	var n int64
	for _, rc := range recvs {
		for _, p := range pubs {
			if !topic.Match(rc.filter, p.topic) {
				continue
			}
			want := p.want(r.cfg.QoS)
			if tr := rc.trackers[uint64(r.runID)<<32|uint64(p.index)]; tr != nil {
				n += int64(tr.LostOf(want))
			} else {
				n += int64(want.Distinct())
			}
		}
	}
	return n
}

// drain waits until done reports true, for at most cfg.Drain.
func (r *runner) drain(ctx context.Context, done func() bool) {
	r.drainUntil(ctx, time.Now().Add(r.cfg.Drain), done)
}

// drainUntil waits until done reports true, or until deadline, polling every 5 ms.
func (r *runner) drainUntil(ctx context.Context, deadline time.Time, done func() bool) {
	for !done() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

func stopCause(parent, run context.Context) string {
	switch {
	case parent.Err() != nil:
		return "interrupted"
	case errors.Is(run.Err(), context.DeadlineExceeded):
		return "duration"
	default:
		return "limit"
	}
}

// runSub: subscribers only, until the duration ends. Publishers are elsewhere (another bench
// process), so their counts are unknown and loss is counted from the gaps only.
func (r *runner) runSub(ctx context.Context) (*Result, error) {
	c := r.cfg
	stopProgress := r.startProgress()
	defer stopProgress()
	runCtx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	recvs, subs, err := r.startReceivers(runCtx, c.Clients, c.ClientID, c.Topic, false)
	defer closeAll(subs)
	if err != nil {
		return nil, err
	}
	<-runCtx.Done()
	closeAll(subs)
	res := r.baseResult(stopCause(ctx, runCtx))
	for _, rc := range recvs {
		for _, tr := range rc.trackers {
			res.Lost += int64(tr.Lost(tr.Highest()))
		}
	}
	res.RecvRate = float64(res.Received) / res.Elapsed
	return res, nil
}

// runConn: connect every client at the asked rate, hold the connections until the duration ends.
// With RSSPid, the broker's resident memory is sampled before and once everything is connected.
func (r *runner) runConn(ctx context.Context) (*Result, error) {
	c := r.cfg
	stopProgress := r.startProgress()
	defer stopProgress()
	runCtx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	var before, after int64
	if c.RSSPid != 0 {
		before, _ = readVmRSS(c.RSSPid)
	}
	t0 := time.Now()
	cls, err := r.connectAll(runCtx, c.Clients, func(k int) *client.Options {
		return r.clientOptions(c.ClientID.Expand(c.StartIndex+k), nil)
	})
	defer closeAll(cls)
	connectTime := time.Since(t0)
	if r.st.connected.Load() == 0 {
		return nil, fmt.Errorf("bench: no client could connect: %w", err)
	}
	if c.RSSPid != 0 {
		// Let the broker finish its per-connection work before sampling.
		settle, cancelSettle := context.WithTimeout(runCtx, time.Second)
		<-settle.Done()
		cancelSettle()
		after, _ = readVmRSS(c.RSSPid)
	}
	<-runCtx.Done()
	res := r.baseResult(stopCause(ctx, runCtx))
	res.ConnectRate = float64(res.Connected) / connectTime.Seconds()
	if after > 0 {
		res.RSSBefore, res.RSSAfter = before, after
		res.RSSPerConn = float64(after-before) / float64(res.Connected)
	}
	return res, nil
}
