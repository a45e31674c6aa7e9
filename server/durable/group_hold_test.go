package durable

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// Ensure that a group's holds survive a crash once flushed, that a deleted hold stays deleted,
// and that a replaced one keeps its last state.
func TestHold_Durable(t *testing.T) {
	e := newEnv(t)
	id := GroupSessionID("g", "jobs/#")
	g := e.session(id, "jobs/#")
	g.PutHold(Hold{GroupPID: 1, Member: "a", MemberPID: 7, QoS: 2, State: StateSent})
	g.PutHold(Hold{GroupPID: 2, Member: "b", MemberPID: 65535, QoS: 1, State: StateSent})
	g.PutHold(Hold{GroupPID: 3, Member: "a", MemberPID: 8, QoS: 2, State: StateSent})
	g.PutHold(Hold{GroupPID: 1, Member: "a", MemberPID: 7, QoS: 2, State: StateReleased})
	g.DeleteHold(2)
	g.DeleteHold(9) // unknown: nothing to do
	require.NoError(t, g.Flush())
	e.crash()

	want := []Hold{
		{GroupPID: 1, Member: "a", MemberPID: 7, QoS: 2, State: StateReleased},
		{GroupPID: 3, Member: "a", MemberPID: 8, QoS: 2, State: StateSent},
	}
	g = e.st.Session(id)
	require.NotNil(t, g)
	require.Equal(t, want, g.Holds())

	// Deleting the group deletes its holds: a new group of that name starts with none.
	require.NoError(t, g.Delete(context.Background()))
	e.restart()
	require.Nil(t, e.st.Session(id))
	g = e.session(id, "jobs/#")
	require.Empty(t, g.Holds())
}

// Ensure that every field of a hold round-trips, and that bad keys and values are refused with
// ErrCorruption (or ErrFormatVersion), by the loader and by CheckRecord alike.
func TestHold_Encoding(t *testing.T) {
	h := Hold{GroupPID: 0x1234, Member: "client/ü", MemberPID: 300, QoS: 2, State: StateReleased}
	key := pidKey(kindHold, "grp", h.GroupPID)
	val := encodeHold(&h)
	require.Equal(t, byte(FormatV3), val[0])
	_, _, rest, err := parseSessionKey(key)
	require.NoError(t, err)
	got, err := decodeHold(rest, val)
	require.NoError(t, err)
	require.Equal(t, h, got)
	require.NoError(t, CheckRecord(key, val))

	enc := func(h Hold) []byte { return encodeHold(&h) }
	for _, tc := range []struct {
		name       string
		rest, val  []byte
		newVersion bool
	}{
		{name: "short key", rest: rest[:1], val: val},
		{name: "long key", rest: append(rest[:2:2], 0), val: val},
		{name: "empty value", rest: rest, val: nil},
		{name: "v2 value", rest: rest, val: append([]byte{byte(FormatV2)}, val[1:]...)},
		{name: "newer value", rest: rest, val: append([]byte{byte(FormatCurrent) + 1}, val[1:]...), newVersion: true},
		{name: "truncated", rest: rest, val: val[:len(val)-1]},
		{name: "trailing byte", rest: rest, val: append(val[:len(val):len(val)], 0)},
		{name: "no member", rest: rest, val: enc(Hold{MemberPID: 1, QoS: 1, State: StateSent})},
		{name: "member pid 0", rest: rest, val: enc(Hold{Member: "a", QoS: 1, State: StateSent})},
		{name: "QoS 0", rest: rest, val: enc(Hold{Member: "a", MemberPID: 1, State: StateSent})},
		{name: "QoS 3", rest: rest, val: enc(Hold{Member: "a", MemberPID: 1, QoS: 3, State: StateSent})},
		{name: "QoS 1 released", rest: rest, val: enc(Hold{Member: "a", MemberPID: 1, QoS: 1, State: StateReleased})},
		{name: "state 0", rest: rest, val: enc(Hold{Member: "a", MemberPID: 1, QoS: 2})},
		{name: "group pid 0", rest: []byte{0, 0}, val: val},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeHold(tc.rest, tc.val)
			if tc.newVersion {
				require.ErrorIs(t, err, ErrFormatVersion)
			} else {
				require.ErrorIs(t, err, ErrCorruption)
			}
			k := append(sessionPrefix(kindHold, "grp"), tc.rest...)
			require.Error(t, CheckRecord(k, tc.val))
		})
	}
}

// Ensure that a corrupt hold record makes loading its session fail rather than be skipped.
func TestHold_CorruptRecordFailsLoad(t *testing.T) {
	e := newEnv(t)
	id := GroupSessionID("g", "jobs/#")
	g := e.session(id, "jobs/#")
	require.NoError(t, g.Flush())
	require.NoError(t, e.st.Close())
	b := e.db.NewBatch(g.shard)
	b.Put(e.st.tab, pidKey(kindHold, id, 5), []byte{byte(FormatV3), 1, 'a'}) // truncated
	require.NoError(t, e.db.Apply(context.Background(), b, ds.Sync))
	require.NoError(t, e.db.Close())
	e.db = nil

	db, err := ds.Open("data", &ds.Options{FS: e.fs, NumShards: 4, Retention: ds.RetentionOptions{Disabled: true}})
	require.NoError(t, err)
	defer db.Close()
	_, err = Open(db, e.opts)
	require.ErrorIs(t, err, ErrCorruption)
}

// Ensure that a member's packet id given back after a restart is taken (no new message gets
// it), and that Replay returns it as a transient re-send, or as PUBREL once released.
func TestRestoreTransient(t *testing.T) {
	e := newEnv(t)
	s := e.session("m")
	require.True(t, s.RestoreTransient(5, 2, StateReleased))
	require.True(t, s.RestoreTransient(6, 1, StateSent))
	require.False(t, s.RestoreTransient(5, 1, StateSent), "packet id 5 given twice")
	require.False(t, s.RestoreTransient(0, 1, StateSent))

	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Len(t, rep, 2)
	require.Equal(t, Delivery{PID: 5, QoS: 2, Dup: true, Released: true}, rep[0])
	require.Equal(t, Delivery{PID: 6, QoS: 1, Dup: true, Transient: true}, rep[1])

	for range 65533 {
		pid, ok := s.AddTransient(1)
		require.True(t, ok)
		require.NotContains(t, []uint16{5, 6}, pid)
	}
	_, ok := s.AddTransient(1)
	require.False(t, ok, "all packet ids are in flight")
	known, transient := s.Complete(5)
	require.True(t, known)
	require.True(t, transient)
}
