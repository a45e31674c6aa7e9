package ds

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Batch is an atomic group of writes to one shard: messages and KV table writes that commit
// together or not at all. Every message's publisher must belong to the batch's shard.
//
// A Batch copies what it is given (the caller may reuse its slices). It is not safe for
// concurrent use, and must not be changed while Apply runs.
type Batch struct {
	db    *DB
	shard int
	req   request
	err   error
}

// NewBatch returns an empty batch for shard.
func (d *DB) NewBatch(shard int) *Batch {
	b := &Batch{db: d, shard: shard}
	if err := d.checkShard(shard); err != nil {
		b.err = err
	}
	return b
}

// Shard returns the batch's shard.
func (b *Batch) Shard() int { return b.shard }

// AddMessage adds a message. An invalid message, or one whose publisher belongs to another
// shard, makes Apply fail.
func (b *Batch) AddMessage(m *Message) {
	if b.err != nil {
		return
	}
	if err := m.validate(); err != nil {
		b.err = err
		return
	}
	if s := ShardOf(m.ClientID, b.db.numShards); s != b.shard {
		b.err = fmt.Errorf("%w: publisher %q belongs to shard %d, the batch to %d",
			ErrInvalidShard, m.ClientID, s, b.shard)
		return
	}
	b.req.addMessage(m, b.db.opts.Compression == S2Compression)
}

// Put sets key to value in table t.
func (b *Batch) Put(t *Table, key, value []byte) {
	b.req.kv = append(b.req.kv, kvWrite{
		key: kvKey(b.shard, t.name, key), value: append([]byte(nil), value...),
	})
	b.req.items++
	b.req.bytes += len(key) + len(value)
}

// Delete removes key from table t.
func (b *Batch) Delete(t *Table, key []byte) {
	b.req.kv = append(b.req.kv, kvWrite{key: kvKey(b.shard, t.name, key), delete: true})
	b.req.items++
	b.req.bytes += len(key)
}

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return b.req.items }

func (r *request) addMessage(m *Message, compress bool) {
	if r.entries == nil {
		// Most requests carry one message: its entry lives in the request itself.
		r.entries = r.first[:0]
	}
	// The values of a request share its buffer. A value is never written again once encoded
	// (a buffer that grows moves to a new array), so each entry's slice stays valid.
	start := len(r.buf)
	if r.buf == nil {
		r.buf = appendMessage(nil, m, compress) // exactly sized
	} else {
		r.buf = appendMessage(r.buf, m, compress)
	}
	r.entries = append(r.entries, pendingEntry{topic: m.Topic, value: r.buf[start:len(r.buf):len(r.buf)]})
	r.items++
	r.bytes += len(m.Topic) + len(m.Payload)
}

// requests recycles the requests of Store calls, with their value buffers: without it every
// message costs two allocations (the request and its encoded value) that live for one flush.
var requests = sync.Pool{New: func() any { return new(request) }}

// maxPooledBuf bounds the value buffer a recycled request keeps.
const maxPooledBuf = 64 << 10

func getRequest() *request { return requests.Get().(*request) }

// releaseRequests recycles the requests of a Store call that ds no longer refers to: those
// whose writer received the flush's answer (submitLocal then clears done) and those that
// never reached a write buffer. A request still waiting in a buffer or a flush (its caller's
// context ended, or a later shard refused it) keeps its done channel and is left to the
// garbage collector. Layouts copy values into their own batch while preparing, so nothing
// reads a request's buffer once the request is answered.
func releaseRequests(reqs []*request, wo WriteOptions) {
	if wo.NoWait {
		return // nobody learns when a NoWait request is done
	}
	for _, r := range reqs {
		if r.done != nil {
			continue
		}
		buf := r.buf[:0]
		if cap(buf) > maxPooledBuf {
			buf = nil
		}
		*r = request{buf: buf}
		requests.Put(r)
	}
}

// Apply commits b atomically through the shard's write buffer. Unless wo.NoWait, it returns
// once b is durable, or with the flush's error. If ctx ends first Apply returns ctx.Err(), and
// b may or may not be committed. A batch may be applied once.
//
// Safe for concurrent use.
func (d *DB) Apply(ctx context.Context, b *Batch, wo WriteOptions) error {
	if b.err != nil {
		return b.err
	}
	if b.req.items == 0 {
		return nil
	}
	s, err := d.shard(b.shard)
	if err != nil {
		return err
	}
	return d.submit(ctx, []*shard{s}, []*request{&b.req}, wo)
}

// Submit queues b for commit through its shard's write buffer and returns without waiting for
// it: Pending.Wait does. Batches submitted to a shard one after the other (by one goroutine, or
// under the caller's lock) commit in that order, and their messages get rising timestamps, so
// readers see them in submission order. That is what keeps a publisher's messages in order
// when the caller waits for their durability elsewhere (MQTT's per-publisher ordering).
// A batch may be applied or submitted once.
//
// Safe for concurrent use.
func (d *DB) Submit(b *Batch) (*Pending, error) {
	if b.err != nil {
		return nil, b.err
	}
	p := &Pending{d: d}
	if b.req.items == 0 {
		return p, nil
	}
	s, err := d.shard(b.shard)
	if err != nil {
		return nil, err
	}
	b.req.start = time.Now()
	if f := d.opts.Forwarder; f != nil {
		p.shard, p.orig = b.shard, &b.req
		if !f.Leads(b.shard) {
			// Forwarded in submission order, one request of the shard after the other.
			p.req = &request{start: b.req.start, done: getDone()}
			d.forwardInOrder(b.shard, &b.req, p.req.done)
			return p, nil
		}
	}
	b.req.done = getDone()
	if err := s.enqueue(&b.req); err != nil {
		putDone(b.req.done)
		return nil, err
	}
	p.req = &b.req
	return p, nil
}

// Pending is a submitted batch whose commit may not be durable yet.
type Pending struct {
	d    *DB
	req  *request // nil once the result is in (or for an empty batch)
	err  error
	done bool
	// With a Forwarder: the batch's shard and request, forwarded if this replica turns out
	// not to lead the shard.
	shard int
	orig  *request
}

// Wait returns once the batch is durable, or with the flush's error. If ctx ends first it
// returns ctx.Err(), and the batch may or may not be committed; a later Wait may still learn
// the outcome. Wait is not safe for concurrent use; once it has the result it keeps returning
// it.
func (p *Pending) Wait(ctx context.Context) error {
	if p.done || p.req == nil {
		return p.err
	}
	select {
	case err := <-p.req.done:
		putDone(p.req.done)
		if errors.Is(err, ErrNotLeader) && p.orig != nil {
			err = p.d.opts.Forwarder.Forward(ctx, p.shard, p.orig.marshalForward())
		}
		if err == nil {
			p.d.metrics.storeLatency.record(time.Since(p.req.start))
		}
		p.req, p.err, p.done = nil, err, true
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit enqueues one request per shard and waits for all of them.
func (d *DB) submit(ctx context.Context, shards []*shard, reqs []*request, wo WriteOptions) error {
	f := d.opts.Forwarder
	if f == nil {
		return d.submitLocal(ctx, shards, reqs, wo)
	}
	// A replicated store: requests for shards led elsewhere go to their leader, the others
	// through the local buffer; one that fails here because leadership just moved goes to the
	// new leader.
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(reqs) == 1 && !wo.NoWait {
		return d.storeReplicated(ctx, shards[0], reqs[0]) // the common case: no goroutine
	}
	errs := make(chan error, len(reqs))
	for i, r := range reqs {
		s := shards[i] // the goroutine captures the shard, not the caller's slice (kept off the heap)
		go func() { errs <- d.storeReplicated(ctx, s, r) }()
	}
	if wo.NoWait {
		return nil
	}
	var first error
	for range reqs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// storeReplicated commits r through the local buffer if this replica leads s, else (or if
// leadership moved meanwhile) on the leader, and waits for it.
func (d *DB) storeReplicated(ctx context.Context, s *shard, r *request) error {
	f := d.opts.Forwarder
	if !f.Leads(s.id) {
		return f.Forward(ctx, s.id, r.marshalForward())
	}
	err := d.submitLocal(ctx, []*shard{s}, []*request{r}, WriteOptions{})
	if errors.Is(err, ErrNotLeader) {
		err = f.Forward(ctx, s.id, r.marshalForward())
	}
	return err
}

// submitLocal hands reqs to their shards' write buffers and, unless wo.NoWait, waits for
// them.
func (d *DB) submitLocal(ctx context.Context, shards []*shard, reqs []*request, wo WriteOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	for i, r := range reqs {
		r.start = start
		if !wo.NoWait {
			r.done = getDone()
		}
		if err := shards[i].enqueue(r); err != nil {
			// Earlier requests are queued and will commit; their callers' outcome is what it
			// is, but this call reports the failure.
			return err
		}
	}
	if wo.NoWait {
		return nil
	}
	var first error
	cancel := ctx.Done() // nil for a context that never ends: then a plain receive is cheaper
	for _, r := range reqs {
		var err error
		if cancel == nil {
			err = <-r.done
		} else {
			select {
			case err = <-r.done:
			case <-cancel:
				return ctx.Err()
			}
		}
		putDone(r.done)
		r.done = nil // answered: nothing of ds refers to r any more
		if err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		d.metrics.storeLatency.record(time.Since(start))
	}
	return first
}

// doneChans recycles the channels writers wait on: one per Store call otherwise. A channel goes
// back only after its one result was received, so a recycled channel is always empty; one
// abandoned by a cancelled caller is left to the garbage collector.
var doneChans = sync.Pool{New: func() any { return make(chan error, 1) }}

func getDone() chan error  { return doneChans.Get().(chan error) }
func putDone(c chan error) { doneChans.Put(c) }
