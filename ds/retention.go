package ds

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqttds/mqttds/layout"
)

// Retention: a background goroutine checks every RotationInterval/4 (or a quarter of the
// shortest class period, if shorter) whether a shard's current generation is older than
// RotationInterval (then it adds a generation) and drops every generation whose until is older
// than the longest period (Period or a class's). A message therefore lives between its period
// and the longest period + RotationInterval + the check interval: with the default
// RotationInterval of Period/10 and no class, at most about 1.13 × Period.
//
// Readers never see a message past its own period: Next skips it (retention_class.go). Within
// live generations the check also reclaims storage early, one range delete per stream and
// check: a stream whose every topic falls in a class (layout.Layout.StreamsWithin, decided
// from the stream's static structure) loses the part of its key range older than the class
// period (layout.Layout.SpanBefore). Under wildcard_optimized that is every epoch that ended
// before the cut, or exactly the older messages for a stream without varying levels or with
// epoch bits 0; a stream with varying levels and epoch bits 64 has no such range, and the
// reference layout keeps every topic in one stream, so for those read-time filtering alone
// keeps readers exact and the generation drop reclaims the space. Streams that mix classes
// (some topics in a class, some not) are filtered the same way.
//
// The period used for a stream inside class i is the longest of class i's and those of the
// earlier classes whose filters can match a topic of class i (first match wins, so such a
// topic may belong to the earlier class): a range delete never removes a message younger than
// its own period.
type retention struct {
	stop chan struct{}
	wg   sync.WaitGroup

	// classes are the periods by topic; immutable after Open.
	classes *retentionClasses
	// expired counts, per shard, the messages the read filter skipped.
	expired      []atomic.Uint64
	rangeDeletes atomic.Uint64

	// mu serialises retention checks (the loop, and tests that call enforceRetention).
	mu struct {
		sync.Mutex
		// deleted is, per (generation, stream), the end of the span deleted last: the next
		// check deletes from there, and deletes nothing when its span ends there too.
		deleted map[deletedKey][]byte
	}
}

type deletedKey struct {
	rank   Rank
	stream string
}

func (d *DB) startRetention() {
	d.retention.classes = compileClasses(d.opts.Retention)
	d.retention.expired = make([]atomic.Uint64, len(d.shards))
	d.retention.mu.deleted = map[deletedKey][]byte{}
	if d.opts.Retention.Disabled {
		return
	}
	interval := d.opts.Retention.RotationInterval
	if len(d.retention.classes.filters) > 0 {
		interval = min(interval, time.Duration(d.retention.classes.minPeriod)*time.Microsecond)
	}
	d.retention.stop = make(chan struct{})
	d.retention.wg.Add(1)
	go func() {
		defer d.retention.wg.Done()
		t := time.NewTicker(max(interval/4, time.Millisecond))
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
	d.retention.mu.Lock()
	defer d.retention.mu.Unlock()
	now := timestampOf(d.opts.Now())
	rotate := uint64(d.opts.Retention.RotationInterval.Microseconds())
	keep := d.retention.classes.maxPeriod
	for _, s := range d.shards {
		if d.closed.Load() {
			return
		}
		if cur := s.current(); now >= cur.since+rotate && now >= cur.createdAt+rotate {
			if _, err := s.addGeneration(d.opts.Layout); err != nil {
				d.metrics.retentionErrors.Add(1)
			}
		}
		if now >= keep {
			for _, g := range s.generations() {
				if until := g.until.Load(); until != 0 && until <= now-keep {
					if err := s.dropGeneration(g.id); err != nil && !errors.Is(err, ErrGenerationNotFound) {
						d.metrics.retentionErrors.Add(1)
					}
				}
			}
		}
		if err := d.deleteExpiredSpans(s, now); err != nil {
			d.metrics.retentionErrors.Add(1)
		}
	}
	d.forgetDroppedLocked()
}

// deleteExpiredSpans range-deletes, in every live generation of s, the expired part of each
// stream that lies wholly inside a retention class, in one batch. retention.mu is held.
func (d *DB) deleteExpiredSpans(s *shard, now uint64) error {
	c := d.retention.classes
	if len(c.filters) == 0 || now < c.minPeriod {
		return nil
	}
	var cb layout.CookedBatch
	var ends []deletedKey
	for _, g := range s.generations() {
		if g.since+c.minPeriod > now {
			continue // nothing in it is old enough for any class
		}
		spans, keys, err := d.expiredSpans(s.id, g, now)
		if err != nil {
			return err
		}
		for i, sp := range spans {
			cb.Writes = append(cb.Writes, layout.Write{Kind: layout.WriteDeleteRange, Key: sp.Start, Value: sp.End})
			ends = append(ends, keys[i])
		}
	}
	if len(cb.Writes) == 0 {
		return nil
	}
	// Committed like a generation drop: through the applier, with the shard's writer held.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, err := d.rlockStorage(); err != nil {
		return err
	}
	defer d.storage.RUnlock()
	if err := s.applyNow(&cb); err != nil {
		return err
	}
	for i, k := range ends {
		d.retention.mu.deleted[k] = cb.Writes[i].Value
	}
	d.retention.rangeDeletes.Add(uint64(len(ends)))
	return nil
}

// expiredSpans returns the spans to delete in generation g of shard: for each stream inside a
// class, from the end of its last deleted span (or its start) to SpanBefore(now - period),
// when that range still holds a key. retention.mu is held.
func (d *DB) expiredSpans(shard int, g *generation, now uint64) ([]layout.Span, []deletedKey, error) {
	c := d.retention.classes
	// Storage first, layout second: the lock order of Next.
	db, err := d.rlockStorage()
	if err != nil {
		return nil, nil, err
	}
	defer d.storage.RUnlock()
	l, err := g.reader()
	if err != nil {
		return nil, nil, nil // dropped meanwhile
	}
	defer g.release()
	// The shortest safe period of each stream over the classes it lies in, in first-seen order.
	var order []string
	period := map[string]uint64{}
	for i, f := range c.filters {
		p := c.safePeriod(i)
		for _, st := range l.StreamsWithin(f) {
			if q, seen := period[string(st)]; !seen {
				order = append(order, string(st))
				period[string(st)] = p
			} else if p < q {
				period[string(st)] = p
			}
		}
	}
	if len(order) == 0 {
		return nil, nil, nil
	}
	var spans []layout.Span
	var keys []deletedKey
	rank := Rank{Shard: shard, Generation: g.id}
	for _, st := range order {
		p := period[st]
		if now < p {
			continue
		}
		sp, ok := l.SpanBefore(layout.Stream(st), now-p)
		if !ok {
			continue
		}
		k := deletedKey{rank: rank, stream: st}
		if last := d.retention.mu.deleted[k]; last != nil {
			if string(last) >= string(sp.End) {
				continue
			}
			sp.Start = last
		}
		has, err := hasKeyIn(db, sp)
		if err != nil {
			return nil, nil, err
		}
		if !has {
			d.retention.mu.deleted[k] = sp.End // nothing there: remember, do not write
			continue
		}
		spans = append(spans, sp)
		keys = append(keys, k)
	}
	return spans, keys, nil
}

// hasKeyIn reports whether db holds a key in sp. A check that finds an empty span saves a
// range tombstone and a sync.
func hasKeyIn(db *pebble.DB, sp layout.Span) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: sp.Start, UpperBound: sp.End})
	if err != nil {
		return false, err
	}
	has := it.First()
	return has, errors.Join(it.Error(), it.Close())
}

// forgetDroppedLocked forgets the deleted spans of generations that are gone.
func (d *DB) forgetDroppedLocked() {
	for k := range d.retention.mu.deleted {
		if s := d.shards[k.rank.Shard]; s.generation(k.rank.Generation) == nil {
			delete(d.retention.mu.deleted, k)
		}
	}
}

// ExpiredByRetention returns Metrics().Retention.Expired, the messages Next skipped as past
// their retention period, without the cost of a whole snapshot (Metrics asks pebble for its
// disk usage): for exporters that add it to their own counters. Safe for concurrent use.
func (d *DB) ExpiredByRetention() uint64 {
	var n uint64
	for i := range d.retention.expired {
		n += d.retention.expired[i].Load()
	}
	return n
}
