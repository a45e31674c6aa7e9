package mqttbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/client"
)

// runDurable checks the promise of a persistent session, in five steps:
//
//  1. the session client connects with clean start (wiping any earlier state), disconnects, connects
//     again with clean start false (and, in MQTT 5, a session expiry), subscribes at cfg.QoS and
//     disconnects: the broker now holds an offline session;
//  2. a publisher sends cfg.Messages messages at cfg.QoS and waits for every acknowledgement;
//  3. if cfg.RestartCmd is set, it runs (sh -c) and the tool retries connecting until the broker is
//     back, for at most cfg.Reconnect;
//  4. the session reconnects with clean start false and receives until every acknowledged message
//     arrived, or nothing new arrived for cfg.Drain;
//  5. acknowledged messages that never arrived are the broker's failure to keep its promise.
func (r *runner) runDurable(ctx context.Context) (*Result, error) {
	c := r.cfg
	runCtx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	id := c.ClientID.Expand(c.StartIndex)
	filter := c.Topic.Expand(c.StartIndex)
	dr := &DurableResult{Published: c.Messages}

	// 1. Create the offline session.
	if err := r.prepareSession(runCtx, id, filter); err != nil {
		return nil, err
	}

	// 2. Publish while it is offline.
	pub, err := r.connect(runCtx, r.clientOptions(id+"-pub", nil))
	if err != nil {
		return nil, fmt.Errorf("bench: durable publisher: %w", err)
	}
	p := &publisher{index: c.StartIndex, topic: filter, cl: pub}
	stopProgress := r.startProgress()
	pubStart := time.Now()
	r.publish(runCtx, p, 0, c.Messages)
	r.drain(runCtx, func() bool { return r.st.outstanding.Load() == 0 })
	pubTime := time.Since(pubStart)
	_ = pub.Disconnect()
	want := p.want(c.QoS)
	dr.Acked = int64(want.Distinct())
	if dr.Acked < int64(c.Messages) {
		fmt.Fprintf(r.out, "durable: only %d of %d messages were acknowledged\n", dr.Acked, c.Messages)
	}

	// 3. Restart the broker.
	restartStart := time.Now()
	if c.RestartCmd != "" || c.restart != nil {
		dr.Restarted = true
		restart := c.restart
		if restart == nil {
			restart = func(ctx context.Context) error { return runRestart(ctx, c.RestartCmd) }
		}
		if err := restart(runCtx); err != nil {
			stopProgress()
			return nil, err
		}
	}

	// 4. Reconnect and drain.
	rc := &receiver{r: r, filter: filter, ownRun: true, trackers: map[uint64]*SeqTracker{}}
	o := r.clientOptions(id, rc.onMessage)
	o.CleanStart = false
	sess, drainStart, err := r.reconnect(runCtx, o)
	if err != nil {
		stopProgress()
		return nil, err
	}
	if dr.Restarted {
		dr.RestartSeconds = time.Since(restartStart).Seconds()
	}
	dr.SessionPresent = sess.SessionPresent()
	r.drainIdle(runCtx, func() bool { return r.st.distinct.Load() >= dr.Acked })
	_ = sess.Disconnect()
	stopProgress()

	// 5. Count. Disconnect has waited for the client's reader, so the trackers are ours now.
	tr := rc.trackers[uint64(r.runID)<<32|uint64(p.index)]
	if tr == nil {
		tr = &SeqTracker{}
	}
	dr.LostAcked = int64(tr.LostOf(want))
	dr.Delivered = dr.Acked - dr.LostAcked
	dr.Duplicates = int64(tr.Duplicates())
	if last := r.st.lastRecv.Load(); last > 0 {
		dr.DrainSeconds = time.Unix(0, last).Sub(drainStart).Seconds()
	}
	res := r.baseResult(stopCause(ctx, runCtx))
	res.PublishTime = pubTime.Seconds()
	res.SendRate = float64(res.Sent) / pubTime.Seconds()
	res.Durable = dr
	res.Lost, res.Duplicates, res.LossIsExact, res.Expected = dr.LostAcked, dr.Duplicates, true, dr.Acked
	return res, nil
}

// prepareSession leaves the broker with an offline session for id, subscribed to filter, and no
// messages queued from earlier runs.
func (r *runner) prepareSession(ctx context.Context, id, filter string) error {
	o := r.clientOptions(id, nil)
	o.CleanStart = true
	cl, err := r.connect(ctx, o)
	if err != nil {
		return fmt.Errorf("bench: durable session: %w", err)
	}
	_ = cl.Disconnect()
	o.CleanStart = false
	if cl, err = r.connect(ctx, o); err != nil {
		return fmt.Errorf("bench: durable session: %w", err)
	}
	defer func() { _ = cl.Disconnect() }()
	codes, err := cl.Subscribe(ctx, mqtt.Subscription{Filter: filter, QoS: mqtt.QoS(r.cfg.QoS)})
	if err == nil && len(codes) == 1 && codes[0].IsError() {
		err = fmt.Errorf("refused: %v", codes[0])
	}
	if err != nil {
		return fmt.Errorf("bench: durable session: subscribing to %q: %w", filter, err)
	}
	return nil
}

// runRestart runs the restart command with the tool's stderr as its output. The command's stdout
// is not a pipe, so a broker it starts in the background does not keep the tool waiting.
func runRestart(ctx context.Context, cmd string) error {
	sh := exec.CommandContext(ctx, "sh", "-c", cmd)
	sh.Stdout, sh.Stderr = os.Stderr, os.Stderr
	if err := sh.Run(); err != nil {
		return fmt.Errorf("bench: --restart-cmd: %w", err)
	}
	return nil
}

// reconnect dials until the broker answers, for at most cfg.Reconnect. It also returns when the
// successful attempt started: queued messages may arrive before Dial returns.
func (r *runner) reconnect(ctx context.Context, o *client.Options) (*client.Client, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Reconnect)
	defer cancel()
	for {
		t0 := time.Now()
		cl, err := client.Dial(ctx, o)
		if err == nil {
			r.st.connLat.record(time.Since(t0))
			r.st.connected.Add(1)
			return cl, t0, nil
		}
		select {
		case <-ctx.Done():
			return nil, time.Time{}, fmt.Errorf("bench: broker not back within %v: %w", r.cfg.Reconnect, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// drainIdle waits until done reports true, or nothing arrived for cfg.Drain.
func (r *runner) drainIdle(ctx context.Context, done func() bool) {
	lastCount, lastChange := r.st.received.Load(), time.Now()
	for !done() && ctx.Err() == nil {
		if n := r.st.received.Load(); n != lastCount {
			lastCount, lastChange = n, time.Now()
		} else if time.Since(lastChange) > r.cfg.Drain {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
