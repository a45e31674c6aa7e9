// Package layout stores the messages of one generation of one shard in pebble and reads them
// back by MQTT topic filter.
//
// A layout owns every key under the prefix ds gives it (one prefix per shard·generation) and no
// other. Writes are split into Prepare (encode a batch of entries, learn topic structure, produce
// a CookedBatch of pebble writes) and Apply (bring another replica's in-memory state up to date
// with a batch prepared elsewhere), so that replication can sit between the two halves.
//
// Two layouts exist:
//
//   - wildcard_optimized: the bitfield-LTS layout. The lts trie maps a topic to a stream (static
//     index) and its varying levels; a message key is
//     prefix | topic index | ts >> epoch_bits | hash(varying 1) … hash(varying N) | ts & epoch_mask,
//     so that a filter that fixes some varying levels reads only the keys it can match, jumping
//     over the rest with the "next key inside the box" step of package keymap.
//   - reference: one stream, one key per message in timestamp order, filter applied by scanning.
//     It is the baseline that tests compare the wildcard layout against.
//
// Reading a wildcard stream never waits for an epoch to close: complete epochs are walked in
// key order, the open one in time order (read.go, "the epoch rule"). Two in-memory
// accelerators, rebuilt from Prepare and Apply and never trusted over pebble, keep live
// readers at about one key read per message: a time index of each wildcard stream's latest
// epochs (recent.go) and the latest timestamp of every stream (idle streams are answered
// without touching pebble).
//
// Both store the same value envelope (topic + the caller's opaque value), so every candidate's
// real topic is checked against the filter: a hash collision costs a read, never a wrong result.
//
// For ds's per-topic retention, StreamsWithin names the streams that lie wholly inside a topic
// filter and SpanBefore the key range of a stream's old messages, for one range delete
// (retention.go).
//
// Concurrency: see Layout. Usage:
//
//	l, err := layout.Create(prefix, layout.Options{}, prev, &b) // commit b
//	err = l.Prepare(entries, &b)                                 // commit b as one pebble batch
//	for _, s := range l.Streams(filter) {
//		pos, _ := l.NewPosition(s, filter, since)
//		items, pos, err := l.Next(db, s, filter, pos, 100, layout.ReadBounds{Visible: hwm + 1}, &stats)
//		…
//	}
package layout
