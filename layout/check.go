package layout

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/mqttds/mqttds/lts"
)

// Self-checks of builds with the invariants tag (package internal/invariants): after every
// Prepare, the writes it appended are decoded again and compared with the entries it was given.

// checkPrepared verifies the writes a Prepare appended for entries: every write is a Set under
// prefix; the entries' timestamps strictly increase; the message writes (those for which
// message returns ok) come in entry order, one per entry, each with the entry's timestamp, and
// with an envelope that holds the entry's topic and value.
func checkPrepared(prefix []byte, entries []Entry, writes []Write, message func(w Write) (ts uint64, ok bool, err error)) error {
	for i := 1; i < len(entries); i++ {
		if entries[i].Timestamp <= entries[i-1].Timestamp {
			return fmt.Errorf("layout: prepared entry %d has timestamp %d after %d", i, entries[i].Timestamp, entries[i-1].Timestamp)
		}
	}
	next := 0
	for i, w := range writes {
		if w.Kind != WriteSet || !bytes.HasPrefix(w.Key, prefix) {
			return fmt.Errorf("layout: prepared write %d (kind %d, key %x) is not a set under prefix %x", i, w.Kind, w.Key, prefix)
		}
		ts, ok, err := message(w)
		if err != nil {
			return fmt.Errorf("layout: prepared write %d: %w", i, err)
		}
		if !ok {
			continue
		}
		if next == len(entries) {
			return fmt.Errorf("layout: prepared write %d: more messages than the %d entries", i, len(entries))
		}
		e := &entries[next]
		topic, value, err := decodeEnvelope(w.Value)
		switch {
		case err != nil:
			return fmt.Errorf("layout: prepared write %d: %w", i, err)
		case ts != e.Timestamp:
			return fmt.Errorf("layout: prepared write %d: key timestamp %d, entry %d has %d", i, ts, next, e.Timestamp)
		case string(topic) != e.Topic || !bytes.Equal(value, e.Value):
			return fmt.Errorf("layout: prepared write %d: envelope (%q, %x) is not entry %d's", i, topic, value, next)
		}
		next++
	}
	if next != len(entries) {
		return fmt.Errorf("layout: prepare wrote %d messages for %d entries", next, len(entries))
	}
	return nil
}

// checkPrepared is the reference layout's self-check: every key is prefix | timestamp.
func (l *reference) checkPrepared(entries []Entry, writes []Write) error {
	return checkPrepared(l.prefix, entries, writes, func(wr Write) (uint64, bool, error) {
		key := wr.Key
		if len(key) != len(l.prefix)+8 {
			return 0, false, fmt.Errorf("reference key %x of %d bytes", key, len(key))
		}
		return binary.BigEndian.Uint64(key[len(l.prefix):]), true, nil
	})
}

// checkPrepared is the wildcard layout's self-check: trie writes decode as ops, and each
// message key holds its topic's static index (as the trie knows it now), its timestamp and the
// hashes of its varying levels.
func (w *wildcard) checkPrepared(entries []Entry, writes []Write) error {
	prefix := w.dataPrefix[:len(w.dataPrefix)-1]
	next := 0
	var levels, varying []string
	vec := make([]uint64, dimHash+MaxVarying)
	return checkPrepared(prefix, entries, writes, func(wr Write) (uint64, bool, error) {
		key := wr.Key
		if hasPrefix(key, w.triePrefix) {
			if _, err := lts.DecodeOp(key[len(w.triePrefix):], wr.Value); err != nil {
				return 0, false, err
			}
			return 0, false, nil
		}
		if !hasPrefix(key, w.dataPrefix) || next >= len(entries) {
			return 0, false, fmt.Errorf("key %x is neither a trie op nor one of the %d messages", key, len(entries))
		}
		e := &entries[next]
		next++
		levels = splitTopic(levels[:0], e.Topic)
		idx, v, ok := w.trie.LookupAppend(levels, varying[:0])
		varying = v
		if !ok {
			return 0, false, fmt.Errorf("topic %q not in the trie after Prepare", e.Topic)
		}
		m := w.maps[len(varying)]
		k := key[len(w.dataPrefix):]
		if len(k) != m.Len() {
			return 0, false, fmt.Errorf("message key %x of %d bytes, want %d for %d varying levels", key, len(k), m.Len(), len(varying))
		}
		m.Decode(k, vec)
		if vec[dimIndex] != uint64(idx) {
			return 0, false, fmt.Errorf("message key %x: index %d, topic %q has %d", key, vec[dimIndex], e.Topic, idx)
		}
		for j, lv := range varying {
			if vec[dimHash+j] != w.hashLevel(lv) {
				return 0, false, fmt.Errorf("message key %x: hash of varying level %d of %q", key, j, e.Topic)
			}
		}
		return vec[dimTime], true, nil
	})
}
