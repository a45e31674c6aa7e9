package durable

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// env is a store on an in-memory file system that a test can crash and reopen.
type env struct {
	t    testing.TB
	fs   *vfs.MemFS
	db   *ds.DB
	st   *Store
	now  time.Time
	opts *Options
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, fs: vfs.NewCrashableMem(), now: time.Unix(1_700_000_000, 0)}
	e.opts = &Options{BatchSize: 10, Now: func() time.Time { return e.now }}
	e.open()
	t.Cleanup(func() {
		if e.db != nil {
			_ = e.st.Close()
			_ = e.db.Close()
		}
	})
	return e
}

func (e *env) open() {
	db, err := ds.Open("data", &ds.Options{FS: e.fs, NumShards: 4,
		Retention: ds.RetentionOptions{Disabled: true}, Now: func() time.Time { return e.now }})
	require.NoError(e.t, err)
	st, err := Open(db, e.opts)
	require.NoError(e.t, err)
	e.db, e.st = db, st
}

// crash drops everything not synced and reopens on what is left, as after kill -9.
func (e *env) crash() {
	crashed := e.fs.CrashClone(vfs.CrashCloneCfg{})
	_ = e.st.Close()
	_ = e.db.Close()
	e.fs = crashed
	e.open()
}

// restart closes cleanly and reopens.
func (e *env) restart() {
	require.NoError(e.t, e.st.Close())
	require.NoError(e.t, e.db.Close())
	e.open()
}

func (e *env) publish(client, topic string, qos byte, payload string) bool {
	e.t.Helper()
	stored, err := e.st.Persist(context.Background(), &ds.Message{ClientID: client, Topic: topic, QoS: qos,
		Payload: []byte(payload)}, nil, 0)
	require.NoError(e.t, err)
	return stored
}

func (e *env) session(cid string, filters ...string) *Session {
	e.t.Helper()
	s, err := e.st.Create(context.Background(), cid, time.Hour)
	require.NoError(e.t, err)
	for _, f := range filters {
		_, err := s.Subscribe(Subscription{Filter: f, QoS: 2})
		require.NoError(e.t, err)
	}
	return s
}

func fetch(t testing.TB, s *Session, max int) []Delivery {
	t.Helper()
	out, err := s.Fetch(context.Background(), max)
	require.NoError(t, err)
	return out
}

func payloads(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		s := string(d.Message.Payload)
		if d.Released {
			s = fmt.Sprintf("rel(%d)", d.PID)
		}
		if d.Dup {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}
