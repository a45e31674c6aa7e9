package ds

import (
	"fmt"
	"log"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqttds/mqttds/layout"
)

// Applier is the apply half of the write path: it commits the batches that shards prepare. The
// local implementation (NewLocalApplier) commits to the store's pebble instance; a replicated
// one would propose the batch to the shard's raft group and commit it on every replica.
//
// Contract, for each shard:
//   - batches are committed in the order Apply is called, each atomically;
//   - if Apply returns an error, nothing of the batch was committed;
//   - Commit.Wait returns nil once the batch is durable, and its writes are then visible to
//     readers of the store's pebble instance (they may be visible before: ds bounds reads by
//     the timestamps whose Wait has returned, see ReadBounds);
//   - if a Wait fails, every batch of the shard applied after it fails too.
//
// Apply is called by one goroutine per shard; Wait from another, in Apply order. Apply must
// not retain b after it returns. An Applier that is also an io.Closer is closed by DB.Close
// after the last batch and before pebble closes.
type Applier interface {
	Apply(shard int, b *layout.CookedBatch) (Commit, error)
}

// Commit is a batch being committed by an Applier.
type Commit interface {
	// Wait blocks until the batch is durable or has failed.
	Wait() error
}

// NewLocalApplier returns the Applier that commits to db with a synced WAL write. Batches go
// through pebble's commit pipeline without waiting for the sync (ApplyNoSyncWait), so the
// shard's next batch can be prepared and queued while the WAL sync of this one runs; pebble
// applies them in call order and one WAL sync covers every batch queued before it.
func NewLocalApplier(db *pebble.DB) Applier {
	return localApplier{db: db}
}

type localApplier struct {
	db *pebble.DB
}

func (a localApplier) Apply(shard int, cb *layout.CookedBatch) (Commit, error) {
	b := a.db.NewBatch()
	if err := WriteCooked(b, cb); err != nil {
		b.Close()
		return nil, err
	}
	if err := a.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return nil, err
	}
	return localCommit{b}, nil
}

type localCommit struct {
	b *pebble.Batch
}

func (c localCommit) Wait() error {
	err := c.b.SyncWait()
	// pebble requires SyncWait before Close; a batch that failed is not reused by pebble.
	if cerr := c.b.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteCooked adds the writes of cb to b, in order. A replicated Applier uses it to commit
// the batches the leader prepared.
func WriteCooked(b *pebble.Batch, cb *layout.CookedBatch) error {
	for _, w := range cb.Writes {
		var err error
		switch w.Kind {
		case layout.WriteSet:
			err = b.Set(w.Key, w.Value, nil)
		case layout.WriteDelete:
			err = b.Delete(w.Key, nil)
		case layout.WriteDeleteRange:
			err = b.DeleteRange(w.Key, w.Value, nil)
		default:
			err = fmt.Errorf("ds: unknown write kind %d in a cooked batch", w.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// quietLogger is the pebble logger ds installs unless Options.Pebble brings one: pebble's
// informational messages (every WAL recovery, flush and compaction) are dropped, errors go to
// the standard logger, and fatal errors stay fatal (pebble cannot continue after them, e.g. a
// failed WAL write).
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) { log.Printf("pebble: "+format, args...) }
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("pebble: "+format, args...) }
