package layout

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mqttds/mqttds/lts"
	"github.com/stretchr/testify/require"
)

func TestWildcardNewGenerationInheritsWildcards(t *testing.T) {
	db := openMemDB(t)
	opts := Options{Thresholds: []int{100, 2}}
	var b CookedBatch
	g1, err := Create([]byte("g1"), opts, nil, &b)
	require.NoError(t, err)
	var entries []Entry
	for i := range 10 {
		entries = append(entries, Entry{Topic: fmt.Sprintf("dev/%d/temp", i), Timestamp: uint64(i + 1)})
	}
	require.NoError(t, g1.Prepare(entries, &b))
	commit(t, db, &b)

	filter := splitLevels("dev/+/temp")
	wildStream := g1.Streams(filter)[2] // dev/0, dev/1 concrete; then dev/+
	st, err := g1.(*wildcard).decodeStream(wildStream)
	require.NoError(t, err)
	require.Len(t, st.varying, 1)

	// The new generation keeps the '+' path and its static index, and forgets concrete topics.
	g2, err := Create([]byte("g2"), opts, g1, &b)
	require.NoError(t, err)
	require.Equal(t, []Stream{wildStream}, g2.Streams(filter))
	commit(t, db, &b)
	reopened, err := Open(db, []byte("g2"), opts)
	require.NoError(t, err)
	require.Equal(t, []Stream{wildStream}, reopened.Streams(filter))

	// A narrower index holds these small ids...
	b.Writes = nil
	g3, err := Create([]byte("g3"), Options{TopicIndexBytes: 1, Thresholds: []int{100, 2}}, g1, &b)
	require.NoError(t, err)
	require.Equal(t, []Stream{wildStream}, g3.Streams(filter))
	// ...but not ids above 255: the generation starts empty.
	g5, err := Create([]byte("g5"), Options{Thresholds: []int{1000, 2}}, nil, &b)
	require.NoError(t, err)
	entries = entries[:0]
	for i := range 300 {
		entries = append(entries, Entry{Topic: fmt.Sprintf("c%d", i), Timestamp: uint64(i + 1)})
	}
	for i := range 10 {
		entries = append(entries, Entry{Topic: fmt.Sprintf("dev/%d/temp", i), Timestamp: uint64(i + 400)})
	}
	require.NoError(t, g5.Prepare(entries, &b))
	b.Writes = nil
	g6, err := Create([]byte("g6"), Options{TopicIndexBytes: 1}, g5, &b)
	require.NoError(t, err)
	require.Empty(t, b.Writes)
	require.Empty(t, g6.Streams(filter))

	// Inheriting from a reference generation is starting empty.
	ref, err := Create([]byte("r"), Options{Kind: KindReference}, nil, &b)
	require.NoError(t, err)
	g4, err := Create([]byte("g4"), opts, ref, &b)
	require.NoError(t, err)
	require.Empty(t, g4.Streams(filter))
}

// TestWildcardPrepareFailureKeepsStructure exhausts a 1-byte topic index: the failed batch is
// dropped, and the structure it learned is written by the next batch, so that the trie
// restored from pebble matches the one in memory.
func TestWildcardPrepareFailureKeepsStructure(t *testing.T) {
	db := openMemDB(t)
	opts := Options{TopicIndexBytes: 1, Thresholds: []int{1000}}
	var b CookedBatch
	l, err := Create([]byte("g"), opts, nil, &b)
	require.NoError(t, err)
	ts := uint64(0)
	var failed bool
	for i := 0; i < 200 && !failed; i += 10 {
		var entries []Entry
		for j := range 10 {
			ts++
			entries = append(entries, Entry{Topic: fmt.Sprintf("t%d", i+j), Timestamp: ts})
		}
		var batch CookedBatch
		err := l.Prepare(entries, &batch)
		if err != nil {
			require.True(t, errors.Is(err, lts.ErrIndexExhausted), "%v", err)
			failed = true
			continue // ds drops the batch
		}
		commit(t, db, &batch)
	}
	require.True(t, failed, "the index never ran out")

	// The next batch re-learns nothing new for known topics, yet persists what the failed one
	// learned.
	var batch CookedBatch
	require.NoError(t, l.Prepare([]Entry{{Topic: "t0", Timestamp: ts + 1}}, &batch))
	commit(t, db, &batch)
	reopened, err := Open(db, []byte("g"), opts)
	require.NoError(t, err)
	require.Equal(t, l.(*wildcard).trie.Ops(), reopened.(*wildcard).trie.Ops())
}

func TestWildcardRejectsBadInput(t *testing.T) {
	db := openMemDB(t)
	var b CookedBatch
	l, err := Create([]byte("g"), Options{}, nil, &b)
	require.NoError(t, err)
	require.NoError(t, l.Prepare([]Entry{{Topic: "a/b", Timestamp: 5}}, &b))
	commit(t, db, &b)
	s := l.Streams([]string{"a", "b"})[0]
	f := []string{"a", "b"}
	bounds := ReadBounds{Visible: 10}

	for _, bad := range []Stream{nil, {9}, append(append(Stream(nil), s...), 0), s[:len(s)-1]} {
		_, err := l.NewPosition(bad, f, 0)
		require.ErrorIs(t, err, ErrBadPosition, "stream %x", []byte(bad))
		_, _, err = l.Next(db, bad, f, timePosition(0), 1, bounds, &Stats{})
		require.ErrorIs(t, err, ErrBadPosition)
	}
	for _, bad := range []Position{nil, {1}, {1, 'T', 0}, {2, 'T', 0, 0, 0, 0, 0, 0, 0, 0}, {1, 'K', 0}, {1, 'X', 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, _, err := l.Next(db, s, f, bad, 1, bounds, &Stats{})
		require.ErrorIs(t, err, ErrBadPosition, "position %x", []byte(bad))
	}
	require.NoError(t, l.Prepare([]Entry{{Topic: "c", Timestamp: 7}}, &b))
	commit(t, db, &b)
	other := l.Streams([]string{"c"})
	items, _, err := l.Next(db, other[0], []string{"c"}, timePosition(0), 1, bounds, &Stats{})
	require.NoError(t, err)
	require.Len(t, items, 1)
	_, _, err = l.Next(db, s, f, items[0].After, 1, bounds, &Stats{})
	require.ErrorIs(t, err, ErrBadPosition, "a key position of another stream")
	_, err = l.PositionAfter(s, f, items[0].Key)
	require.ErrorIs(t, err, ErrBadPosition, "a key of another stream")
	_, err = l.PositionAfter(s, f, []byte("gm-not-a-key"))
	require.ErrorIs(t, err, ErrBadPosition)
	require.Error(t, l.Prepare([]Entry{{Topic: "a/+", Timestamp: 6}}, &b))

	// A trie key that does not decode is corruption, reported by Open.
	pb := db.NewBatch()
	require.NoError(t, pb.Set([]byte("gt-garbage"), []byte{1}, nil))
	require.NoError(t, pb.Commit(nil))
	_, err = Open(db, []byte("g"), Options{})
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestWildcardPositionAfterMatchesItemAfterInKeyOrder(t *testing.T) {
	db := openMemDB(t)
	var b CookedBatch
	l, err := Create([]byte("g"), Options{EpochBits: 4, Thresholds: []int{1}}, nil, &b)
	require.NoError(t, err)
	var entries []Entry
	for i := range 40 {
		entries = append(entries, Entry{Topic: fmt.Sprintf("x/%d", i%7), Timestamp: uint64(i + 1)})
	}
	require.NoError(t, l.Prepare(entries, &b))
	commit(t, db, &b)
	f := []string{"x", "+"}
	for _, s := range l.Streams(f) {
		pos, err := l.NewPosition(s, f, 0)
		require.NoError(t, err)
		// Closed: every epoch is complete, so every item is read in key order.
		items, _ := readAll(t, l, db, s, f, pos, 3, ReadBounds{Visible: 41, Closed: true}, &Stats{})
		require.NotEmpty(t, items)
		for _, it := range items {
			p, err := l.PositionAfter(s, f, it.Key)
			require.NoError(t, err)
			require.Equal(t, it.After, p)
		}
	}
}

// TestWildcardPositionAfterLastKeyOfEpoch: the position after a key whose hash and low time
// bits are all ones is the start of the next epoch. When that epoch is still open, the
// reader must read it in time order rather than wait for it to complete.
func TestWildcardPositionAfterLastKeyOfEpoch(t *testing.T) {
	db := openMemDB(t)
	var b CookedBatch
	l, err := Create([]byte("g"), Options{TopicIndexBytes: 2, BitsPerTopicLevel: 8, EpochBits: 4, Thresholds: []int{0}}, nil, &b)
	require.NoError(t, err)
	w := l.(*wildcard)
	top := ""
	for i := 0; top == ""; i++ {
		if v := fmt.Sprintf("v%d", i); w.hashLevel(v) == 0xff {
			top = v
		}
	}
	require.NoError(t, l.Prepare([]Entry{{Topic: top, Timestamp: 31}}, &b)) // epoch 1, low 15
	commit(t, db, &b)
	f := []string{"+"}
	s := l.Streams(f)[0]
	pos, err := l.NewPosition(s, f, 0)
	require.NoError(t, err)
	items, _, err := l.Next(db, s, f, pos, 1, ReadBounds{Visible: 32}, &Stats{})
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "K(idx=2 epoch=2 h=00 low=0)", formatPosition(w, s, items[0].After))

	require.NoError(t, l.Prepare([]Entry{{Topic: "v", Timestamp: 33}}, &b))
	commit(t, db, &b)
	items, pos, err = l.Next(db, s, f, items[0].After, 5, ReadBounds{Visible: 34}, &Stats{})
	require.NoError(t, err)
	require.Len(t, items, 1, "a visible message of the open epoch must be readable")
	require.Equal(t, uint64(33), items[0].Timestamp)
	require.Equal(t, "T(34)", formatPosition(w, s, pos))
}
