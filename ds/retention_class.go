package ds

import (
	"strings"
	"time"

	"github.com/mqttds/mqttds/layout"
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
		levels, err := parseFilter(rc.Filter)
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
func (c *retentionClasses) periodOf(topic string) uint64 {
	for i, f := range c.filters {
		if classMatches(f, topic) {
			return c.periods[i]
		}
	}
	return c.def
}

// safePeriod is the period a range delete may use for a stream whose every topic matches
// class i: the longest of class i's and those of the earlier classes that can match a topic of
// class i too (first match wins, so such a topic may be theirs).
func (c *retentionClasses) safePeriod(i int) uint64 {
	p := c.periods[i]
	for j := range i {
		if filtersOverlap(c.filters[j], c.filters[i]) {
			p = max(p, c.periods[j])
		}
	}
	return p
}

// filtersOverlap reports whether some topic matches both filters (their levels). It may say
// yes when the answer is no, never the reverse: callers only use a "no".
func filtersOverlap(a, b []string) bool {
	// A filter starting with a wildcard matches no '$' topic [MQTT-4.7.2-1]; one starting
	// with a '$' level matches only those.
	if dollarOnly(a) && wildStart(b) || dollarOnly(b) && wildStart(a) {
		return false
	}
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == "#", i < len(b) && b[i] == "#":
			return true // the other filter's remaining levels ("a/#" also matches "a")
		case i == len(a) || i == len(b):
			return len(a) == len(b)
		case a[i] != "+" && b[i] != "+" && a[i] != b[i]:
			return false
		}
	}
}

func dollarOnly(f []string) bool { return len(f[0]) > 0 && f[0][0] == '$' }
func wildStart(f []string) bool  { return f[0] == "+" || f[0] == "#" }

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

// classMatches reports whether topic matches filter (its levels) [MQTT-4.7]: '+' takes one
// level, '#' the rest (and the parent: "a/#" matches "a"), and a filter starting with a
// wildcard does not match a topic starting with '$' [MQTT-4.7.2-1].
func classMatches(filter []string, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && (filter[0] == "+" || filter[0] == "#") {
		return false
	}
	rest, more := topic, true
	for _, f := range filter {
		if f == "#" {
			return true
		}
		if !more {
			return false
		}
		level := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			level, rest = rest[:i], rest[i+1:]
		} else {
			more = false
		}
		if f != "+" && f != level {
			return false
		}
	}
	return !more
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
