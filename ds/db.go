package ds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mqttds/mqttds/layout"
)

// DB is an open store: one pebble instance in one directory, holding the "messages" database
// (message streams in shards and generations) and the KV tables. All methods are safe for
// concurrent use unless their comment says otherwise.
type DB struct {
	opts      Options
	dir       string
	lock      io.Closer
	pebble    *pebble.DB
	applier   Applier
	numShards int
	shards    []*shard

	metrics   metrics
	retention retention
	forwards  []forwardQueue // by shard, with Options.Forwarder
	closed    atomic.Bool
	// life ends with Close: background work that waits (remote watch polls) stops with it.
	life    context.Context
	endLife context.CancelFunc

	// storage guards pebble and applier against being swapped by recoverStorage.
	// Use: every use of pebble holds it for reading (rlockStorage); recovery for writing.
	// Invariant: pebble is nil only after a failed recovery, until the next one succeeds.
	storage sync.RWMutex
	// broken is set when a commit failed: the next flush recovers the storage first.
	broken atomic.Bool
}

// Open opens the store in dir, creating it if dir is missing or empty. opts may be nil.
//
// Open fails with ErrNotStore for a directory that holds other files, ErrFormatVersion for a
// store of a newer format, ErrLocked when the store is open elsewhere, ErrOptionsMismatch when
// opts.NumShards contradicts the store, and an error wrapping ErrCorruption for damaged
// metadata. It writes nothing in those cases.
func Open(dir string, opts *Options) (*DB, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Layout.EnsureDefaults()
	if err := o.Layout.Validate(); err != nil {
		return nil, err
	}
	d := &DB{opts: o, dir: dir}
	d.life, d.endLife = context.WithCancel(context.Background())
	if err := d.open(); err != nil {
		d.endLife()
		d.closeStorage()
		return nil, err
	}
	for _, s := range d.shards {
		go s.runFlusher()
		go s.runCompleter()
	}
	d.startRetention()
	return d, nil
}

// open does Open's I/O: directory checks, lock, pebble, metadata, shards.
func (d *DB) open() error {
	fs := d.opts.FS
	// 1. Refuse foreign and newer directories before writing anything.
	if _, _, err := checkDir(fs, d.dir); err != nil {
		return err
	}
	// 2. Lock, then look again: another process may have created the store meanwhile.
	lock, err := lockDir(fs, d.dir)
	if err != nil {
		return err
	}
	d.lock = lock
	marker, fresh, err := checkDir(fs, d.dir)
	if err != nil {
		return err
	}
	if fresh {
		if err := writeMarker(fs, d.dir, FormatNewest); err != nil {
			return fmt.Errorf("ds: creating %s: %w", d.dir, err)
		}
	}
	// 3. Pebble, and the format record and catalog inside it.
	db, err := pebble.Open(d.dir, pebbleOptions(d.opts.Pebble, fs))
	if err != nil {
		return fmt.Errorf("ds: opening pebble in %s: %w", d.dir, err)
	}
	d.pebble = db
	format, err := d.loadCatalog()
	if err != nil {
		return err
	}
	if format < FormatNewest {
		if err := d.upgrade(format); err != nil {
			return fmt.Errorf("ds: upgrading %s from format %d: %w", d.dir, format, err)
		}
	}
	// The marker follows pebble's record: older after an upgrade, or after a crash between
	// the two.
	if !fresh && marker < FormatNewest {
		if err := writeMarker(fs, d.dir, FormatNewest); err != nil {
			return err
		}
	}
	// After the catalog: an Applier may keep state of its own in pebble (a replicated one
	// opens its raft logs), which must not look like a foreign store's data.
	d.applier = d.opts.NewApplier(db)
	// 4. Shards: clocks, generations, layouts.
	d.shards = make([]*shard, d.numShards)
	d.forwards = make([]forwardQueue, d.numShards)
	for i := range d.shards {
		d.shards[i] = newShard(d, i)
		if err := d.shards[i].load(db, d.opts.Layout); err != nil {
			return err
		}
	}
	return nil
}

// pebbleOptions returns the pebble options of a store: the caller's, or ds's defaults for a
// write-heavy log (64 MiB memtables, so that memtable flushes are rare and large), on fs.
func pebbleOptions(base *pebble.Options, fs vfs.FS) *pebble.Options {
	var o *pebble.Options
	if base != nil {
		o = base.Clone()
	} else {
		o = &pebble.Options{
			MemTableSize:                64 << 20,
			MemTableStopWritesThreshold: 4,
			L0CompactionThreshold:       4,
			L0StopWritesThreshold:       24,
		}
	}
	o.FS = fs
	if o.Logger == nil && o.LoggerAndTracer == nil {
		o.Logger = quietLogger{}
	}
	o.EnsureDefaults()
	return o
}

// The catalog (value of catalogKey), format version 1:
//
//	| 0x01 | NumShards uvarint |
//
// The format record (value of formatKey) is "mqttds" followed by the FormatVersion as a uvarint.
const catalogFormatV1 = 1

var formatMagic = []byte("mqttds")

// formatRecord returns the format record of FormatNewest.
func formatRecord() []byte {
	return binary.AppendUvarint(append([]byte(nil), formatMagic...), uint64(FormatNewest))
}

// loadCatalog reads (or, in an empty pebble, writes) the format record and the catalog, and
// returns the store's format version.
func (d *DB) loadCatalog() (FormatVersion, error) {
	format, err := d.get(formatKey)
	if err != nil {
		return 0, err
	}
	if format == nil {
		return FormatNewest, d.initCatalog()
	}
	fd := decoder{b: format}
	for _, c := range formatMagic {
		if fd.byte() != c && fd.err == nil {
			fd.fail("format record %q", format)
		}
	}
	v := fd.uvarint()
	if err := fd.done(); err != nil {
		return 0, err
	}
	if v == 0 || FormatVersion(v) > FormatNewest {
		return 0, fmt.Errorf("%w: %s stores format %d, this build reads up to %d", ErrFormatVersion, d.dir, v, FormatNewest)
	}
	cat, err := d.get(catalogKey)
	if err != nil {
		return 0, err
	}
	cd := decoder{b: cat}
	if ver := cd.byte(); cd.err == nil && ver != catalogFormatV1 {
		return 0, corruptf("catalog version %d", ver)
	}
	n := cd.uvarint()
	if err := cd.done(); err != nil {
		return 0, fmt.Errorf("ds: catalog: %w", err)
	}
	if n == 0 || n > maxShards {
		return 0, corruptf("catalog: %d shards", n)
	}
	if d.opts.NumShards != 0 && uint64(d.opts.NumShards) != n {
		return 0, fmt.Errorf("%w: NumShards = %d, the store has %d", ErrOptionsMismatch, d.opts.NumShards, n)
	}
	d.numShards = int(n)
	return FormatVersion(v), nil
}

// initCatalog writes the format record and catalog of a new store. pebble must be empty: a
// pebble instance with data but no format record is not ours.
func (d *DB) initCatalog() error {
	it, err := d.pebble.NewIter(nil)
	if err != nil {
		return err
	}
	nonEmpty := it.First()
	if err := it.Close(); err != nil {
		return err
	}
	if nonEmpty {
		return corruptf("%s: pebble holds data but no mqttds format record", d.dir)
	}
	d.numShards = d.opts.NumShards
	if d.numShards == 0 {
		d.numShards = DefaultNumShards
	}
	b := d.pebble.NewBatch()
	defer b.Close()
	if err := b.Set(formatKey, formatRecord(), nil); err != nil {
		return err
	}
	if err := b.Set(catalogKey, binary.AppendUvarint([]byte{catalogFormatV1}, uint64(d.numShards)), nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// get returns a copy of key's value, or nil if it is missing.
func (d *DB) get(key []byte) ([]byte, error) {
	v, closer, err := d.pebble.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte{}, v...), nil
}

// Close flushes every pending write, waits for it, and closes the store. Writes that arrive
// during Close fail with ErrClosed. Closing twice returns ErrClosed.
func (d *DB) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	d.endLife()
	d.stopRetention()
	for _, s := range d.shards {
		s.close()
	}
	return d.closeStorage()
}

// closeStorage closes pebble and releases the lock; it also cleans up after a failed Open.
func (d *DB) closeStorage() error {
	var errs []error
	for _, s := range d.shards {
		if s != nil && !d.closed.Load() {
			closeLayouts(s.gens.list)
		}
	}
	// An Applier with state of its own in pebble (a replicated one runs raft groups on it)
	// stops before pebble closes.
	if c, ok := d.applier.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if d.pebble != nil {
		errs = append(errs, d.pebble.Close())
	}
	if d.lock != nil {
		errs = append(errs, d.lock.Close())
	}
	return errors.Join(errs...)
}

// NumShards returns the store's number of shards.
func (d *DB) NumShards() int { return d.numShards }

// Dir returns the store's directory and the file system it is on. A replicated Applier stages
// incoming shard snapshots there, so that pebble ingests them on the same file system.
func (d *DB) Dir() (vfs.FS, string) { return d.opts.FS, d.dir }

// ShardOf returns the shard of a publisher's messages.
func (d *DB) ShardOf(clientID string) int { return ShardOf(clientID, d.numShards) }

func (d *DB) checkOpen() error {
	if d.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (d *DB) checkShard(shard int) error {
	if shard < 0 || shard >= d.numShards {
		return fmt.Errorf("%w: %d (the store has %d)", ErrInvalidShard, shard, d.numShards)
	}
	return nil
}

func (d *DB) shard(id int) (*shard, error) {
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	if err := d.checkShard(id); err != nil {
		return nil, err
	}
	return d.shards[id], nil
}

func (d *DB) generation(r Rank) (*generation, error) {
	s, err := d.shard(r.Shard)
	if err != nil {
		return nil, err
	}
	g := s.generation(r.Generation)
	if g == nil {
		return nil, fmt.Errorf("%w: shard %d generation %d", ErrGenerationNotFound, r.Shard, r.Generation)
	}
	return g, nil
}

// Store stores msgs and, unless wo.NoWait, returns once they are durable. Messages are split by
// publisher shard; each shard's part commits atomically, parts of different shards
// independently. If any message is invalid Store returns its error and stores nothing.
//
// Store does not retain msgs. If ctx ends first Store returns ctx.Err() and the messages may or
// may not be stored. The same holds for a disk error: a batch whose WAL write reached the disk
// but whose sync failed may be found after recovery, so a caller that retries may store a
// message twice (consumers see both, with different timestamps). Safe for concurrent use.
func (d *DB) Store(ctx context.Context, msgs []Message, wo WriteOptions) error {
	if err := d.checkOpen(); err != nil {
		return err
	}
	for i := range msgs {
		if err := msgs[i].validate(); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	compress := d.opts.Compression == S2Compression
	// One request per shard touched; the common case is a single shard, so a linear search
	// beats a map.
	// The arrays keep the common one-shard call off the heap (submit retains neither slice).
	var shardsBuf [1]*shard
	var reqsBuf [1]*request
	shards, reqs := shardsBuf[:0], reqsBuf[:0]
	for i := range msgs {
		s := d.shards[ShardOf(msgs[i].ClientID, d.numShards)]
		j := slices.Index(shards, s)
		if j < 0 {
			j = len(shards)
			shards = append(shards, s)
			reqs = append(reqs, getRequest())
		}
		reqs[j].addMessage(&msgs[i], compress)
	}
	if len(reqs) == 0 {
		return nil
	}
	err := d.submit(ctx, shards, reqs, wo)
	releaseRequests(reqs, wo)
	return err
}

// AddGeneration closes the current generation of every shard and opens a new one with the
// layout options of opts.Layout. Safe for concurrent use.
func (d *DB) AddGeneration() ([]GenerationInfo, error) {
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	// A shard that fails leaves the shards before it rotated: rotation is per shard anyway.
	var out []GenerationInfo
	for _, s := range d.shards {
		gi, err := s.addGeneration(d.opts.Layout)
		if err != nil {
			return out, err
		}
		out = append(out, gi)
	}
	return out, nil
}

// DropGeneration deletes a closed generation of a shard with all its messages (one range
// delete). Iterators of the generation get ErrGenerationNotFound. Safe for concurrent use.
func (d *DB) DropGeneration(r Rank) error {
	s, err := d.shard(r.Shard)
	if err != nil {
		return err
	}
	return s.dropGeneration(r.Generation)
}

// ListGenerations returns the live generations of every shard that may hold timestamps in
// [since, until) (until = 0: no upper bound), ordered by shard and id.
func (d *DB) ListGenerations(since, until uint64) ([]GenerationInfo, error) {
	if err := d.checkOpen(); err != nil {
		return nil, err
	}
	var out []GenerationInfo
	for _, s := range d.shards {
		for _, g := range s.generations() {
			if g.overlaps(since, until) {
				out = append(out, g.info(s.id))
			}
		}
	}
	return out, nil
}

// LayoutOptions returns the layout options new generations are created with.
func (d *DB) LayoutOptions() layout.Options { return d.opts.Layout }
