package ds

import (
	"time"

	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// retentionClasses is RetentionOptions compiled for the read path and the retention check:
// filters split into levels, periods in µs.
//
// Invariant: minPeriod <= every period (classes' and def) <= maxPeriod.
type retentionClasses struct {
	filters [][]string
	periods []uint64
	def     uint64 // Period: topics in no class
	// minPeriod and maxPeriod bound every topic's period: a message younger than minPeriod is
	// live whatever its topic, one older than maxPeriod is expired whatever its topic, so the
	// read filter matches topics only for messages in between.
	minPeriod, maxPeriod uint64
}

func compileClasses(o RetentionOptions) *retentionClasses {
	c := &retentionClasses{def: micros(o.Period)}
	c.minPeriod, c.maxPeriod = c.def, c.def
	for _, rc := range o.Classes {
		levels, err := filterLevels(rc.Filter)
		if err != nil {
			continue // Validate refused it: Open never gets here
		}
		p := micros(rc.Period)
		c.filters = append(c.filters, levels)
		c.periods = append(c.periods, p)
		c.minPeriod, c.maxPeriod = min(c.minPeriod, p), max(c.maxPeriod, p)
	}
	return c
}

func micros(d time.Duration) uint64 { return uint64(max(d.Microseconds(), 0)) }

// periodOf returns the retention period of topic (µs): the first matching class's, else def.
func (c *retentionClasses) periodOf(name string) uint64 {
	for i, f := range c.filters {
		if topic.MatchLevels(f, name) {
			return c.periods[i]
		}
	}
	return c.def
}

// streamPeriod is a stream of a layout and the longest period any of its topics can have.
type streamPeriod struct {
	stream layout.Stream
	period uint64
}

// streamPeriods returns the streams of l whose topics all have periods shorter than the
// longest, each with the longest of them, in a deterministic order (see retention.go for the
// rule).
func (c *retentionClasses) streamPeriods(l layout.Layout) []streamPeriod {
	within := make([]map[string]bool, len(c.filters))
	overlapping := make([]map[string]bool, len(c.filters))
	var order []layout.Stream
	seen := map[string]bool{}
	consider := func(streams []layout.Stream) map[string]bool {
		set := make(map[string]bool, len(streams))
		for _, s := range streams {
			set[string(s)] = true
			if !seen[string(s)] {
				seen[string(s)] = true
				order = append(order, s)
			}
		}
		return set
	}
	for i, f := range c.filters {
		within[i] = consider(l.StreamsWithin(f))
		overlapping[i] = make(map[string]bool)
		for _, s := range l.StreamsOverlapping(f) {
			overlapping[i][string(s)] = true
		}
	}
	if c.def < c.maxPeriod {
		consider(l.StreamsWithin([]string{"#"}))
	}
	var out []streamPeriod
	for _, s := range order {
		p, inside := uint64(0), false
		for i := range c.filters {
			if overlapping[i][string(s)] {
				p = max(p, c.periods[i])
			}
			if inside = within[i][string(s)]; inside {
				break // no topic of s gets past class i
			}
		}
		if !inside {
			p = max(p, c.def)
		}
		if p < c.maxPeriod {
			out = append(out, streamPeriod{stream: s, period: p})
		}
	}
	return out
}

// expired reports whether a message of topic with timestamp ts is past its period at now.
// A message is live while now - ts < period.
func (c *retentionClasses) expired(topic string, ts, now uint64) bool {
	switch age := now - min(now, ts); {
	case age < c.minPeriod:
		return false
	case age >= c.maxPeriod:
		return true
	default:
		return age >= c.periodOf(topic)
	}
}

// dropExpired removes from items, in place, the messages past their retention period at now,
// counts them against shard, and returns what is left. It runs before the messages are
// decoded: an expired payload is never decompressed.
func (d *DB) dropExpired(shard int, items []layout.Item, now uint64) []layout.Item {
	c := d.retention.classes
	kept := items[:0]
	for i := range items {
		if !c.expired(items[i].Topic, items[i].Timestamp, now) {
			kept = append(kept, items[i])
		}
	}
	if n := len(items) - len(kept); n > 0 {
		d.retention.expired[shard].Add(uint64(n))
		clear(items[len(kept):]) // do not keep the dropped values alive
	}
	return kept
}
