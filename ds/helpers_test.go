package ds

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// fakeClock is a settable wall clock for deterministic timestamps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// testOptions returns options on a fresh in-memory FS with a small shard count, the reference
// layout, and retention off.
func testOptions() *Options {
	return &Options{
		FS:        vfs.NewMem(),
		NumShards: 4,
		Layout:    layout.Options{Kind: layout.KindReference},
		Retention: RetentionOptions{Disabled: true},
	}
}

// openTest opens a DB and registers a cleanup that checks its structure and closes it.
func openTest(t testing.TB, dir string, opts *Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if db.closed.Load() {
			return
		}
		require.NoError(t, db.Check())
		require.NoError(t, db.Close())
	})
	return db
}

// readAll reads every message matching filter from every stream, generation by generation.
func readAll(t testing.TB, db *DB, filter string, since uint64) []StoredMessage {
	t.Helper()
	streams, err := db.GetStreams(filter, since)
	require.NoError(t, err)
	var out []StoredMessage
	for _, rs := range streams {
		it, err := db.MakeIterator(rs.Stream, filter, since)
		require.NoError(t, err)
		for {
			msgs, next, err := db.Next(context.Background(), it, 7)
			if err == ErrEndOfStream {
				break
			}
			require.NoError(t, err)
			if len(msgs) == 0 {
				break
			}
			out = append(out, msgs...)
			it = next
		}
	}
	return out
}

func msg(client, topic, payload string) Message {
	return Message{ClientID: client, Topic: topic, Payload: []byte(payload), QoS: 1}
}

func fmtMsg(m *StoredMessage) string {
	s := fmt.Sprintf("%d %s %s %q", m.Timestamp, m.ClientID, m.Topic, m.Payload)
	if m.QoS != 0 {
		s += fmt.Sprintf(" qos=%d", m.QoS)
	}
	if m.Retain {
		s += " retain"
	}
	return s
}
