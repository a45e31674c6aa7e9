package layout

import (
	"sort"
	"sync"
)

// recent is an in-memory, time-ordered index of the latest messages of each wildcard stream
// (the last two epochs a stream wrote to). It makes time-mode reads of the open epoch cost one
// seek per message returned instead of a walk over every hash group of the epoch (see read.go).
//
// It is an accelerator, never the source of truth: an entry only names a key, which the reader
// looks up in pebble like any other (a message whose batch was dropped is simply not found),
// and a read the index does not cover falls back to the walk. Entries are added by Prepare and
// by Apply, in timestamp order, so from a stream's first entry on, every message of the stream
// is indexed. Before that only a generation that is new in this process (Create) is known to be
// empty; one restored by Open starts uncovered.
//
// Concurrency: add is called by the writer; lookup by any reader. Entries are immutable once
// appended and eviction re-slices, so a reader keeps a consistent view without copying.
type recent struct {
	mu struct {
		sync.RWMutex
		streams map[uint64]*recentStream
	}
	// fresh reports that the generation was created in this process: a stream without
	// entries has no messages at all.
	fresh bool
	// keep is the number of epochs kept per stream (the open one and the one before it).
	keep  uint64
	epoch func(uint64) uint64
	start func(uint64) uint64
}

type recentStream struct {
	// cover is a timestamp from which on every message of the stream is in entries.
	cover   uint64
	entries []recentEntry // strictly increasing ts; wildcard streams only
	// latest is the largest timestamp of the stream that was prepared or applied.
	latest uint64
	seen   bool // latest is set
}

type recentEntry struct {
	ts  uint64
	key []byte // message key without the layout prefix
}

func newRecent(fresh bool, epoch, start func(uint64) uint64) *recent {
	r := &recent{fresh: fresh, keep: 2, epoch: epoch, start: start}
	r.mu.streams = map[uint64]*recentStream{}
	return r
}

// recentAdd is one message for add.
type recentAdd struct {
	idx, ts uint64
	key     []byte
	index   bool
}

// addAll adds the messages of one batch under one lock.
func (r *recent) addAll(adds []recentAdd) {
	if len(adds) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range adds {
		a := &adds[i]
		r.addLocked(a.idx, a.ts, a.key, a.index)
	}
}

// add records the message of stream idx with timestamp ts and, for a stream with varying
// levels (index), indexes its key (retained). A timestamp at or below the stream's last one is
// a batch seen twice (Apply of one's own batch) and is ignored.
func (r *recent) add(idx, ts uint64, key []byte, index bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(idx, ts, key, index)
}

func (r *recent) addLocked(idx, ts uint64, key []byte, index bool) {
	s := r.mu.streams[idx]
	if s == nil {
		s = &recentStream{cover: ts}
		if r.fresh {
			s.cover = 0
		}
		r.mu.streams[idx] = s
	}
	if s.seen && ts <= s.latest {
		return
	}
	s.latest, s.seen = ts, true
	if !index {
		return
	}
	s.entries = append(s.entries, recentEntry{ts: ts, key: key})
	// Forget the epochs before the last `keep`, and the oldest half past maxRecentPerStream:
	// readers of those are in key mode (complete epochs) or fall back to the walk.
	if e := r.epoch(ts); e >= r.keep {
		oldest := r.start(e - r.keep + 1)
		if s.entries[0].ts < oldest {
			i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].ts >= oldest })
			s.entries = s.entries[i:]
			s.cover = max(s.cover, oldest)
		}
	}
	if len(s.entries) > maxRecentPerStream {
		// A new array (readers may hold the old one), with room up to the bound so that the
		// appends until the next halving do not grow it again.
		kept := s.entries[len(s.entries)/2:]
		s.entries = append(make([]recentEntry, 0, maxRecentPerStream+1), kept...)
		s.cover = max(s.cover, s.entries[0].ts)
	}
}

// maxRecentPerStream bounds the memory of one stream's recent entries (about 50 bytes each):
// with one epoch per generation (EpochBits 64) nothing would ever age out.
const maxRecentPerStream = 4096

// idleSince reports that stream idx is known to hold no message with a timestamp >= ts.
func (r *recent) idleSince(idx, ts uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.mu.streams[idx]
	if s == nil {
		return r.fresh
	}
	return s.latest < ts
}

// lookup returns the indexed messages of stream idx with timestamps in [from, last], in
// timestamp order, and whether the index covers that range (every such message is listed).
// The result must not be modified.
func (r *recent) lookup(idx, from, last uint64) ([]recentEntry, bool) {
	r.mu.RLock()
	s := r.mu.streams[idx]
	var entries []recentEntry
	cover := uint64(0)
	if s != nil {
		entries, cover = s.entries, s.cover
	}
	r.mu.RUnlock()
	if s == nil {
		return nil, r.fresh
	}
	if from < cover {
		return nil, false
	}
	i := sort.Search(len(entries), func(i int) bool { return entries[i].ts >= from })
	j := sort.Search(len(entries), func(i int) bool { return entries[i].ts > last })
	if j < i {
		j = i
	}
	return entries[i:j], true
}
