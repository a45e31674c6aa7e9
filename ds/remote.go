package ds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// RemoteReader is implemented by a Forwarder whose store holds a replica of only some shards
// (a cluster whose replication factor is below its number of sites): the reads of a shard it
// does not hold travel to a replica that does, which answers them with ServeRead. GetStreams,
// MakeIterator, UpdateIterator, Next, Table.Get, Table.Scan, Barrier, Watch and WatchMessages
// all work on such a shard; ListGenerations and Check see only what this store holds.
type RemoteReader interface {
	// Holds reports whether this store's replica of shard serves reads of it. A store without
	// a replica, or with one that has not received the shard's state yet, does not.
	Holds(shard int) bool
	// Read has a replica that holds shard answer req (ServeRead's input) and returns the
	// answer ServeRead gave there. It fails only when no replica could be asked.
	Read(ctx context.Context, shard int, req []byte) ([]byte, error)
}

// remoteTimeout bounds a read that has no context of its own (Table.Get, Table.Scan,
// GetStreams, MakeIterator, UpdateIterator).
const remoteTimeout = 10 * time.Second

// remoteWait is how long a served wait for a commit lasts before it answers "nothing": the
// watch poller then asks again. It bounds what a lost answer costs.
const remoteWait = 5 * time.Second

// maxRemoteScan bounds the bytes of one Table.Scan answer.
const maxRemoteScan = 32 << 20

// remote returns the reader that serves shard's reads when this store does not hold it,
// or nil when reads are local.
func (d *DB) remote(shard int) RemoteReader {
	rr, ok := d.opts.Forwarder.(RemoteReader)
	if !ok || rr.Holds(shard) {
		return nil
	}
	return rr
}

// A remote read request, format version 1 (integers uvarints, strings and byte strings
// uvarint length + bytes):
//
//	| 0x01 | kind | kind's fields |
//
//	streams   filter, since
//	iterator  stream (Stream.MarshalBinary), filter, since
//	update    iterator (Iterator.MarshalBinary), key
//	next      iterator, n
//	get       table name, key
//	scan      table name, prefix
//	barrier   -
//	wait      all (1 byte: 1 any commit, 0 message commits only), visible, commits
//
// The answer: | status | fields |. Status 0 is success with the kind's fields, any other is
// an error: the index+1 of its sentinel in remoteErrors (0xff: none) and its message.
//
//	streams   count, count × stream
//	iterator  iterator
//	update    iterator
//	next      count, count × (key, position after, topic, timestamp, message), position
//	get       value
//	scan      count, count × (key, value)
//	barrier   -
//	wait      visible, commits
const remoteFormatV1 = 1

const (
	readStreams = iota + 1
	readIterator
	readUpdate
	readNext
	readGet
	readScan
	readBarrier
	readWait
)

// remoteErrors are the errors a remote read answer can carry as themselves, so that
// errors.Is works across sites as it does locally.
var remoteErrors = []error{
	ErrEndOfStream, ErrNotFound, ErrGenerationNotFound, ErrBadIterator, ErrInvalidTable,
	ErrInvalidShard, ErrInvalidTopic, ErrClosed, ErrCorruption, context.DeadlineExceeded,
	context.Canceled,
}

const remoteOtherError = 0xff

// remoteError is an error a serving replica answered.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return "ds: remote read: " + e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func appendRemoteError(b []byte, err error) []byte {
	status := byte(remoteOtherError)
	for i, s := range remoteErrors {
		if errors.Is(err, s) {
			status = byte(i + 1)
			break
		}
	}
	return appendString(append(b, status), err.Error())
}

// ServeRead answers req, a remote read another replica's RemoteReader sent, from this store's
// replica of shard. Errors of the read travel in the answer; ServeRead itself fails only for a
// request it cannot decode. The caller (the replication layer) decides whether this replica
// may serve: it should hold shard and, for fresh answers, lead it.
func (d *DB) ServeRead(ctx context.Context, shard int, req []byte) ([]byte, error) {
	if err := d.checkShard(shard); err != nil {
		return nil, err
	}
	dec := &decoder{b: req}
	if v := dec.byte(); dec.err == nil && v != remoteFormatV1 {
		return nil, fmt.Errorf("%w: remote read of version %d", ErrFormatVersion, v)
	}
	kind := dec.byte()
	if dec.err != nil {
		return nil, dec.done()
	}
	d.metrics.servedReads.Add(1)
	out := []byte{0}
	var err error
	switch kind {
	case readStreams:
		filter, since := dec.string(), dec.uvarint()
		if err = dec.done(); err != nil {
			return nil, err
		}
		var streams []RankedStream
		if streams, err = d.localStreams(shard, filter, since); err == nil {
			out = binary.AppendUvarint(out, uint64(len(streams)))
			for _, rs := range streams {
				b, _ := rs.Stream.MarshalBinary()
				out = appendBytes(out, b)
			}
		}
	case readIterator:
		var s Stream
		sb, filter, since := dec.bytes(), dec.string(), dec.uvarint()
		if err = dec.done(); err != nil {
			return nil, err
		}
		var it Iterator
		if err = s.UnmarshalBinary(sb); err == nil {
			err = checkRank(s.rank, shard)
		}
		if err == nil {
			it, err = d.makeLocalIterator(s, filter, since)
		}
		out = appendIterator(out, it, err)
	case readUpdate:
		ib, key := dec.bytes(), dec.bytes()
		if err = dec.done(); err != nil {
			return nil, err
		}
		var it Iterator
		if it, err = shardIterator(ib, shard); err == nil {
			it, err = d.updateLocalIterator(it, key)
		}
		out = appendIterator(out, it, err)
	case readNext:
		ib, n := dec.bytes(), dec.uvarint()
		if err = dec.done(); err != nil {
			return nil, err
		}
		var it Iterator
		it, err = shardIterator(ib, shard)
		var msgs []StoredMessage
		if err == nil {
			msgs, it, err = d.nextLocal(ctx, it, int(min(n, 1<<16)))
		}
		if err == nil {
			out = binary.AppendUvarint(out, uint64(len(msgs)))
			for i := range msgs {
				m := &msgs[i]
				out = appendBytes(out, m.Key)
				out = appendBytes(out, m.After.pos)
				out = appendString(out, m.Topic)
				out = binary.AppendUvarint(out, m.Timestamp)
				out = appendBytes(out, appendMessage(nil, &m.Message, false))
			}
			out = appendBytes(out, it.pos)
		}
	case readGet, readScan:
		name, key := dec.string(), dec.bytes()
		if err = dec.done(); err != nil {
			return nil, err
		}
		var t *Table
		if t, err = d.Table(name); err != nil {
			break
		}
		if kind == readGet {
			var v []byte
			if v, err = t.getLocal(shard, key); err == nil {
				out = appendBytes(out, v)
			}
			break
		}
		var pairs []byte
		count, size := 0, 0
		err = t.scanLocal(shard, key, func(k, v []byte) error {
			if size += len(k) + len(v); size > maxRemoteScan {
				return fmt.Errorf("ds: scan of %s in shard %d holds over %d bytes: too large to read remotely", name, shard, maxRemoteScan)
			}
			count++
			pairs = appendBytes(appendBytes(pairs, k), v)
			return nil
		})
		if err == nil {
			out = append(binary.AppendUvarint(out, uint64(count)), pairs...)
		}
	case readBarrier:
		if err = dec.done(); err != nil {
			return nil, err
		}
		err = d.Barrier(ctx, shard)
	case readWait:
		all, visible, commits := dec.byte(), dec.uvarint(), dec.uvarint()
		if err = dec.done(); err != nil {
			return nil, err
		}
		visible, commits, err = d.waitCommit(ctx, shard, all == 1, visible, commits)
		if err == nil {
			out = binary.AppendUvarint(binary.AppendUvarint(out, visible), commits)
		}
	default:
		return nil, corruptf("remote read of kind %d", kind)
	}
	if err != nil {
		return appendRemoteError(nil, err), nil
	}
	return out, nil
}

// shardIterator decodes an iterator a request names, which must be of shard.
func shardIterator(b []byte, shard int) (Iterator, error) {
	var it Iterator
	if err := it.UnmarshalBinary(b); err != nil {
		return Iterator{}, err
	}
	return it, checkRank(it.rank, shard)
}

// appendIterator appends an answer's iterator, unless the read failed (err).
func appendIterator(out []byte, it Iterator, err error) []byte {
	if err != nil {
		return out
	}
	ib, _ := it.MarshalBinary()
	return appendBytes(out, ib)
}

func checkRank(r Rank, shard int) error {
	if r.Shard != shard {
		return fmt.Errorf("%w: of shard %d, asked of shard %d", ErrBadIterator, r.Shard, shard)
	}
	return nil
}

// waitCommit returns the shard's commit marks once they differ from the ones given (the visible
// timestamp when !all, either mark when all), or as they are after remoteWait.
func (d *DB) waitCommit(ctx context.Context, shard int, all bool, visible, commits uint64) (uint64, uint64, error) {
	s, err := d.shard(shard)
	if err != nil {
		return 0, 0, err
	}
	// The watcher first: a commit after the marks are read signals it.
	w, err := d.watch(shard, !all)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	changed := func() (uint64, uint64, bool) {
		v, c := s.commitMarks()
		return v, c, v != visible || (all && c != commits)
	}
	if v, c, ok := changed(); ok {
		return v, c, nil
	}
	timer := time.NewTimer(remoteWait)
	defer timer.Stop()
	select {
	case <-w.C:
	case <-timer.C:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	v, c, _ := changed()
	return v, c, nil
}

// remoteCall sends one request of kind for shard and returns a decoder over the answer's
// fields, or the error the answer carried.
func (d *DB) remoteCall(ctx context.Context, rr RemoteReader, shard int, req []byte) (*decoder, error) {
	d.metrics.remoteReads.Add(1)
	ans, err := rr.Read(ctx, shard, req)
	if err != nil {
		return nil, err
	}
	dec := &decoder{b: ans}
	if status := dec.byte(); dec.err == nil && status != 0 {
		e := &remoteError{msg: dec.string()}
		if int(status) <= len(remoteErrors) {
			e.sentinel = remoteErrors[status-1]
		}
		if err := dec.done(); err != nil {
			return nil, fmt.Errorf("ds: remote read of shard %d: bad error answer: %w", shard, err)
		}
		if e.sentinel != nil && e.msg == e.sentinel.Error() {
			return nil, e.sentinel // as bare as the local read returns it
		}
		return nil, e
	}
	return dec, dec.err
}

func remoteRequest(kind byte) []byte { return []byte{remoteFormatV1, kind} }

func (d *DB) remoteStreams(rr RemoteReader, shard int, filter string, since uint64) ([]RankedStream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	req := binary.AppendUvarint(appendString(remoteRequest(readStreams), filter), since)
	dec, err := d.remoteCall(ctx, rr, shard, req)
	if err != nil {
		return nil, err
	}
	var out []RankedStream
	for n := dec.uvarint(); n > 0 && dec.err == nil; n-- {
		var s Stream
		if err := s.UnmarshalBinary(dec.bytes()); err != nil {
			return nil, err
		}
		if err := checkRank(s.rank, shard); err != nil {
			return nil, err
		}
		out = append(out, RankedStream{Rank: s.rank, Stream: s})
	}
	return out, remoteDone(dec, shard)
}

func remoteDone(dec *decoder, shard int) error {
	if err := dec.done(); err != nil {
		return fmt.Errorf("ds: remote read of shard %d: bad answer: %w", shard, err)
	}
	return nil
}

// remoteIterator sends req (which answers an iterator) and decodes the iterator.
func (d *DB) remoteIterator(rr RemoteReader, shard int, req []byte) (Iterator, error) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	dec, err := d.remoteCall(ctx, rr, shard, req)
	if err != nil {
		return Iterator{}, err
	}
	var it Iterator
	if err := it.UnmarshalBinary(dec.raw()); err != nil {
		return Iterator{}, err
	}
	return it, remoteDone(dec, shard)
}

func (d *DB) remoteNext(ctx context.Context, rr RemoteReader, it Iterator, n int) ([]StoredMessage, Iterator, error) {
	ib, _ := it.MarshalBinary()
	req := binary.AppendUvarint(appendBytes(remoteRequest(readNext), ib), uint64(n))
	dec, err := d.remoteCall(ctx, rr, it.rank.Shard, req)
	if err != nil {
		return nil, it, err
	}
	count := dec.uvarint()
	if count > uint64(n) {
		return nil, it, fmt.Errorf("ds: remote read of shard %d: %d messages for %d asked", it.rank.Shard, count, n)
	}
	out := make([]StoredMessage, 0, count)
	for ; count > 0 && dec.err == nil; count-- {
		var m StoredMessage
		m.Key = dec.bytes()
		m.After = it
		m.After.pos = dec.bytes()
		m.Topic = dec.string()
		m.Timestamp = dec.uvarint()
		value := dec.raw()
		if dec.err != nil {
			break
		}
		if err := decodeMessage(value, &m.Message); err != nil {
			return nil, it, fmt.Errorf("ds: remote read of shard %d: %w", it.rank.Shard, err)
		}
		out = append(out, m)
	}
	pos := dec.bytes()
	if err := remoteDone(dec, it.rank.Shard); err != nil {
		return nil, it, err
	}
	it.pos = pos
	return out, it, nil
}

func (t *Table) remoteGet(rr RemoteReader, shard int, key []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	req := appendBytes(appendString(remoteRequest(readGet), t.name), key)
	dec, err := t.db.remoteCall(ctx, rr, shard, req)
	if err != nil {
		return nil, err
	}
	v := dec.bytes()
	return v, remoteDone(dec, shard)
}

func (t *Table) remoteScan(rr RemoteReader, shard int, prefix []byte, fn func(key, value []byte) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	req := appendBytes(appendString(remoteRequest(readScan), t.name), prefix)
	dec, err := t.db.remoteCall(ctx, rr, shard, req)
	if err != nil {
		return err
	}
	type pair struct{ k, v []byte }
	var pairs []pair
	for n := dec.uvarint(); n > 0 && dec.err == nil; n-- {
		pairs = append(pairs, pair{dec.raw(), dec.raw()})
	}
	if err := remoteDone(dec, shard); err != nil {
		return err
	}
	for _, p := range pairs {
		if err := fn(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

func (d *DB) remoteBarrier(ctx context.Context, rr RemoteReader, shard int) error {
	dec, err := d.remoteCall(ctx, rr, shard, remoteRequest(readBarrier))
	if err != nil {
		return err
	}
	return remoteDone(dec, shard)
}

// pollRemote runs while shard has watchers and keeps them signalled with the commits of a
// replica that holds it, for as long as this store does not: it asks that replica to wait for
// a commit (ServeRead's wait) and signals the watchers when one came. Started by watch; ends
// when the last watcher closes or the store closes.
func (s *shard) pollRemote(rr RemoteReader) {
	d := s.db
	// Marks no replica has: the first question is answered at once.
	const unknown = ^uint64(0)
	visible, commits := uint64(unknown), uint64(unknown)
	first := true
	backoff := time.Duration(0)
	for {
		s.watchers.Lock()
		if len(s.watchers.set) == 0 || d.closed.Load() {
			s.watchers.polling = false
			s.watchers.Unlock()
			return
		}
		all := s.watchers.plain > 0
		s.watchers.Unlock()
		if backoff > 0 || rr.Holds(s.id) {
			// Local commits signal the watchers while this store holds the shard; check again
			// in a while whether it still does.
			select {
			case <-time.After(max(backoff, 200*time.Millisecond)):
			case <-d.life.Done():
			}
			backoff, first = 0, true
			visible, commits = unknown, unknown
			continue
		}
		allByte := byte(0)
		if all {
			allByte = 1
		}
		req := binary.AppendUvarint(binary.AppendUvarint(append(remoteRequest(readWait), allByte), visible), commits)
		ctx, cancel := context.WithTimeout(d.life, remoteWait+remoteTimeout)
		dec, err := d.remoteCall(ctx, rr, s.id, req)
		cancel()
		var v, c uint64
		if err == nil {
			v, c = dec.uvarint(), dec.uvarint()
			err = remoteDone(dec, s.id)
		}
		if err != nil {
			backoff = 500 * time.Millisecond
			continue
		}
		// The first answer signals everyone: a commit may have landed between a watcher's
		// creation and the first question.
		s.signal(first || c != commits, first || v != visible)
		first = false
		visible, commits = v, c
	}
}

// signal wakes the plain watchers (plain) and the messages-only ones (messages) without
// blocking.
func (s *shard) signal(plain, messages bool) {
	s.watchers.Lock()
	defer s.watchers.Unlock()
	for w := range s.watchers.set {
		if (w.messagesOnly && messages) || (!w.messagesOnly && plain) {
			select {
			case w.c <- struct{}{}:
			default:
			}
		}
	}
}

// commitMarks returns the visible timestamp and the number of commits signalled so far.
func (s *shard) commitMarks() (visible, commits uint64) {
	s.watchers.Lock()
	defer s.watchers.Unlock()
	return s.visible.Load(), s.watchers.commits
}
