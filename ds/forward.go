package ds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNotLeader is wrapped by an Applier's error when this replica does not lead the shard, so
// the batch must be prepared elsewhere. With Options.Forwarder set, ds sends such writes to
// the leader instead of failing them.
var ErrNotLeader = errors.New("ds: this replica does not lead the shard")

// Forwarder sends a shard's writes to the replica that leads it. A replicated store sets it
// (Options.Forwarder) so that Store and Apply work on every replica: the writes travel as
// they are before preparing (topics, encoded messages, KV writes), and the leader prepares
// them with StoreForwarded, in its own order.
type Forwarder interface {
	// Leads reports whether this replica leads shard (a cheap, possibly stale answer: a write
	// prepared here on a replica that just lost leadership fails with ErrNotLeader and is
	// forwarded then).
	Leads(shard int) bool
	// Forward has the leader of shard commit the request encoded in data (see
	// StoreForwarded) and returns once it is durable there, or its error.
	Forward(ctx context.Context, shard int, data []byte) error
}

// ReadBarrier is implemented by a Forwarder whose replica may lag the shard's leader (reads
// are served by the local replica): Barrier returns once this replica has applied every
// write the shard had committed when it was called. See DB.Barrier.
type ReadBarrier interface {
	Barrier(ctx context.Context, shard int) error
}

// Barrier returns once reads of shard on this store see every write acknowledged, on any
// replica, before Barrier was called: a linearizable read point. On a store that is not
// replicated (no Forwarder, or one that is no ReadBarrier) every read already does, and it
// returns at once. It fails when ctx ends first, for instance on a replica cut off from the
// shard's quorum, which cannot know what was committed.
func (d *DB) Barrier(ctx context.Context, shard int) error {
	if _, err := d.shard(shard); err != nil {
		return err
	}
	if rr := d.remote(shard); rr != nil {
		return d.remoteBarrier(ctx, rr, shard)
	}
	rb, ok := d.opts.Forwarder.(ReadBarrier)
	if !ok {
		return ctx.Err()
	}
	return rb.Barrier(ctx, shard)
}

// forwardFormatV1 is the version of an encoded forwarded request:
//
//	0x01 | uvarint n | n × (topic len | topic | value len | value)
//	     | uvarint k | k × (kind 1 B: 1 set, 2 delete | key len | key | value len | value)
const forwardFormatV1 = 1

const (
	fwdSet    = 1
	fwdDelete = 2
)

func (r *request) marshalForward() []byte {
	size := 1 + 2*binary.MaxVarintLen64
	for _, e := range r.entries {
		size += 2*binary.MaxVarintLen64 + len(e.topic) + len(e.value)
	}
	for _, w := range r.kv {
		size += 1 + 2*binary.MaxVarintLen64 + len(w.key) + len(w.value)
	}
	out := make([]byte, 0, size)
	out = append(out, forwardFormatV1)
	out = binary.AppendUvarint(out, uint64(len(r.entries)))
	for _, e := range r.entries {
		out = appendBytes(appendString(out, e.topic), e.value)
	}
	out = binary.AppendUvarint(out, uint64(len(r.kv)))
	for _, w := range r.kv {
		kind := byte(fwdSet)
		if w.delete {
			kind = fwdDelete
		}
		out = appendBytes(appendBytes(append(out, kind), w.key), w.value)
	}
	return out
}

// unmarshalForward decodes a forwarded request for shard, refusing KV keys outside the
// shard's tables and invalid topics: a peer's bytes are checked like a client's.
func unmarshalForward(shard, numShards int, data []byte) (*request, error) {
	d := &decoder{b: data}
	if v := d.byte(); d.err == nil && v != forwardFormatV1 {
		return nil, fmt.Errorf("%w: forwarded request of version %d", ErrFormatVersion, v)
	}
	r := &request{}
	for n := d.uvarint(); n > 0 && d.err == nil; n-- {
		topic, value := d.string(), d.bytes()
		if d.err != nil {
			break
		}
		if err := checkTopicName(topic); err != nil {
			return nil, err
		}
		var m Message
		if err := decodeMessage(value, &m); err != nil {
			return nil, err
		}
		if ShardOf(m.ClientID, numShards) != shard {
			return nil, fmt.Errorf("%w: forwarded message of %q on %q does not belong to shard %d", ErrInvalidMessage, m.ClientID, topic, shard)
		}
		r.entries = append(r.entries, pendingEntry{topic: topic, value: value})
		r.items++
		r.bytes += len(topic) + len(value)
	}
	for n := d.uvarint(); n > 0 && d.err == nil; n-- {
		kind, key, value := d.byte(), d.bytes(), d.bytes()
		if d.err != nil {
			break
		}
		if kind != fwdSet && kind != fwdDelete {
			return nil, corruptf("forwarded write of kind %d", kind)
		}
		if !isKVKey(shard, key) {
			return nil, fmt.Errorf("%w: forwarded key %x outside shard %d's tables", ErrInvalidMessage, key, shard)
		}
		r.kv = append(r.kv, kvWrite{key: key, value: value, delete: kind == fwdDelete})
		r.items++
		r.bytes += len(key) + len(value)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return r, nil
}

// StoreForwarded commits a request another replica forwarded (Forwarder.Forward's data) on
// this replica, which should lead shard: it fails with the Applier's ErrNotLeader error if it
// does not. It returns once the request is durable.
func (d *DB) StoreForwarded(ctx context.Context, shardID int, data []byte) error {
	if err := d.checkOpen(); err != nil {
		return err
	}
	sh, err := d.shard(shardID)
	if err != nil {
		return err
	}
	r, err := unmarshalForward(shardID, d.numShards, data)
	if err != nil {
		return err
	}
	if r.items == 0 {
		return nil
	}
	return d.submitLocal(ctx, []*shard{sh}, []*request{r}, WriteOptions{})
}

// forwardTimeout bounds one forwarded request of Submit, which has no context of its own.
const forwardTimeout = time.Minute

// forwardQueue keeps the order of a shard's submitted requests that go to its leader: one
// goroutine per shard forwards them one after the other while there are any.
type forwardQueue struct {
	mu      sync.Mutex
	items   []forwardItem
	running bool
}

type forwardItem struct {
	r    *request
	done chan error
}

// forwardInOrder forwards r after the shard's earlier submitted requests; done gets the
// result.
func (d *DB) forwardInOrder(shard int, r *request, done chan error) {
	q := &d.forwards[shard]
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, forwardItem{r, done})
	if !q.running {
		q.running = true
		go d.drainForwards(shard, q)
	}
}

func (d *DB) drainForwards(shard int, q *forwardQueue) {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		it := q.items[0]
		q.items[0] = forwardItem{}
		q.items = q.items[1:]
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
		it.done <- d.opts.Forwarder.Forward(ctx, shard, it.r.marshalForward())
		cancel()
	}
}
