package server

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// tokenBucket allows rate events per second with bursts up to burst.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst float64) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// refillLocked adds the tokens earned since the last call.
func (b *tokenBucket) refillLocked(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take spends n tokens if there are that many.
func (b *tokenBucket) take(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(time.Now())
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// debt spends n tokens, going negative if need be, and returns how long to
// wait until the bucket is back at zero.
func (b *tokenBucket) debt(n float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(time.Now())
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// rateLimiter slows one client's reads to its message and byte rates: after
// a packet that overdraws either bucket the reader sleeps, so TCP flow
// control pushes back on the client instead of the broker buffering.
// Reader goroutine only.
type rateLimiter struct {
	msgs, bytes *tokenBucket
}

func (s *Server) newRateLimiter() rateLimiter {
	var r rateLimiter
	if n := s.opts.ClientMessageRate; n > 0 {
		r.msgs = newTokenBucket(float64(n), float64(n))
	}
	if n := s.opts.ClientByteRate; n > 0 {
		r.bytes = newTokenBucket(float64(n), float64(n))
	}
	return r
}

func (r *rateLimiter) wait(size int) {
	var d time.Duration
	if r.msgs != nil {
		d = r.msgs.debt(1)
	}
	if r.bytes != nil {
		d = max(d, r.bytes.debt(float64(size)))
	}
	if d > 0 {
		time.Sleep(d)
	}
}

// memoryWatch samples the heap size a few times a second, so that the
// per-message check (memoryHigh) is one atomic load. Crossing the
// watermark either way is an alarm transition: logged, counted (raised) in
// Metrics.Alarms, and published retained on
// $SYS/brokers/<node>/alarms/memory_high_watermark.
type memoryWatch struct {
	high     atomic.Bool
	raised   atomic.Int64 // times the alarm was raised
	stopOnce sync.Once
	done     chan struct{}
}

const memorySampleInterval = 250 * time.Millisecond

// memoryAlarmName names the alarm in its $SYS topic and payload.
const memoryAlarmName = "memory_high_watermark"

func (w *memoryWatch) start(s *Server) {
	limit := s.opts.MemoryHighWatermark
	w.done = make(chan struct{})
	if limit == 0 {
		return
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	// The first sample is taken now, so that a broker started above the
	// mark refuses its first connection. Its state is published either way:
	// a retained "raised" from before a crash must not outlive the alarm.
	// start runs under Server.mu, which routing takes, so that message goes
	// out from the goroutine.
	first := heap()
	w.transition(s, first > limit, first, limit)
	go func() {
		s.publishAlarm(memoryAlarmName, first > limit, first, limit)
		t := time.NewTicker(memorySampleInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				h := heap()
				s.memoryAlarm(h > limit, h, limit)
			case <-w.done:
				return
			}
		}
	}()
}

// transition records the alarm state high and reports whether it changed;
// a change is logged, and a raise counted.
func (w *memoryWatch) transition(s *Server, high bool, heap, limit uint64) bool {
	if w.high.Swap(high) == high {
		return false
	}
	if high {
		w.raised.Add(1)
		s.log.Warn("alarm raised: memory high watermark", "heap_bytes", heap, "limit", limit)
	} else {
		s.log.Info("alarm cleared: memory high watermark", "heap_bytes", heap, "limit", limit)
	}
	return true
}

// memoryAlarm sets the memory alarm to high, publishing the transition if
// it is one. Sampler goroutine only (tests call it in its place).
func (s *Server) memoryAlarm(high bool, heap, limit uint64) {
	if s.mem.transition(s, high, heap, limit) {
		s.publishAlarm(memoryAlarmName, high, heap, limit)
	}
}

func (w *memoryWatch) stop() {
	w.stopOnce.Do(func() {
		if w.done != nil {
			close(w.done)
		}
	})
}

// memoryHigh reports whether the heap is above MemoryHighWatermark: new
// connections are refused and QoS 0 deliveries shed.
func (s *Server) memoryHigh() bool { return s.mem.high.Load() }
