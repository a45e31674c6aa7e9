package ds

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// format1Dir is a store written by ds at format 1 (see its README).
const format1Dir = "testdata/format1"

// copyFormat1 copies the format 1 store into dir of fs and syncs it.
func copyFormat1(t *testing.T, fs vfs.FS, dir string) {
	t.Helper()
	require.NoError(t, fs.MkdirAll(dir, 0o755))
	entries, err := os.ReadDir(format1Dir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() == "README" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(format1Dir, e.Name()))
		require.NoError(t, err)
		f, err := fs.Create(fs.PathJoin(dir, e.Name()), vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
		_, err = f.Write(data)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	d, err := fs.OpenDir(dir)
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	require.NoError(t, d.Close())
}

// checkFormat1Content checks that db holds what the format 1 store was written with.
func checkFormat1Content(t *testing.T, db *DB) {
	t.Helper()
	require.Equal(t, 4, db.NumShards())
	alpha, err := db.Table("alpha")
	require.NoError(t, err)
	beta, err := db.Table("beta")
	require.NoError(t, err)
	for shard := range 4 {
		for i := range 3 {
			v, err := alpha.Get(shard, []byte(fmt.Sprintf("a%d", i)))
			require.NoError(t, err, "alpha shard %d a%d", shard, i)
			require.Equal(t, fmt.Sprintf("alpha %d/%d", shard, i), string(v))
			v, err = beta.Get(shard, []byte(fmt.Sprintf("a%d", i)))
			if i == 1 {
				require.ErrorIs(t, err, ErrNotFound)
				continue
			}
			require.NoError(t, err, "beta shard %d a%d", shard, i)
			require.Equal(t, fmt.Sprintf("beta %d/%d", shard, i), string(v))
		}
		var keys []string
		require.NoError(t, alpha.Scan(shard, []byte("a"), func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		}))
		require.Equal(t, []string{"a0", "a1", "a2"}, keys, "shard %d", shard)
	}
	var payloads []string
	for _, m := range readAll(t, db, "#", 0) {
		payloads = append(payloads, string(m.Payload))
	}
	sort.Strings(payloads)
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("m%d", i))
	}
	sort.Strings(want)
	require.Equal(t, want, payloads)
}

// format1Keys counts the keys of format 1's table catalog and KV keyspace left in db.
func format1Keys(t *testing.T, db *DB) int {
	t.Helper()
	spans := [][]byte{tableNameKeyV1("")}
	for shard := range db.NumShards() {
		spans = append(spans, append(shardPrefix(shard), keyShardKVV1))
	}
	n := 0
	for _, p := range spans {
		it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		require.NoError(t, err)
		for valid := it.First(); valid; valid = it.Next() {
			n++
		}
		require.NoError(t, it.Close())
	}
	return n
}

// TestUpgradeFormat1 opens a store written at format 1, on disk: Open moves its KV values to
// name-keyed tables, deletes the old catalog and records format 2 in pebble and the marker.
// Every value and message is still there, and opening again changes nothing.
func TestUpgradeFormat1(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	copyFormat1(t, vfs.Default, dir)
	v, found, err := readMarker(vfs.Default, dir)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, FormatV1, v)
	for round := range 2 {
		db, err := Open(dir, &Options{Retention: RetentionOptions{Disabled: true}})
		require.NoError(t, err, "round %d", round)
		checkFormat1Content(t, db)
		require.Zero(t, format1Keys(t, db))
		require.NoError(t, db.Close())
		v, _, err := readMarker(vfs.Default, dir)
		require.NoError(t, err)
		require.Equal(t, FormatV2, v)
	}
}

// TestUpgradeSurvivesACrashAtEveryStep cuts the upgrade into one batch per key and crashes the
// file system after each batch in turn, losing part of what was not synced. Opening the
// crashed store finishes the upgrade with nothing lost.
func TestUpgradeSurvivesACrashAtEveryStep(t *testing.T) {
	defer func(n int) { upgradeBatchBytes = n }(upgradeBatchBytes)
	upgradeBatchBytes = 1
	errCrash := errors.New("crash")
	// 4 shards × (3 alpha + 2 beta) values, and the catalog's batch.
	const steps = 4*5 + 1
	for step := 1; step <= steps; step++ {
		fs := vfs.NewCrashableMem()
		copyFormat1(t, fs, "db")
		var crashed *vfs.MemFS
		n := 0
		upgradeStepped = func() error {
			n++
			if n < step {
				return nil
			}
			crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(step), 1))})
			return errCrash
		}
		_, err := Open("db", &Options{FS: fs, Retention: RetentionOptions{Disabled: true}})
		upgradeStepped = nil
		require.ErrorIs(t, err, errCrash, "step %d", step)
		require.NotNil(t, crashed)
		db, err := Open("db", &Options{FS: crashed, Retention: RetentionOptions{Disabled: true}})
		require.NoError(t, err, "step %d", step)
		checkFormat1Content(t, db)
		require.Zero(t, format1Keys(t, db))
		require.NoError(t, db.Close())
	}
}

// TestUpgradeRefusesAnUnnamedTable: a format 1 value of a table number the catalog does not
// name is corruption, reported without touching the store.
func TestUpgradeRefusesAnUnnamedTable(t *testing.T) {
	fs := vfs.NewMem()
	copyFormat1(t, fs, "db")
	p, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietLogger{}})
	require.NoError(t, err)
	require.NoError(t, p.Set(append(kvPrefixV1(2, 7), 'x'), []byte("orphan"), pebble.Sync))
	require.NoError(t, p.Close())
	_, err = Open("db", &Options{FS: fs, Retention: RetentionOptions{Disabled: true}})
	require.ErrorIs(t, err, ErrCorruption)
	require.Contains(t, err.Error(), "table number 7")
	v, _, err := readMarker(fs, "db")
	require.NoError(t, err)
	require.Equal(t, FormatV1, v)
}
