package durable

import (
	"context"
	"sync"

	"github.com/mqttds/mqttds/ds"
)

// readCache lets one storage read serve every session that reads the same stream position
// while its shard has not committed since: subscribers of one filter, woken together by a
// message, read it once. An entry is used only while its shard's commit epoch is the one it was
// read at; Next is deterministic for an iterator, so the answer is then exactly what a new read
// would return. The messages are shared read-only between the sessions.
type readCache struct {
	mu      sync.Mutex
	entries map[string]*cachedRead
	order   []string // insertion order, for eviction
}

// readCacheSize bounds the entries (positions) kept.
const readCacheSize = 512

type cachedRead struct {
	shard int
	epoch uint64
	asked int
	msgs  []ds.StoredMessage
	next  ds.Iterator
}

// next is ds.Next through the cache. epoch is the shard's commit epoch the answer is valid
// for, which the caller records when the stream turns out drained.
func (st *Store) next(ctx context.Context, it ds.Iterator, n int) (msgs []ds.StoredMessage, next ds.Iterator, epoch uint64, err error) {
	shard := it.Rank().Shard
	epoch = st.epochs[shard].Load() // before the read: a later commit moves it
	// Most iterators fit in buf: the lookup of a shared read then allocates nothing.
	var buf [128]byte
	kb, _ := it.AppendBinary(buf[:0])
	if e := st.reads.get(kb, shard, epoch); e != nil {
		switch {
		case n <= len(e.msgs):
			st.stats.readsShared.Add(1)
			return e.msgs[:n], e.msgs[n-1].After, epoch, nil
		case len(e.msgs) < e.asked:
			// The read found fewer than it asked for: that is all there is at this epoch.
			st.stats.readsShared.Add(1)
			return e.msgs, e.next, epoch, nil
		}
	}
	msgs, next, err = st.db.Next(ctx, it, n)
	if err == nil && len(msgs) > 0 {
		st.reads.put(string(kb), &cachedRead{shard: shard, epoch: epoch, asked: n, msgs: msgs, next: next})
	}
	return msgs, next, epoch, err
}

func (c *readCache) get(key []byte, shard int, epoch uint64) *cachedRead {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[string(key)]
	if e == nil || e.shard != shard || e.epoch != epoch {
		return nil
	}
	return e
}

func (c *readCache) put(key string, e *cachedRead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*cachedRead)
	}
	if _, ok := c.entries[key]; !ok {
		c.order = append(c.order, key)
	}
	c.entries[key] = e
	for len(c.order) > readCacheSize {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
}
