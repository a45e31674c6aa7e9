package mqttbench

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// startProgress prints one line per second with the counters' rates over that second and the
// latency percentiles of the samples taken in it, until the returned stop is called. Quiet runs
// still reset the interval histograms, so nothing accumulates.
func (r *runner) startProgress() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev counters
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				cur := r.st.snapshot()
				line := r.progressLine(now.Sub(r.start), prev, cur)
				prev = cur
				if !r.cfg.Quiet {
					fmt.Fprintln(r.out, line)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// counters is a point-in-time copy of the monotonic counters.
type counters struct {
	connected, failed, dropped, sent, acked, received, dups, reordered int64
}

func (s *stats) snapshot() counters {
	return counters{
		connected: s.connected.Load(), failed: s.connFailed.Load(), dropped: s.dropped.Load(),
		sent: s.sent.Load(), acked: s.acked.Load(), received: s.received.Load(),
		dups: s.duplicates.Load(), reordered: s.reordered.Load(),
	}
}

// progressLine formats one second of the run. The rates are per-second differences of cur and prev.
func (r *runner) progressLine(elapsed time.Duration, prev, cur counters) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] conn %d", elapsed.Seconds(), cur.connected-cur.dropped)
	if cur.failed > 0 || cur.dropped > 0 {
		fmt.Fprintf(&b, " (failed %d, dropped %d)", cur.failed, cur.dropped)
	}
	if l := r.st.connLat.takeInterval(); l.Count > 0 {
		fmt.Fprintf(&b, " +%d/s connect p99 %s ms", cur.connected-prev.connected, f2(l.P99))
	}
	switch r.cfg.Mode {
	case ModePub, ModeDurable:
		fmt.Fprintf(&b, " | pub %d/s", cur.sent-prev.sent)
		if r.cfg.QoS > 0 {
			l := r.st.ackLat.takeInterval()
			fmt.Fprintf(&b, " ack %d/s", cur.acked-prev.acked)
			if l.Count > 0 {
				fmt.Fprintf(&b, " p99 %s ms", f2(l.P99))
			}
		}
	}
	if r.cfg.Mode == ModeSub || r.cfg.Subscribers > 0 || r.cfg.Mode == ModeDurable {
		l := r.st.e2eLat.takeInterval()
		fmt.Fprintf(&b, " | recv %d/s", cur.received-prev.received)
		if l.Count > 0 {
			fmt.Fprintf(&b, " latency p50 %s p99 %s p99.9 %s ms", f2(l.P50), f2(l.P99), f2(l.P999))
		}
		if cur.dups > 0 || cur.reordered > 0 {
			fmt.Fprintf(&b, " dup %d reord %d", cur.dups, cur.reordered)
		}
	}
	return b.String()
}
