package ds

import (
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"
)

// Upgrades. Open rewrites a store of an older format in place before it loads the shards, and
// only then records the new version (in pebble, then in the marker). Each step is a pebble
// batch that moves keys to their new form and deletes the old ones atomically, so a crash
// part-way leaves a store of the old version that the next Open upgrades again from where it
// stopped.

// upgradeBatchBytes bounds the size of one upgrade batch. Tests lower it to cut an upgrade
// into many steps.
var upgradeBatchBytes = 4 << 20

// upgradeStepped, when set (by tests), is called after each committed upgrade batch; an error
// stops the upgrade there, as a crash would.
var upgradeStepped func() error

// upgrade brings the store from format from to FormatNewest.
func (d *DB) upgrade(from FormatVersion) error {
	if from == FormatV1 {
		if err := d.upgradeTablesV1(); err != nil {
			return err
		}
	}
	b := d.pebble.NewBatch()
	defer b.Close()
	if err := b.Set(formatKey, formatRecord(), nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// upgradeBatch is the batch an upgrade step fills: commit makes a step of it once it is large
// enough (or, with final, whatever it holds).
type upgradeBatch struct {
	db *pebble.DB
	b  *pebble.Batch
}

func (u *upgradeBatch) commit(final bool) error {
	if u.b.Len() < upgradeBatchBytes && !final {
		return nil
	}
	if err := u.b.Commit(pebble.NoSync); err != nil {
		return err
	}
	u.b.Close()
	u.b = u.db.NewBatch()
	if upgradeStepped != nil {
		return upgradeStepped()
	}
	return nil
}

// upgradeTablesV1 moves format 1's KV values, keyed by a table number from the store's
// catalog, to keys that carry the table's name, and then deletes the catalog.
func (d *DB) upgradeTablesV1() error {
	names, err := d.tableCatalogV1()
	if err != nil {
		return err
	}
	u := &upgradeBatch{db: d.pebble, b: d.pebble.NewBatch()}
	defer func() { u.b.Close() }()
	for shard := range d.numShards {
		if err := d.upgradeShardTablesV1(shard, names, u); err != nil {
			return err
		}
	}
	// The catalog goes last: until then a crash leaves it for the next attempt.
	for _, name := range names {
		if err := u.b.Delete(tableNameKeyV1(name), nil); err != nil {
			return err
		}
	}
	return u.commit(true)
}

// upgradeShardTablesV1 moves shard's format 1 KV values through u.
func (d *DB) upgradeShardTablesV1(shard int, names map[uint16]string, u *upgradeBatch) error {
	prefix := append(shardPrefix(shard), keyShardKVV1)
	it, err := d.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		old := it.Key()
		if len(old) < len(prefix)+2 {
			return corruptf("format 1 KV key %x without a table number", old)
		}
		id := binary.BigEndian.Uint16(old[len(prefix):])
		name, ok := names[id]
		if !ok {
			return corruptf("format 1 KV key %x of table number %d, which the catalog does not name", old, id)
		}
		value, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := u.b.Set(kvKey(shard, name, old[len(prefix)+2:]), value, nil); err != nil {
			return err
		}
		if err := u.b.Delete(old, nil); err != nil {
			return err
		}
		if err := u.commit(false); err != nil {
			return err
		}
	}
	return it.Error()
}

// tableCatalogV1 reads format 1's table catalog: table number to name.
func (d *DB) tableCatalogV1() (map[uint16]string, error) {
	prefix := tableNameKeyV1("")
	it, err := d.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	names := map[uint16]string{}
	for valid := it.First(); valid; valid = it.Next() {
		name := string(it.Key()[len(prefix):])
		if len(it.Value()) != 2 || name == "" || len(name) > maxTableName {
			it.Close()
			return nil, corruptf("format 1 table %q with an id of %d bytes", name, len(it.Value()))
		}
		id := binary.BigEndian.Uint16(it.Value())
		if other, ok := names[id]; ok {
			it.Close()
			return nil, corruptf("format 1 tables %q and %q share number %d", other, name, id)
		}
		names[id] = name
	}
	return names, it.Close()
}
