package ds

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// pipeForwarder forwards every shard to another DB, as a replica that leads nothing would.
type pipeForwarder struct {
	to      *DB
	leads   atomic.Bool
	calls   atomic.Int64
	lastErr error
}

func (p *pipeForwarder) Leads(int) bool { return p.leads.Load() }

func (p *pipeForwarder) Forward(ctx context.Context, shard int, data []byte) error {
	p.calls.Add(1)
	return p.to.StoreForwarded(ctx, shard, data)
}

// notLeaderApplier refuses every batch as a follower's Applier does.
type notLeaderApplier struct{}

func (notLeaderApplier) Apply(int, *layout.CookedBatch) (Commit, error) {
	return nil, ErrNotLeader
}

func TestForwardedWritesCommitOnTheLeader(t *testing.T) {
	ctx := context.Background()
	leader := openTest(t, "leader", testOptions())
	fw := &pipeForwarder{to: leader}
	opts := testOptions()
	opts.Forwarder = fw
	opts.DeferFirstGeneration = true
	opts.NewApplier = func(*pebble.DB) Applier { return notLeaderApplier{} }
	follower := openTest(t, "follower", opts)

	msgs := []Message{msg("a", "x/1", "one"), msg("b", "x/2", "two"), msg("c", "y", "three")}
	msgs[0].Properties.UserProperties = []UserProperty{{Key: "k", Value: "v"}}
	require.NoError(t, follower.Store(ctx, msgs, Sync))
	lt, err := leader.Table("t")
	require.NoError(t, err)
	ft, err := follower.Table("t")
	require.NoError(t, err)
	b := follower.NewBatch(1)
	b.Put(ft, []byte("key"), []byte("value"))
	b.AddMessage(&Message{ClientID: clientOn(follower, 1), Topic: "z", Payload: []byte("with kv")})
	require.NoError(t, follower.Apply(ctx, b, Sync))
	v, err := lt.Get(1, []byte("key"))
	require.NoError(t, err)
	require.Equal(t, "value", string(v))
	got := readAll(t, leader, "#", 0)
	require.Len(t, got, 4)
	for _, m := range got {
		if m.Topic == "x/1" {
			require.Equal(t, msgs[0].Properties.UserProperties, m.Properties.UserProperties, "the encoded message travels whole")
		}
	}
	require.GreaterOrEqual(t, fw.calls.Load(), int64(2))
	del := follower.NewBatch(1)
	del.Delete(ft, []byte("key"))
	require.NoError(t, follower.Apply(ctx, del, Sync))
	_, err = lt.Get(1, []byte("key"))
	require.ErrorIs(t, err, ErrNotFound)

	// Submitted batches are forwarded in submission order.
	client := clientOn(follower, 2)
	var pending []*Pending
	for i := range 20 {
		b := follower.NewBatch(2)
		b.AddMessage(&Message{ClientID: client, Topic: "order", Payload: []byte{byte(i)}})
		p, err := follower.Submit(b)
		require.NoError(t, err)
		pending = append(pending, p)
	}
	for _, p := range pending {
		require.NoError(t, p.Wait(ctx))
	}
	ordered := readAll(t, leader, "order", 0)
	require.Len(t, ordered, 20)
	for i, m := range ordered {
		require.Equal(t, []byte{byte(i)}, m.Payload, "position %d", i)
	}

	// A replica that believes it leads but does not forwards after its Applier refuses.
	fw.leads.Store(true)
	calls := fw.calls.Load()
	require.NoError(t, follower.Store(ctx, []Message{msg("a", "late", "x")}, Sync))
	require.Equal(t, calls+1, fw.calls.Load())
	b = follower.NewBatch(0)
	b.AddMessage(&Message{ClientID: clientOn(follower, 0), Topic: "late/submit", Payload: []byte("y")})
	p, err := follower.Submit(b)
	require.NoError(t, err)
	require.NoError(t, p.Wait(ctx))
	require.Equal(t, calls+2, fw.calls.Load())
}

func clientOn(db *DB, shard int) string {
	for i := 0; ; i++ {
		if id := string(rune('a'+i%26)) + string(rune('a'+i/26)); db.ShardOf(id) == shard {
			return id
		}
	}
}

// TestForwardedKVWritesKeepTheirTable: two stores that opened their tables in different
// orders still agree on which table a forwarded write belongs to, because a key names its
// table (keys.go). With tables numbered per store, the follower's "retained" write would land
// in the leader's "sessions".
func TestForwardedKVWritesKeepTheirTable(t *testing.T) {
	ctx := context.Background()
	leader := openTest(t, "leader", testOptions())
	opts := testOptions()
	opts.Forwarder = &pipeForwarder{to: leader}
	opts.DeferFirstGeneration = true
	opts.NewApplier = func(*pebble.DB) Applier { return notLeaderApplier{} }
	follower := openTest(t, "follower", opts)
	open := func(db *DB, names ...string) map[string]*Table {
		out := map[string]*Table{}
		for _, n := range names {
			tbl, err := db.Table(n)
			require.NoError(t, err)
			out[n] = tbl
		}
		return out
	}
	lt := open(leader, "sessions", "retained")
	ft := open(follower, "retained", "sessions")
	require.NoError(t, ft["retained"].Put(ctx, 2, []byte("k"), []byte("retained value")))
	require.NoError(t, ft["sessions"].Put(ctx, 2, []byte("k"), []byte("session value")))
	for name, want := range map[string]string{"retained": "retained value", "sessions": "session value"} {
		v, err := lt[name].Get(2, []byte("k"))
		require.NoError(t, err, name)
		require.Equal(t, want, string(v), name)
	}
}

func TestStoreForwardedRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "db", testOptions())
	client := clientOn(db, 0)
	good := (&request{entries: []pendingEntry{{topic: "a", value: appendMessage(nil, &Message{ClientID: client, Topic: "a"}, false)}}}).marshalForward()
	other := (&request{entries: []pendingEntry{{topic: "a", value: appendMessage(nil, &Message{ClientID: clientOn(db, 1), Topic: "a"}, false)}}}).marshalForward()
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorruption},
		{"version", append([]byte{9}, good[1:]...), ErrFormatVersion},
		{"truncated", good[:len(good)-1], ErrCorruption},
		{"trailing", append(good, 0), ErrCorruption},
		{"wildcard topic", (&request{entries: []pendingEntry{{topic: "a/#", value: []byte{1}}}}).marshalForward(), ErrInvalidTopic},
		{"other shard's publisher", other, ErrInvalidMessage},
		{"foreign key", (&request{kv: []kvWrite{{key: shardClockKey(0), value: []byte{1}}}}).marshalForward(), ErrInvalidMessage},
		{"other shard's table", kvWrites(kvKey(1, "t", []byte("k"))), ErrInvalidMessage},
		{"format 1 table key", kvWrites(append(kvPrefixV1(0, 0), 'k')), ErrInvalidMessage},
		{"table without a name", kvWrites(append(shardPrefix(0), keyShardKV, 0, 'k')), ErrInvalidMessage},
		{"table name cut short", kvWrites(append(shardPrefix(0), keyShardKV, 3, 't')), ErrInvalidMessage},
	} {
		err := db.StoreForwarded(ctx, 0, tc.data)
		require.True(t, errors.Is(err, tc.want), "%s: %v", tc.name, err)
	}
	require.NoError(t, db.StoreForwarded(ctx, 0, good))
	require.Len(t, readAll(t, db, "#", 0), 1)
	require.NoError(t, db.StoreForwarded(ctx, 0, kvWrites(kvKey(0, "t", []byte("k")))))
	tbl, err := db.Table("t")
	require.NoError(t, err)
	v, err := tbl.Get(0, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte{1}, v)
}

// kvWrites encodes a forwarded request that sets each key to {1}.
func kvWrites(keys ...[]byte) []byte {
	r := &request{}
	for _, k := range keys {
		r.kv = append(r.kv, kvWrite{key: k, value: []byte{1}})
	}
	return r.marshalForward()
}
