package ds

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// remoteForwarder is a replica's Forwarder that leads nothing and holds the shards of held:
// writes go to another DB, as do the reads of the shards it does not hold, through that DB's
// ServeRead.
type remoteForwarder struct {
	pipeForwarder
	held  atomic.Uint64 // bit i: holds shard i
	reads atomic.Int64
}

func (r *remoteForwarder) Holds(shard int) bool { return r.held.Load()&(1<<shard) != 0 }

func (r *remoteForwarder) Read(ctx context.Context, shard int, req []byte) ([]byte, error) {
	r.reads.Add(1)
	return r.to.ServeRead(ctx, shard, req)
}

// openRemoteReader opens a store that holds no shard and reads and writes them all through
// leader.
func openRemoteReader(t *testing.T, leader *DB) (*DB, *remoteForwarder) {
	fw := &remoteForwarder{pipeForwarder: pipeForwarder{to: leader}}
	opts := testOptions()
	opts.Forwarder = fw
	opts.DeferFirstGeneration = true
	opts.NewApplier = func(*pebble.DB) Applier { return notLeaderApplier{} }
	return openTest(t, "reader", opts), fw
}

func formatAll(msgs []StoredMessage) []string {
	out := make([]string, len(msgs))
	for i := range msgs {
		out[i] = fmt.Sprintf("%s key=%x", fmtMsg(&msgs[i]), msgs[i].Key)
	}
	return out
}

func TestRemoteReadsSeeTheHoldingReplica(t *testing.T) {
	ctx := context.Background()
	leader := openTest(t, "leader", testOptions())
	reader, fw := openRemoteReader(t, leader)

	var msgs []Message
	for i := range 40 {
		m := msg(fmt.Sprintf("c%d", i%9), fmt.Sprintf("t/%d/x", i%5), fmt.Sprintf("p%d", i))
		m.Properties.UserProperties = []UserProperty{{Key: "i", Value: fmt.Sprint(i)}}
		msgs = append(msgs, m)
	}
	require.NoError(t, reader.Store(ctx, msgs[:20], Sync))
	_, err := leader.AddGeneration()
	require.NoError(t, err)
	require.NoError(t, reader.Store(ctx, msgs[20:], Sync))

	// Messages: GetStreams, MakeIterator and Next (through closed generations' end) agree.
	for _, filter := range []string{"#", "t/+/x", "t/3/#", "none"} {
		want := formatAll(readAll(t, leader, filter, 0))
		require.Equal(t, want, formatAll(readAll(t, reader, filter, 0)), "filter %s", filter)
	}
	require.Len(t, readAll(t, reader, "#", 0), 40)

	// A stored iterator position resumes on either replica; UpdateIterator agrees too.
	all := readAll(t, reader, "#", 0)
	// One with messages after it in its stream.
	var mid StoredMessage
	for _, m := range all {
		if next, _, err := leader.Next(ctx, m.After, 3); err == nil && len(next) > 1 {
			mid = m
			break
		}
	}
	require.NotNil(t, mid.Key)
	for _, db := range []*DB{leader, reader} {
		got, _, err := db.Next(ctx, mid.After, 3)
		require.NoError(t, err)
		want, _, err := leader.Next(ctx, mid.After, 3)
		require.NoError(t, err)
		require.Equal(t, formatAll(want), formatAll(got))
		it, err := db.UpdateIterator(mid.After, mid.Key)
		require.NoError(t, err)
		got, _, err = db.Next(ctx, it, 3)
		require.NoError(t, err)
		require.Equal(t, formatAll(want), formatAll(got))
	}

	// Errors travel as themselves.
	gone := mid.After
	gone.rank.Generation = 99
	_, _, err = reader.Next(ctx, gone, 1)
	require.ErrorIs(t, err, ErrGenerationNotFound)
	_, err = reader.GetStreams("a/#/b", 0)
	require.Error(t, err)

	// KV: Get and Scan read the holding replica.
	tab, err := reader.Table("sessions")
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, tab.Put(ctx, 2, []byte(fmt.Sprintf("k/%d", i)), []byte(fmt.Sprintf("v%d", i))))
	}
	v, err := tab.Get(2, []byte("k/3"))
	require.NoError(t, err)
	require.Equal(t, "v3", string(v))
	_, err = tab.Get(2, []byte("k/9"))
	require.ErrorIs(t, err, ErrNotFound)
	var keys []string
	require.NoError(t, tab.Scan(2, []byte("k/"), func(k, v []byte) error {
		keys = append(keys, string(k)+"="+string(v))
		return nil
	}))
	require.Equal(t, []string{"k/0=v0", "k/1=v1", "k/2=v2", "k/3=v3", "k/4=v4"}, keys)
	require.NoError(t, reader.Barrier(ctx, 2))

	require.Positive(t, reader.Metrics().Read.Remote)
	require.Equal(t, uint64(fw.reads.Load()), reader.Metrics().Read.Remote)
	require.Equal(t, reader.Metrics().Read.Remote, leader.Metrics().Read.Served)

	// Once the store holds a shard, its reads are its own replica's (empty here: nothing was
	// replicated to it).
	fw.held.Store(1 << 2)
	_, err = tab.Get(2, []byte("k/3"))
	require.ErrorIs(t, err, ErrNotFound)
	for _, m := range readAll(t, reader, "#", 0) {
		require.NotEqual(t, 2, m.After.Rank().Shard)
	}
}

func TestRemoteWatchersSignalTheHoldingReplicasCommits(t *testing.T) {
	ctx := context.Background()
	leader := openTest(t, "leader", testOptions())
	reader, _ := openRemoteReader(t, leader)
	client := clientOn(reader, 1)
	messages, err := reader.WatchMessages(1)
	require.NoError(t, err)
	defer messages.Close()
	plain, err := reader.Watch(1)
	require.NoError(t, err)
	defer plain.Close()
	// The first answer of the holding replica may signal (a commit could have come before
	// it); drain it, bounded, then every signal below must come from a commit.
	drain := func(w *Watcher) {
		select {
		case <-w.C:
		case <-time.After(remoteWait + time.Second):
		}
	}
	drain(messages)
	drain(plain)
	wait := func(w *Watcher, what string) {
		t.Helper()
		select {
		case <-w.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal for %s", what)
		}
	}
	require.NoError(t, leader.Store(ctx, []Message{msg(client, "w", "one")}, Sync))
	wait(messages, "a message commit")
	wait(plain, "a message commit")

	// A KV-only commit wakes the plain watcher only.
	tab, err := leader.Table("t")
	require.NoError(t, err)
	require.NoError(t, tab.Put(ctx, 1, []byte("k"), []byte("v")))
	wait(plain, "a KV commit")
	select {
	case <-messages.C:
		// Allowed only if a message came meanwhile: none did.
		t.Fatal("a messages-only watcher was woken by a KV commit")
	case <-time.After(100 * time.Millisecond):
	}
	messages.Close()
	plain.Close()
	_, open := <-plain.C
	require.False(t, open)
}

func TestServeReadRefusesBadRequests(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "db", testOptions())
	for _, req := range [][]byte{
		nil,
		{2, readStreams},
		{remoteFormatV1, 0},
		{remoteFormatV1, 200},
		{remoteFormatV1, readStreams, 5, 'a'},
		{remoteFormatV1, readNext, 1},
		append(remoteRequest(readGet), 0, 0, 1),
	} {
		_, err := db.ServeRead(ctx, 0, req)
		require.Error(t, err, "request %x", req)
	}
	_, err := db.ServeRead(ctx, 9, remoteRequest(readBarrier))
	require.ErrorIs(t, err, ErrInvalidShard)
	// An iterator of another shard is refused in the answer.
	require.NoError(t, db.Store(ctx, []Message{msg("a", "t", "p")}, Sync))
	streams, err := db.GetStreams("#", 0)
	require.NoError(t, err)
	require.NotEmpty(t, streams)
	sb, _ := streams[0].Stream.MarshalBinary()
	other := (streams[0].Rank.Shard + 1) % db.NumShards()
	ans, err := db.ServeRead(ctx, other, binary.AppendUvarint(appendString(appendBytes(remoteRequest(readIterator), sb), "#"), 0))
	require.NoError(t, err)
	require.NotZero(t, ans[0])
	it, err := db.MakeIterator(streams[0].Stream, "#", 0)
	require.NoError(t, err)
	ib, _ := it.MarshalBinary()
	for _, req := range [][]byte{
		binary.AppendUvarint(appendBytes(remoteRequest(readNext), ib), 10),
		appendBytes(appendBytes(remoteRequest(readUpdate), ib), []byte("k")),
	} {
		ans, err := db.ServeRead(ctx, other, req)
		require.NoError(t, err)
		require.NotZero(t, ans[0], "an iterator of shard %d read as shard %d", streams[0].Rank.Shard, other)
	}
}
