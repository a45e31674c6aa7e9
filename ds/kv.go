package ds

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Table is a named key-value table, partitioned by the same shards as the messages. A key lives
// in the shard the caller names (usually ShardOf of the client id it belongs to), so that a
// session's state and the messages it publishes can commit in one atomic Batch.
//
// Writes go through the shard's write buffer (group commit) and are durable when they return.
// A Table is safe for concurrent use.
type Table struct {
	db   *DB
	name string
}

// maxTableName bounds table names: a key holds the name's length in one byte (keys.go).
const maxTableName = 255

// Table returns the table called name. A table exists once a key is written to it: its keys
// carry its name, so every store (and every replica of a shard) reads them as the same table.
func (d *DB) Table(name string) (*Table, error) {
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	if name == "" || len(name) > maxTableName {
		return nil, fmt.Errorf("%w: %q", ErrInvalidTable, name)
	}
	return &Table{db: d, name: name}, nil
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// Get returns a copy of the value of key in shard, or ErrNotFound. It sees every write whose
// Put has returned (and may see one whose Put is still waiting for its fsync).
func (t *Table) Get(shard int, key []byte) ([]byte, error) {
	if err := t.check(shard); err != nil {
		return nil, err
	}
	if rr := t.db.remote(shard); rr != nil {
		return t.remoteGet(rr, shard, key)
	}
	return t.getLocal(shard, key)
}

func (t *Table) getLocal(shard int, key []byte) ([]byte, error) {
	db, err := t.db.rlockStorage()
	if err != nil {
		return nil, err
	}
	defer t.db.storage.RUnlock()
	v, closer, err := db.Get(kvKey(shard, t.name, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Put sets key to value in shard, durably. The caller may reuse key and value when it returns.
func (t *Table) Put(ctx context.Context, shard int, key, value []byte) error {
	b := t.db.NewBatch(shard)
	b.Put(t, key, value)
	return t.db.Apply(ctx, b, Sync)
}

// Delete removes key from shard, durably.
func (t *Table) Delete(ctx context.Context, shard int, key []byte) error {
	b := t.db.NewBatch(shard)
	b.Delete(t, key)
	return t.db.Apply(ctx, b, Sync)
}

// Scan calls fn for every key of shard that starts with prefix, in key order, until fn returns
// an error (which Scan returns). key and value are valid only during the call. fn runs under
// the store's read lock and must not call the DB.
func (t *Table) Scan(shard int, prefix []byte, fn func(key, value []byte) error) error {
	if err := t.check(shard); err != nil {
		return err
	}
	if rr := t.db.remote(shard); rr != nil {
		return t.remoteScan(rr, shard, prefix, fn)
	}
	return t.scanLocal(shard, prefix, fn)
}

func (t *Table) scanLocal(shard int, prefix []byte, fn func(key, value []byte) error) error {
	lower := kvKey(shard, t.name, prefix)
	db, err := t.db.rlockStorage()
	if err != nil {
		return err
	}
	defer t.db.storage.RUnlock()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	skip := len(kvPrefix(shard, t.name))
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key()[skip:], v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func (t *Table) check(shard int) error {
	if err := t.db.checkOpen(); err != nil {
		return err
	}
	return t.db.checkShard(shard)
}
