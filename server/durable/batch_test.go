package durable

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// inflightRecords returns the session's in-flight records (batches and v1 records) by key.
func (e *env) inflightRecords(s *Session) map[string][]byte {
	e.t.Helper()
	out := map[string][]byte{}
	require.NoError(e.t, e.st.tab.Scan(s.shard, sessionPrefix(kindInflight, s.id), func(k, v []byte) error {
		out[string(k)] = append([]byte(nil), v...)
		return nil
	}))
	return out
}

// Ensure that one read of a stream is one in-flight record whatever its size, that
// acknowledgements rewrite it and the last one deletes it, and that after a crash (no Flush)
// exactly the unfinished messages come back: DUP, same packet ids, original order, PUBREL for
// the released one. QoS 0 messages of the read are not in flight.
func TestBatchCrashReplay(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "b/#")
	qos := []byte{1, 2, 0, 1, 2, 1, 1, 2}
	for i, q := range qos {
		e.publish("p", "b/x", q, fmt.Sprint(i))
	}
	got := fetch(t, s, 100)
	require.Len(t, got, len(qos))
	require.Len(t, e.inflightRecords(s), 1, "one record for the read")
	require.Equal(t, len(qos)-1, s.InflightLen())

	s.Complete(got[0].PID) // committed below
	_, err := s.Pubrec(got[1].PID)
	require.NoError(t, err)
	s.Complete(got[3].PID)
	require.NoError(t, s.Flush())
	s.Complete(got[5].PID) // not committed: may come back after the crash

	e.crash()
	s = e.st.Session("s")
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	want := []string{fmt.Sprintf("rel(%d)*", got[1].PID), "4*", "5*", "6*", "7*"}
	if len(rep) == 4 {
		want = append(want[:2], want[3:]...) // the last acknowledgement was committed
	}
	require.Equal(t, want, payloads(rep))
	for _, d := range rep {
		n := 0
		_, err := fmt.Sscan(string(d.Message.Payload), &n)
		if d.Released {
			n = 1
		} else {
			require.NoError(t, err)
		}
		require.Equal(t, got[n].PID, d.PID, "message %d keeps its packet id", n)
		require.Equal(t, got[n].QoS, d.QoS)
	}

	// Finishing every message deletes the record.
	for _, d := range rep {
		s.Complete(d.PID)
	}
	require.NoError(t, s.Flush())
	require.Empty(t, e.inflightRecords(s))
	require.Zero(t, s.InflightLen())
	e.crash()
	rep, err = e.st.Session("s").Replay(context.Background())
	require.NoError(t, err)
	require.Empty(t, rep)
}

// Ensure that a table written by a format v1 build (one in-flight record per message) is read:
// the message is re-sent with its packet id, and the record is rewritten as a batch.
func TestLegacyInflightRecordRead(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "l/#")
	e.publish("p", "l/a", 2, "old")
	got := fetch(t, s, 10)
	require.Len(t, got, 1)
	recs := e.inflightRecords(s)
	require.Len(t, recs, 1)

	// Rewrite the batch as the v1 record an older build wrote for the same message.
	ctx := context.Background()
	for k, v := range recs {
		b, err := decodeBatch(binary.BigEndian.Uint64([]byte(k)[len(k)-8:]), v)
		require.NoError(t, err)
		f := b.entries[0]
		require.NoError(t, e.st.tab.Delete(ctx, s.shard, []byte(k)))
		require.NoError(t, e.st.tab.Put(ctx, s.shard, pidKey(kindInflight, s.id, f.pid),
			encodeInflightV1(f, b.filter, b.before)))
	}
	e.restart()
	s = e.st.Session("s")
	rep, err := s.Replay(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"old*"}, payloads(rep))
	require.Equal(t, got[0].PID, rep[0].PID)
	require.Equal(t, byte(2), rep[0].QoS)

	require.NoError(t, s.Flush())
	recs = e.inflightRecords(s)
	require.Len(t, recs, 1)
	for k := range recs {
		require.Len(t, k, len(sessionPrefix(kindInflight, s.id))+8, "rewritten as a batch")
	}
	// A new message gets another packet id and a later batch.
	e.publish("p", "l/a", 1, "new")
	next := fetch(t, s, 10)
	require.Len(t, next, 1)
	require.NotEqual(t, got[0].PID, next[0].PID)
	require.Len(t, e.inflightRecords(s), 2)
}

// Ensure that windows fetched without waiting become durable in order, and that a crash
// before a window is durable loses nothing: its messages are either replayed (the commit made
// it) or fetched again.
func TestFetchWindowPipelined(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "w/#")
	for i := range 30 {
		e.publish("p", "w/x", 1, fmt.Sprint(i))
	}
	ctx := context.Background()
	var windows []*Window
	for range 3 {
		w, err := s.FetchWindow(ctx, 10)
		require.NoError(t, err)
		require.Len(t, w.Deliveries, 10)
		windows = append(windows, w)
	}
	require.Equal(t, 30, s.InflightLen(), "fetched windows hold packet ids")
	require.NoError(t, windows[2].Wait())
	for _, w := range windows {
		require.True(t, w.Durable(), "a later window is durable only after the earlier ones")
	}

	e.publish("p", "w/x", 1, "30")
	w, err := s.FetchWindow(ctx, 10)
	require.NoError(t, err)
	require.Len(t, w.Deliveries, 1)
	e.crash() // w may or may not have been committed
	s = e.st.Session("s")
	rep, err := s.Replay(ctx)
	require.NoError(t, err)
	again := fetch(t, s, 10)
	all := append(payloads(rep), payloads(again)...)
	require.Len(t, all, 31)
	require.Contains(t, []string{"30*", "30"}, all[30])
	for i := range 30 {
		require.Equal(t, fmt.Sprint(i)+"*", all[i])
	}
}

// Ensure that loading refuses in-flight records that contradict each other: a packet id open
// in two records, or two records with one id.
func TestLoadInflightConflicts(t *testing.T) {
	e := newEnv(t)
	b := testBatch()
	val := encodeBatch(b)
	s := newSession(e.st, "x")
	require.NoError(t, s.loadInflight(batchKey("x", 1000)[len(sessionPrefix(kindInflight, "x")):], batchKey("x", 1000), val))
	other := batchKey("x", 2000)
	err := s.loadInflight(other[len(sessionPrefix(kindInflight, "x")):], other, val)
	require.ErrorIs(t, err, ErrCorruption, "the same packet ids open twice")

	s = newSession(e.st, "x")
	require.NoError(t, s.loadInflight(batchKey("x", 1000)[len(sessionPrefix(kindInflight, "x")):], batchKey("x", 1000), val))
	f := b.entries[0]
	f.pid, f.seq = 4242, 1000
	legacy := pidKey(kindInflight, "x", f.pid)
	err = s.loadInflight(legacy[len(sessionPrefix(kindInflight, "x")):], legacy, encodeInflightV1(f, "a/#", nil))
	require.ErrorIs(t, err, ErrCorruption, "a v1 record with a batch's id")
}

// Ensure that a released window's array serves a later window without leaking its old
// deliveries into it, and that a released window no longer holds its messages.
func TestWindowRelease(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "r/#")
	for i := range 20 {
		e.publish("p", "r/x", 1, fmt.Sprint(i))
	}
	ctx := context.Background()
	var got []string
	for range 4 {
		w, err := s.FetchWindow(ctx, 5)
		require.NoError(t, err)
		require.NoError(t, w.Wait())
		require.Len(t, w.Deliveries, 5)
		got = append(got, payloads(w.Deliveries)...)
		for _, d := range w.Deliveries {
			s.Complete(d.PID)
		}
		w.Release()
		require.Nil(t, w.Deliveries, "a released window holds nothing")
		w.Release() // a second call is harmless
	}
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	require.Equal(t, want, got, "reused arrays change nothing of what is fetched")

	w, err := s.FetchWindow(ctx, 5)
	require.NoError(t, err)
	require.Empty(t, w.Deliveries, "nothing left")
	w.Release()
}
