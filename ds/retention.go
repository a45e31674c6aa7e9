package ds

import (
	"bytes"
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
// live generations the check also reclaims storage early, with at most one range delete per
// stream and check: a stream whose topics all have periods shorter than the longest loses the
// part of its key range older than the longest of them (layout.Layout.SpanBefore). Under
// wildcard_optimized that is every epoch that ended before the cut, or exactly the older
// messages for a stream without varying levels or with epoch bits 0; a stream with varying
// levels and epoch bits 64 has no such range, and the reference layout keeps every topic in one
// stream, so for those read-time filtering alone keeps readers exact and the generation drop
// reclaims the space.
//
// Which period bounds a stream's topics is decided from its static structure, so it holds for
// topics learned later too. A topic's period is that of the first class that matches it, or
// Period. Walking the classes in order, a stream may hold topics of every class whose filter
// it overlaps (layout.Layout.StreamsOverlapping), up to the first class it lies wholly inside
// (layout.Layout.StreamsWithin): no topic of it gets past that one. A stream inside no class
// may also hold topics of Period. The longest of those periods is the stream's: a range delete
// never removes a message younger than its own period. The streams considered are those inside
// some class, and when Period is not the longest period every stream ("#" lists those not
// starting with '$').
//
// The check remembers, per generation and period, the cut it last deleted below, and starts
// the next span of each stream at the previous cut's span end: spans do not overlap, and a
// range that holds no key is not written at all.
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
		// cuts is, per generation and period, the timestamp below which the last committed
		// check deleted the spans of the streams of that period.
		cuts map[cutKey]uint64
	}
}

type cutKey struct {
	rank   Rank
	period uint64
}

func (d *DB) startRetention() {
	d.retention.classes = compileClasses(d.opts.Retention)
	d.retention.expired = make([]atomic.Uint64, len(d.shards))
	d.retention.mu.cuts = map[cutKey]uint64{}
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
		if len(s.generations()) == 0 {
			continue // Options.DeferFirstGeneration: nothing written yet
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
// stream whose period is shorter than the longest, in one batch. retention.mu is held.
func (d *DB) deleteExpiredSpans(s *shard, now uint64) error {
	c := d.retention.classes
	if len(c.filters) == 0 || now < c.minPeriod {
		return nil
	}
	var cb layout.CookedBatch
	cuts := map[cutKey]uint64{}
	for _, g := range s.generations() {
		if g.since+c.minPeriod > now {
			continue // nothing in it is old enough for any period
		}
		spans, err := d.expiredSpans(s.id, g, now, cuts)
		if err != nil {
			return err
		}
		for _, sp := range spans {
			cb.Writes = append(cb.Writes, layout.Write{Kind: layout.WriteDeleteRange, Key: sp.Start, Value: sp.End})
		}
	}
	if len(cb.Writes) > 0 {
		if err := d.applyRetention(s, &cb); err != nil {
			return err
		}
		d.retention.rangeDeletes.Add(uint64(len(cb.Writes)))
	}
	// Ranges found empty are remembered too: nothing will be written below a past cut.
	for k, cut := range cuts {
		d.retention.mu.cuts[k] = cut
	}
	return nil
}

// applyRetention commits the range deletes of one shard's check like a generation drop:
// through the applier, with the shard's writer held.
func (d *DB) applyRetention(s *shard, cb *layout.CookedBatch) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, err := d.rlockStorage(); err != nil {
		return err
	}
	defer d.storage.RUnlock()
	return s.applyNow(cb)
}

// expiredSpans returns the spans to delete in generation g of shard, and adds the cuts they
// delete below to cuts. retention.mu is held.
func (d *DB) expiredSpans(shard int, g *generation, now uint64, cuts map[cutKey]uint64) ([]layout.Span, error) {
	// Storage first, layout second: the lock order of Next.
	db, err := d.rlockStorage()
	if err != nil {
		return nil, err
	}
	defer d.storage.RUnlock()
	l, err := g.reader()
	if err != nil {
		return nil, nil // dropped meanwhile
	}
	defer g.release()
	rank := Rank{Shard: shard, Generation: g.id}
	var spans []layout.Span
	for _, sp := range d.retention.classes.streamPeriods(l) {
		if now < sp.period {
			continue
		}
		k := cutKey{rank: rank, period: sp.period}
		cut, last := now-sp.period, d.retention.mu.cuts[k]
		if last >= cut {
			continue
		}
		span, ok := l.SpanBefore(sp.stream, cut)
		if !ok {
			continue
		}
		cuts[k] = cut
		if prev, ok := l.SpanBefore(sp.stream, last); ok {
			if bytes.Compare(prev.End, span.End) >= 0 {
				continue
			}
			span.Start = prev.End
		}
		has, err := hasKeyIn(db, span)
		if err != nil {
			return nil, err
		}
		if has {
			spans = append(spans, span)
		}
	}
	return spans, nil
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

// forgetDroppedLocked forgets the cuts of generations that are gone.
func (d *DB) forgetDroppedLocked() {
	for k := range d.retention.mu.cuts {
		if s := d.shards[k.rank.Shard]; s.generation(k.rank.Generation) == nil {
			delete(d.retention.mu.cuts, k)
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
