package ds

import (
	"errors"
	"sync"
	"time"
)

// Retention: a background goroutine checks every RotationInterval/4 whether a shard's current
// generation is older than RotationInterval (then it adds a generation) and drops every
// generation whose until is older than Period. A message therefore lives between Period and
// Period + RotationInterval + RotationInterval/4: with the default RotationInterval of
// Period/10, at most about 1.13 × Period.
type retention struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func (d *DB) startRetention() {
	if d.opts.Retention.Disabled {
		return
	}
	d.retention.stop = make(chan struct{})
	d.retention.wg.Add(1)
	go func() {
		defer d.retention.wg.Done()
		t := time.NewTicker(max(d.opts.Retention.RotationInterval/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-d.retention.stop:
				return
			case <-t.C:
				d.enforceRetention()
			}
		}
	}()
}

func (d *DB) stopRetention() {
	if d.retention.stop != nil {
		close(d.retention.stop)
		d.retention.wg.Wait()
	}
}

// enforceRetention does one retention check on every shard. Failures are counted in
// Metrics.Generations.RetentionErrors; the next check tries again.
func (d *DB) enforceRetention() {
	now := timestampOf(d.opts.Now())
	rotate := uint64(d.opts.Retention.RotationInterval.Microseconds())
	period := uint64(d.opts.Retention.Period.Microseconds())
	for _, s := range d.shards {
		if d.closed.Load() {
			return
		}
		if cur := s.current(); now >= cur.since+rotate && now >= cur.createdAt+rotate {
			if _, err := s.addGeneration(d.opts.Layout); err != nil {
				d.metrics.retentionErrors.Add(1)
			}
		}
		if now < period {
			continue
		}
		for _, g := range s.generations() {
			if until := g.until.Load(); until != 0 && until <= now-period {
				if err := s.dropGeneration(g.id); err != nil && !errors.Is(err, ErrGenerationNotFound) {
					d.metrics.retentionErrors.Add(1)
				}
			}
		}
	}
}
