package layout

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func splitLevels(s string) []string { return strings.Split(s, "/") }

// quietLogger keeps pebble's informational messages out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (quietLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// openMemDB opens an in-memory pebble for a test.
func openMemDB(t testing.TB) *pebble.DB {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quietLogger{}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// commit applies a cooked batch to db as one pebble batch, as ds does.
func commit(t testing.TB, db *pebble.DB, b *CookedBatch) {
	pb := db.NewBatch()
	for _, w := range b.Writes {
		var err error
		switch w.Kind {
		case WriteSet:
			err = pb.Set(w.Key, w.Value, nil)
		case WriteDelete:
			err = pb.Delete(w.Key, nil)
		case WriteDeleteRange:
			err = pb.DeleteRange(w.Key, w.Value, nil)
		}
		require.NoError(t, err)
	}
	require.NoError(t, pb.Commit(pebble.NoSync))
	b.Writes = nil
}

// readAll drains stream with batches of n and returns the items.
func readAll(t testing.TB, l Layout, db pebble.Reader, s Stream, filter []string, pos Position, n int, bounds ReadBounds, stats *Stats) ([]Item, Position) {
	var all []Item
	for i := 0; ; i++ {
		require.Less(t, i, 1<<20, "read does not terminate")
		items, next, err := l.Next(db, s, filter, pos, n, bounds, stats)
		require.NoError(t, err)
		require.LessOrEqual(t, len(items), n)
		pos = next
		if len(items) == 0 {
			return all, pos
		}
		all = append(all, items...)
	}
}

func TestReferenceReadsInTimestampOrder(t *testing.T) {
	db := openMemDB(t)
	var b CookedBatch
	l, err := Create([]byte("g1"), Options{Kind: KindReference}, nil, &b)
	require.NoError(t, err)
	topics := []string{"a/b", "a/c", "x/y", "$SYS/up", "a/b/c"}
	var entries []Entry
	for i := 0; i < 50; i++ {
		entries = append(entries, Entry{Topic: topics[i%len(topics)], Timestamp: uint64(10 + 3*i), Value: []byte{byte(i)}})
	}
	require.NoError(t, l.Prepare(entries, &b))
	commit(t, db, &b)

	filter := splitLevels("a/+")
	streams := l.Streams(filter)
	require.Len(t, streams, 1)
	pos, err := l.NewPosition(streams[0], filter, 40)
	require.NoError(t, err)
	var stats Stats
	items, _ := readAll(t, l, db, streams[0], filter, pos, 3, ReadBounds{Visible: 100}, &stats)
	var got []uint64
	for _, it := range items {
		require.True(t, it.Topic == "a/b" || it.Topic == "a/c")
		got = append(got, it.Timestamp)
		p, err := l.PositionAfter(streams[0], filter, it.Key)
		require.NoError(t, err)
		require.Equal(t, it.After, p)
		require.Equal(t, []byte{byte((it.Timestamp - 10) / 3)}, it.Value)
	}
	// Timestamps 40..99 visible: i = 10..29; topics a/b, a/c are i%5 in {0,1}.
	require.Equal(t, []uint64{40, 43, 55, 58, 70, 73, 85, 88}, got)
	// Batches of 3, 3, 2: the short one moves the position to Visible, so the fourth call does
	// not touch pebble.
	require.Equal(t, uint64(3), stats.Seeks)

	_, err = l.NewPosition(Stream("nope"), filter, 0)
	require.ErrorIs(t, err, ErrBadPosition)
	_, _, err = l.Next(db, streams[0], filter, Position("bad"), 3, ReadBounds{Visible: 100}, &stats)
	require.ErrorIs(t, err, ErrBadPosition)
}
