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
	if err := b.Set(formatKey, binary.AppendUvarint(append([]byte(nil), formatMagic...), uint64(FormatNewest)), nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// syncMarker rewrites the format marker when it is older than the format inside pebble: Open
// crashed between recording an upgrade in pebble and in the marker.
func (d *DB) syncMarker() error {
	v, _, err := readMarker(d.opts.FS, d.dir)
	if err != nil {
		return err
	}
	if v >= FormatNewest {
		return nil
	}
	return writeMarker(d.opts.FS, d.dir, FormatNewest)
}

// upgradeTablesV1 moves format 1's KV values, keyed by a table number from the store's
// catalog, to keys that carry the table's name, and then deletes the catalog.
func (d *DB) upgradeTablesV1() error {
	names, err := d.tableCatalogV1()
	if err != nil {
		return err
	}
	b := d.pebble.NewBatch()
	defer func() { b.Close() }()
	flush := func(final bool) error {
		if b.Len() < upgradeBatchBytes && !final {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		b.Close()
		b = d.pebble.NewBatch()
		if upgradeStepped != nil {
			return upgradeStepped()
		}
		return nil
	}
	for shard := range d.numShards {
		prefix := append(shardPrefix(shard), keyShardKVV1)
		it, err := d.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		for valid := it.First(); valid; valid = it.Next() {
			old := it.Key()
			if len(old) < len(prefix)+2 {
				it.Close()
				return corruptf("format 1 KV key %x without a table number", old)
			}
			id := binary.BigEndian.Uint16(old[len(prefix):])
			name, ok := names[id]
			if !ok {
				it.Close()
				return corruptf("format 1 KV key %x of table number %d, which the catalog does not name", old, id)
			}
			value, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return err
			}
			if err := b.Set(kvKey(shard, name, old[len(prefix)+2:]), value, nil); err != nil {
				it.Close()
				return err
			}
			if err := b.Delete(old, nil); err != nil {
				it.Close()
				return err
			}
			if err := flush(false); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	// The catalog goes last: until then a crash leaves it for the next attempt.
	for _, name := range names {
		if err := b.Delete(tableNameKeyV1(name), nil); err != nil {
			return err
		}
	}
	return flush(true)
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
