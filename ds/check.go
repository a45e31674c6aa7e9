package ds

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqttds/mqttds/layout"
)

// Check verifies the stored structure: every shard's generations are contiguous and ordered,
// and every message readable through the layouts (filter "#") decodes, lies inside its
// generation's [since, until), is not above the shard clock, and comes in strictly increasing
// timestamp order within its stream. It reads everything: use it in tests and tools, not on a
// hot path. Safe for concurrent use, but writes that commit during Check may be missed.
func (d *DB) Check() error {
	if err := d.checkOpen(); err != nil {
		return err
	}
	db, err := d.rlockStorage()
	if err != nil {
		return err
	}
	defer d.storage.RUnlock()
	all := []string{"#"}
	for _, s := range d.shards {
		gens, untils := s.generationBounds()
		// Loaded after the list: a generation closed in it has until-1 <= visible.
		visible := s.visible.Load()
		for i, g := range gens {
			until := untils[i]
			if i > 0 && untils[i-1] != g.since {
				return corruptf("shard %d: generation %d ends at %d, generation %d starts at %d",
					s.id, gens[i-1].id, untils[i-1], g.id, g.since)
			}
			if (until == 0) != (i == len(gens)-1) {
				return corruptf("shard %d: generation %d has until %d", s.id, g.id, until)
			}
			if err := d.checkGeneration(db, s, g, until, all, visible); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkGeneration checks one generation as the list showed it: until is its bound then (0 if
// it was the open one), so a rotation during the check does not look like corruption.
func (d *DB) checkGeneration(db *pebble.DB, s *shard, g *generation, until uint64, all []string, visible uint64) error {
	l, err := g.reader()
	if err != nil {
		return nil // dropped meanwhile
	}
	defer g.release()
	bounds := layout.ReadBounds{Visible: visible + 1}
	if until != 0 {
		bounds = layout.ReadBounds{Visible: until, Closed: true}
	}
	for _, stream := range l.Streams(all) {
		pos, err := l.NewPosition(stream, all, 0)
		if err != nil {
			return fmt.Errorf("ds: check shard %d generation %d: %w", s.id, g.id, err)
		}
		var last uint64
		for {
			var stats layout.Stats
			items, next, err := l.Next(db, stream, all, pos, 256, bounds, &stats)
			if err != nil {
				return fmt.Errorf("ds: check shard %d generation %d: %w", s.id, g.id, err)
			}
			if len(items) == 0 {
				break
			}
			for _, it := range items {
				var m Message
				if err := decodeMessage(it.Value, &m); err != nil {
					return fmt.Errorf("ds: check shard %d generation %d key %x: %w", s.id, g.id, it.Key, err)
				}
				if it.Timestamp < g.since || (until != 0 && it.Timestamp >= until) || it.Timestamp > visible {
					return corruptf("shard %d generation %d [%d, %d): message at %d (clock %d)",
						s.id, g.id, g.since, until, it.Timestamp, visible)
				}
				if ShardOf(m.ClientID, d.numShards) != s.id {
					return corruptf("shard %d holds a message of publisher %q", s.id, m.ClientID)
				}
				// Only the reference layout reads in time order: a wildcard stream with
				// varying levels reads an epoch in key order, which is hash order.
				if it.Timestamp <= last && g.opts.Kind == layout.KindReference {
					return corruptf("shard %d generation %d: timestamp %d after %d", s.id, g.id, it.Timestamp, last)
				}
				last = it.Timestamp
			}
			pos = next
		}
	}
	return nil
}
