package ds

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mqttds/mqttds/layout"
)

// Options configure a DB. A nil *Options means all defaults, and a zero field means that
// field's default (see EnsureDefaults). Open does not retain the caller's struct: it works on a
// copy.
type Options struct {
	// FS is the file system every file of the store goes through. Default vfs.Default. Tests use
	// vfs.NewMem, vfs.NewCrashableMem or an errorfs wrapper.
	FS vfs.FS

	// NumShards is the number of shards, fixed when the store is created. Zero means: the stored
	// value for an existing store, DefaultNumShards for a new one. A non-zero value that differs
	// from the stored one makes Open fail with ErrOptionsMismatch.
	NumShards int

	// Buffer configures each shard's write buffer.
	Buffer BufferOptions

	// Compression of message payloads written from now on. Stored values record whether they
	// are compressed, so this can change between opens. Default NoCompression.
	Compression Compression

	// Layout are the layout options of generations created from now on; existing generations
	// keep the options they were created with. Default: the layout package's defaults.
	Layout layout.Options

	// Retention configures generation rotation and the dropping of old generations.
	Retention RetentionOptions

	// Pebble, when non-nil, is the starting point for the pebble options (cache size, memtable
	// size, ...). Open copies it and then sets FS and the settings ds depends on.
	Pebble *pebble.Options

	// NewApplier returns the Applier that commits the shards' batches to db. Default
	// NewLocalApplier. A replicated store plugs in here; tests inject failures.
	NewApplier func(db *pebble.DB) Applier

	// DeferFirstGeneration leaves a shard without generations until its first write, which
	// creates one through the Applier, instead of creating it at Open. Replicas set it (see
	// ApplyReplicated): the first generation must come from the leader's log, not be created
	// differently by each replica.
	DeferFirstGeneration bool

	// Forwarder, when set, sends the writes of shards this replica does not lead to their
	// leader (see Forwarder). A replicated store sets it; nil keeps every write local.
	Forwarder Forwarder

	// Now is the wall clock, used for message timestamps and retention. Default time.Now. Tests
	// set it to make timestamps deterministic; timestamps stay strictly increasing whatever it
	// returns.
	Now func() time.Time
}

// BufferOptions configure a shard's write buffer (group commit; see doc.go).
type BufferOptions struct {
	// MaxItems is the most messages and KV writes one flush commits. A single Store call that is
	// larger is committed alone, never split. Default 1000.
	MaxItems int
	// MaxBytes is the most payload+topic+KV bytes one flush commits (same rule for a larger
	// call). Default 16 MiB.
	MaxBytes int
	// FlushInterval bounds how long a write lingers in the buffer while four or more earlier
	// flushes of its shard are still committing: after it, another flush starts alongside them
	// (up to MaxInFlight). It only matters when MaxInFlight is above four: below that a write
	// waits for a commit to finish, and one that arrives while fewer than four commit is flushed
	// at once. Default 10ms.
	FlushInterval time.Duration
	// MaxInFlight is how many flushes of one shard may be committing at the same time. Default 4.
	MaxInFlight int
}

// RetentionOptions configure how long messages are kept.
type RetentionOptions struct {
	// Period is how long a message whose topic is in no class is kept: Next stops returning it
	// once it is Period old, and its generation is dropped once every message in it is older
	// than the longest period (Period or a class's). Default 24h.
	Period time.Duration
	// RotationInterval is the age at which a shard's current generation is closed and a new one
	// opened. A message's storage lives at most the longest period + RotationInterval + the
	// check interval (RotationInterval/4, or a quarter of the shortest class period if that is
	// shorter). Default Period/10.
	RotationInterval time.Duration
	// Classes keep the messages of some topics for their own period: the first class whose
	// Filter matches a message's topic gives its period, and Period applies to every other
	// topic. Next never returns a message older than its period (it skips it and counts it
	// in Metrics.Retention). Storage is reclaimed by dropping a generation once the longest
	// period has passed over it, and earlier for streams whose topics all have shorter
	// periods: the automatic retention check range-deletes their expired messages (see
	// retention.go). Default none.
	Classes []RetentionClass
	// Disabled turns off the automatic retention check (rotation, dropping, range deletes);
	// AddGeneration and DropGeneration still work, and Next still skips expired messages.
	Disabled bool
}

// RetentionClass keeps the messages whose topics match Filter (an MQTT topic filter) for
// Period.
type RetentionClass struct {
	Filter string
	Period time.Duration
}

// Compression selects how message payloads are stored.
type Compression uint8

const (
	// NoCompression stores payloads as they are.
	NoCompression Compression = iota
	// S2Compression stores each payload of at least 64 bytes s2-compressed when that is smaller.
	S2Compression
)

func (c Compression) String() string {
	switch c {
	case NoCompression:
		return "none"
	case S2Compression:
		return "s2"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// Defaults.
const (
	DefaultNumShards     = 16
	DefaultMaxItems      = 1000
	DefaultMaxBytes      = 16 << 20
	DefaultFlushInterval = 10 * time.Millisecond
	DefaultMaxInFlight   = 4
	DefaultRetention     = 24 * time.Hour
)

// EnsureDefaults fills every zero field with its default and returns o (a nil o is allocated).
// NumShards is left alone: its default depends on whether the store exists.
func (o *Options) EnsureDefaults() *Options {
	if o == nil {
		o = &Options{}
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Buffer.MaxItems == 0 {
		o.Buffer.MaxItems = DefaultMaxItems
	}
	if o.Buffer.MaxBytes == 0 {
		o.Buffer.MaxBytes = DefaultMaxBytes
	}
	if o.Buffer.FlushInterval == 0 {
		o.Buffer.FlushInterval = DefaultFlushInterval
	}
	if o.Buffer.MaxInFlight == 0 {
		o.Buffer.MaxInFlight = DefaultMaxInFlight
	}
	if o.Retention.Period == 0 {
		o.Retention.Period = DefaultRetention
	}
	if o.Retention.RotationInterval == 0 {
		o.Retention.RotationInterval = o.Retention.Period / 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewApplier == nil {
		o.NewApplier = NewLocalApplier
	}
	return o
}

// Validate returns every problem with o in one error, or nil. Call it after EnsureDefaults.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("ds: option "+format, args...))
	}
	if o.NumShards < 0 || o.NumShards > maxShards {
		bad("NumShards = %d: must be in [1, %d] (0 = default)", o.NumShards, maxShards)
	}
	if o.Buffer.MaxItems < 1 {
		bad("Buffer.MaxItems = %d: must be positive", o.Buffer.MaxItems)
	}
	if o.Buffer.MaxBytes < 1 {
		bad("Buffer.MaxBytes = %d: must be positive", o.Buffer.MaxBytes)
	}
	if o.Buffer.FlushInterval < 0 {
		bad("Buffer.FlushInterval = %v: must be positive", o.Buffer.FlushInterval)
	}
	if o.Buffer.MaxInFlight < 1 || o.Buffer.MaxInFlight > 64 {
		bad("Buffer.MaxInFlight = %d: must be in [1, 64]", o.Buffer.MaxInFlight)
	}
	if o.Compression > S2Compression {
		bad("Compression = %d: unknown", o.Compression)
	}
	if o.Retention.Period < time.Millisecond {
		bad("Retention.Period = %v: must be at least 1ms", o.Retention.Period)
	}
	if o.Retention.RotationInterval < time.Millisecond || o.Retention.RotationInterval > o.Retention.Period {
		bad("Retention.RotationInterval = %v: must be in [1ms, Period]", o.Retention.RotationInterval)
	}
	for i, c := range o.Retention.Classes {
		if _, err := filterLevels(c.Filter); err != nil {
			bad("Retention.Classes[%d].Filter: %v", i, err)
		}
		if c.Period < time.Millisecond {
			bad("Retention.Classes[%d].Period = %v: must be at least 1ms", i, c.Period)
		}
	}
	if o.FS == nil {
		bad("FS is nil (call EnsureDefaults)")
	}
	if o.Now == nil {
		bad("Now is nil (call EnsureDefaults)")
	}
	if o.NewApplier == nil {
		bad("NewApplier is nil (call EnsureDefaults)")
	}
	return errors.Join(errs...)
}

// WriteOptions are per-call options of Store and Apply.
type WriteOptions struct {
	// NoWait makes Store return as soon as the messages are queued, without waiting for the
	// flush (fire and forget). The messages are lost if the process dies before the flush
	// commits, and a flush error is only counted in Metrics. Default false: Store returns once
	// the messages are durable.
	NoWait bool
}

// Sync waits for durability (the default); NoWait returns once queued.
var (
	Sync   = WriteOptions{}
	NoWait = WriteOptions{NoWait: true}
)
