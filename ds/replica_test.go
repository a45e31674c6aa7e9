package ds

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// shippingApplier commits locally like the local applier and ships every committed batch, as
// bytes, to its followers: a replication log reduced to its data path.
type shippingApplier struct {
	inner     Applier
	mu        sync.Mutex
	followers []*followerApplier
}

func (a *shippingApplier) Apply(shard int, cb *layout.CookedBatch) (Commit, error) {
	data, err := cb.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c, err := a.inner.Apply(shard, cb)
	if err != nil {
		return nil, err
	}
	return shipCommit{c, a, shard, data}, nil
}

type shipCommit struct {
	Commit
	a     *shippingApplier
	shard int
	data  []byte
}

func (c shipCommit) Wait() error {
	if err := c.Commit.Wait(); err != nil {
		return err
	}
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	for _, f := range c.a.followers {
		if err := f.receive(c.shard, c.data); err != nil {
			return err
		}
	}
	return nil
}

// followerApplier refuses local batches and commits the leader's.
type followerApplier struct {
	pebble *pebble.DB
	db     *DB
}

var errFollower = errors.New("test: not the leader")

func (f *followerApplier) Apply(int, *layout.CookedBatch) (Commit, error) { return nil, errFollower }

func (f *followerApplier) receive(shard int, data []byte) error {
	var cb layout.CookedBatch
	if err := cb.UnmarshalBinary(data); err != nil {
		return err
	}
	b := f.pebble.NewBatch()
	defer b.Close()
	if err := WriteCooked(b, &cb); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	return f.db.ApplyReplicated(shard, &cb, false)
}

func replicaOptions(kind string) *Options {
	return &Options{
		FS:                   vfs.NewMem(),
		NumShards:            2,
		Layout:               layout.Options{Kind: kind},
		Retention:            RetentionOptions{Disabled: true},
		DeferFirstGeneration: true,
	}
}

// TestApplyReplicatedFollowsLeader feeds a follower every batch its leader commits, for both
// layouts: the follower reads exactly the leader's messages, generations included, without
// preparing anything itself.
func TestApplyReplicatedFollowsLeader(t *testing.T) {
	for _, kind := range []string{layout.KindReference, layout.KindWildcardOptimized} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			ship := &shippingApplier{}
			lopts := replicaOptions(kind)
			lopts.NewApplier = func(db *pebble.DB) Applier { ship.inner = NewLocalApplier(db); return ship }
			leader := openTest(t, "leader", lopts)

			f := &followerApplier{}
			fopts := replicaOptions(kind)
			fopts.NewApplier = func(db *pebble.DB) Applier { f.pebble = db; return f }
			follower := openTest(t, "follower", fopts)
			f.db = follower
			ship.mu.Lock()
			ship.followers = append(ship.followers, f)
			ship.mu.Unlock()

			gens, err := follower.ListGenerations(0, 0)
			require.NoError(t, err)
			require.Empty(t, gens, "a deferred first generation is not created at Open")

			for i := range 40 {
				m := msg(fmt.Sprintf("c%d", i%3), fmt.Sprintf("dev/%d/temp", i%7), fmt.Sprint(i))
				require.NoError(t, leader.Store(ctx, []Message{m}, Sync))
				if i == 20 {
					_, err := leader.AddGeneration()
					require.NoError(t, err)
				}
			}
			err = follower.Store(ctx, []Message{msg("c", "t", "x")}, Sync)
			require.ErrorIs(t, err, errFollower, "a follower never prepares")

			for _, filter := range []string{"#", "dev/+/temp", "dev/3/#"} {
				want := readAll(t, leader, filter, 0)
				got := readAll(t, follower, filter, 0)
				require.NotEmpty(t, want)
				require.Equal(t, fmtAll(want), fmtAll(got), filter)
			}
			lg, err := leader.ListGenerations(0, 0)
			require.NoError(t, err)
			fg, err := follower.ListGenerations(0, 0)
			require.NoError(t, err)
			require.Equal(t, lg, fg)
		})
	}
}

func fmtAll(ms []StoredMessage) []string {
	out := make([]string, len(ms))
	for i := range ms {
		out[i] = fmtMsg(&ms[i])
	}
	return out
}

// uncertainApplier commits nothing and fails every Wait with ErrNotCommitted while failing
// is set, like a replica that lost leadership with batches in flight.
type uncertainApplier struct {
	inner   Applier
	failing bool
}

type uncertainCommit struct{}

func (uncertainCommit) Wait() error { return fmt.Errorf("test: leadership lost: %w", ErrNotCommitted) }

func (a *uncertainApplier) Apply(shard int, cb *layout.CookedBatch) (Commit, error) {
	if a.failing {
		return uncertainCommit{}, nil
	}
	return a.inner.Apply(shard, cb)
}

// TestNotCommittedReloadsWithoutRecovery: a batch whose outcome is unknown fails its writers,
// leaves the storage alone (no recovery), and the shard forgets what the batch taught it.
func TestNotCommittedReloadsWithoutRecovery(t *testing.T) {
	ctx := context.Background()
	ua := &uncertainApplier{}
	opts := replicaOptions(layout.KindWildcardOptimized)
	opts.NumShards = 1
	opts.NewApplier = func(db *pebble.DB) Applier { ua.inner = NewLocalApplier(db); return ua }
	db := openTest(t, "db", opts)
	require.NoError(t, db.Store(ctx, []Message{msg("c", "a/1", "kept")}, Sync))
	ua.failing = true
	err := db.Store(ctx, []Message{msg("c", "b/1", "lost")}, Sync)
	require.ErrorIs(t, err, ErrNotCommitted)
	ua.failing = false
	require.NoError(t, db.Store(ctx, []Message{msg("c", "a/2", "after")}, Sync))
	require.Zero(t, db.Metrics().Disk.Recoveries)
	var got []string
	for _, m := range readAll(t, db, "#", 0) {
		got = append(got, string(m.Payload))
	}
	require.ElementsMatch(t, []string{"kept", "after"}, got)
	require.True(t, db.shards[0].clock > 0 && !db.shards[0].stale.Load())
}
