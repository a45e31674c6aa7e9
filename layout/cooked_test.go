package layout

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireSameWrites compares two write lists; an empty key or value equals a nil one.
func requireSameWrites(t *testing.T, want, got []Write) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i].Kind, got[i].Kind, "write %d", i)
		require.True(t, bytes.Equal(want[i].Key, got[i].Key), "write %d key", i)
		require.True(t, bytes.Equal(want[i].Value, got[i].Value), "write %d value", i)
	}
}

// A batch the leader prepared crosses the wire (MarshalBinary, UnmarshalBinary) and a replica
// that applies it learns the same structure: its streams for every filter equal the leader's.
func TestCookedBatchReplicaRoundTrip(t *testing.T) {
	prefix := []byte("g1/")
	opts := Options{Thresholds: []int{100, 3}}
	var create CookedBatch
	leader, err := Create(prefix, opts, nil, &create)
	require.NoError(t, err)
	var replicaCreate CookedBatch
	replica, err := Create(prefix, opts, nil, &replicaCreate)
	require.NoError(t, err)

	var entries []Entry
	for i := 0; i < 40; i++ {
		topic := fmt.Sprintf("site/%d/dev/%d/temp", i%5, i)
		entries = append(entries, Entry{Topic: topic, Timestamp: uint64(1000 + i), Value: []byte{byte(i)}})
	}
	var cb CookedBatch
	require.NoError(t, leader.Prepare(entries, &cb))

	wire, err := cb.MarshalBinary()
	require.NoError(t, err)
	var got CookedBatch
	require.NoError(t, got.UnmarshalBinary(wire))
	requireSameWrites(t, cb.Writes, got.Writes)
	// The decoded batch owns its bytes.
	for i := range wire {
		wire[i] = 0xff
	}
	requireSameWrites(t, cb.Writes, got.Writes)

	require.NoError(t, replica.Apply(&got))
	for _, f := range []string{"site/+/dev/+/temp", "site/1/dev/6/temp", "site/#", "#", "site/3/dev/+/temp"} {
		filter := strings.Split(f, "/")
		require.Equal(t, leader.Streams(filter), replica.Streams(filter), "filter %s", f)
	}
}

func TestCookedBatchRoundTripEveryKind(t *testing.T) {
	for _, writes := range [][]Write{
		nil,
		{{Kind: WriteSet, Key: []byte("k"), Value: []byte("v")}},
		{{Kind: WriteSet, Key: nil, Value: nil}, {Kind: WriteDelete, Key: []byte("k")}},
		{{Kind: WriteDeleteRange, Key: []byte("a"), Value: []byte("b")}, {Kind: WriteSet, Key: []byte("a"), Value: bytes.Repeat([]byte{7}, 300)}},
	} {
		b := CookedBatch{Writes: writes}
		wire, err := b.MarshalBinary()
		require.NoError(t, err)
		var got CookedBatch
		require.NoError(t, got.UnmarshalBinary(wire))
		requireSameWrites(t, writes, got.Writes)
	}
}

func TestCookedBatchRejectsGarbage(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"unknown version", []byte{2, 0}, "unknown format version 2"},
		{"no count", []byte{1}, "bad uvarint"},
		{"count beyond the input", []byte{1, 2, 1, 0, 0}, "above"},
		{"truncated key", []byte{1, 1, 1, 5, 'a', 0}, "truncated"},
		{"truncated value", []byte{1, 1, 1, 1, 'a', 3}, "truncated"},
		{"unknown kind", []byte{1, 1, 9, 0, 0}, "unknown write kind 9"},
		{"kind zero", []byte{1, 1, 0, 0, 0}, "unknown write kind 0"},
		{"delete with a value", []byte{1, 1, 2, 1, 'k', 1, 'v'}, "delete with a value"},
		{"trailing bytes", []byte{1, 1, 1, 0, 0, 0}, "trailing bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := CookedBatch{Writes: []Write{{Kind: WriteSet, Key: []byte("keep")}}}
			err := b.UnmarshalBinary(tc.data)
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, "keep", string(b.Writes[0].Key), "a failed decode leaves the batch as it was")
		})
	}
}

func TestCookedBatchMarshalRefusesBadWrites(t *testing.T) {
	for _, w := range []Write{{Kind: 0}, {Kind: 4}, {Kind: WriteDelete, Key: []byte("k"), Value: []byte("v")}} {
		_, err := (&CookedBatch{Writes: []Write{w}}).MarshalBinary()
		require.Error(t, err, "%+v", w)
	}
}
