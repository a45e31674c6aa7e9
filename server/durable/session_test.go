package durable

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// Ensure that a message is stored only when a durable subscription matches, and once for any
// number of subscribers.
func TestPersistOnlyWhenRouted(t *testing.T) {
	e := newEnv(t)
	require.False(t, e.publish("p", "a/1", 1, "x"))
	e.session("s1", "a/+")
	e.session("s2", "a/#")
	require.True(t, e.publish("p", "a/1", 1, "y"))
	require.False(t, e.publish("p", "b/1", 1, "z"))
	m := e.st.Metrics()
	require.EqualValues(t, 1, m.Persisted)
	require.EqualValues(t, 2, m.PersistSkipped)
	require.Equal(t, 2, m.Routes)

	// The route index is rebuilt from the session records.
	e.crash()
	require.True(t, e.st.Routes().Match("a/2"))
	require.False(t, e.st.Routes().Match("b"))
}

// Ensure that a subscription receives what is published after it, in order, in batches no
// larger than asked, with QoS downgraded and packet ids unique.
func TestFetchOrderAndWindow(t *testing.T) {
	e := newEnv(t)
	e.publish("p", "t/1", 1, "before")
	s := e.session("s", "t/+")
	_, err := s.Subscribe(Subscription{Filter: "t/+", QoS: 1}) // replace: QoS 1, same start
	require.NoError(t, err)
	for i := range 25 {
		e.publish("p", "t/1", byte(i%3), fmt.Sprint(i))
	}
	var got []string
	pids := map[uint16]bool{}
	for {
		ds := fetch(t, s, 7)
		if len(ds) == 0 {
			break
		}
		require.LessOrEqual(t, len(ds), 7)
		for _, d := range ds {
			got = append(got, string(d.Message.Payload))
			require.LessOrEqual(t, d.QoS, byte(1))
			if d.QoS > 0 {
				require.False(t, pids[d.PID], "pid %d reused while in flight", d.PID)
				pids[d.PID] = true
			}
		}
	}
	want := make([]string, 25)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	require.Equal(t, want, got)
	require.Equal(t, len(pids), s.InflightLen())
}

// Ensure that after a crash only the in-flight window is re-sent, with DUP and the original
// packet ids, and that fetching continues behind it.
func TestCrashReplaysInflightWindow(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "t/#")
	for i := range 10 {
		e.publish("p", "t/x", 1, fmt.Sprint(i))
	}
	first := fetch(t, s, 4) // 0..3 in flight
	s.Complete(first[0].PID)
	s.Complete(first[1].PID)
	require.NoError(t, s.Flush())

	e.crash()
	s = e.st.Session("s")
	require.NotNil(t, s)
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"2*", "3*"}, payloads(rep))
	require.Equal(t, first[2].PID, rep[0].PID)
	require.Equal(t, first[3].PID, rep[1].PID)
	require.Equal(t, []string{"4", "5", "6", "7", "8", "9"}, payloads(fetch(t, s, 100)))
	// New packet ids avoid the ones still in flight.
	require.Equal(t, 8, s.InflightLen())
}

// Ensure that an acknowledgement lost in a crash (not yet committed) only causes a DUP re-send,
// and a committed one is never re-sent.
func TestAckProgressCommitted(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "t")
	for i := range 3 {
		e.publish("p", "t", 1, fmt.Sprint(i))
	}
	ds := fetch(t, s, 3)
	for _, d := range ds {
		s.Complete(d.PID)
	}
	require.NoError(t, s.Flush())
	e.crash()
	s = e.st.Session("s")
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Empty(t, rep)
	require.Empty(t, fetch(t, s, 10))
}

// Ensure QoS 2 exactly once: after PUBREC the message is re-sent only as PUBREL.
func TestQoS2ReleasedNeverResentAsPublish(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "q")
	e.publish("p", "q", 2, "a")
	e.publish("p", "q", 2, "b")
	ds := fetch(t, s, 10)
	require.Len(t, ds, 2)
	known, err := s.Pubrec(ds[0].PID)
	require.NoError(t, err)
	require.True(t, known)
	known, err = s.Pubrec(999)
	require.NoError(t, err)
	require.False(t, known)

	e.crash() // Pubrec waited for durability: no Flush needed
	s = e.st.Session("s")
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf("rel(%d)*", ds[0].PID), "b*"}, payloads(rep))
	known, _ = s.Complete(ds[0].PID)
	require.True(t, known)
}

// Ensure that a QoS 2 PUBLISH re-sent after a crash is recognized and not stored twice.
func TestInboundQoS2SurvivesCrash(t *testing.T) {
	e := newEnv(t)
	e.session("sub", "x")
	pub := e.session("pub")
	dup, full := pub.Received(7, 10)
	require.False(t, dup || full)
	stored, err := e.st.Persist(context.Background(), &ds.Message{ClientID: "pub", Topic: "x", QoS: 2}, pub, 7)
	require.NoError(t, err)
	require.True(t, stored)

	e.crash()
	pub = e.st.Session("pub")
	dup, _ = pub.Received(7, 10)
	require.True(t, dup, "the re-sent PUBLISH is a duplicate")
	require.True(t, pub.ReleaseInbound(7))
	require.False(t, pub.ReleaseInbound(7))
	require.NoError(t, pub.Flush())
	e.crash()
	require.Zero(t, e.st.Session("pub").AwaitingRelLen())
	require.Len(t, fetch(t, e.st.Session("sub"), 10), 1, "stored once")
}

// Ensure that Receive Maximum style limits hold for inbound QoS 2.
func TestInboundQoS2Limit(t *testing.T) {
	e := newEnv(t)
	s := e.session("s")
	for pid := uint16(1); pid <= 3; pid++ {
		dup, full := s.Received(pid, 3)
		require.False(t, dup || full)
	}
	_, full := s.Received(4, 3)
	require.True(t, full)
	e.now = e.now.Add(time.Hour)
	s.ExpireInbound(e.now.Add(-time.Minute))
	_, full = s.Received(4, 3)
	require.False(t, full)
}

// Ensure that NoLocal, Retain As Published, subscription ids and message expiry apply.
func TestFetchOptions(t *testing.T) {
	e := newEnv(t)
	s := e.session("me")
	_, err := s.Subscribe(Subscription{Filter: "a", QoS: 2, NoLocal: true, RetainAsPublished: true, SubscriptionID: 9})
	require.NoError(t, err)
	_, err = e.st.Persist(context.Background(), &ds.Message{ClientID: "me", Topic: "a", QoS: 1, Payload: []byte("own")}, nil, 0)
	require.NoError(t, err)
	_, err = e.st.Persist(context.Background(), &ds.Message{ClientID: "p", Topic: "a", QoS: 1, Retain: true,
		Payload: []byte("r")}, nil, 0)
	require.NoError(t, err)
	_, err = e.st.Persist(context.Background(), &ds.Message{ClientID: "p", Topic: "a", QoS: 1, Payload: []byte("old"),
		Properties: ds.Properties{HasMessageExpiry: true, MessageExpiry: 1}}, nil, 0)
	require.NoError(t, err)
	e.now = e.now.Add(time.Hour) // the expiring message is now expired
	got := fetch(t, s, 10)
	require.Equal(t, []string{"r"}, payloads(got))
	require.True(t, got[0].Retain)
	require.Equal(t, []uint32{9}, got[0].SubIDs)
	require.EqualValues(t, 1, e.st.Metrics().Expired)
}

// Ensure that deleting a session removes every record and route, also across a crash.
func TestDelete(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "a/#")
	e.publish("p", "a/b", 1, "x")
	fetch(t, s, 10)
	require.NoError(t, s.Delete(context.Background()))
	require.Nil(t, e.st.Session("s"))
	require.False(t, e.st.Routes().Match("a/b"))
	e.crash()
	require.Nil(t, e.st.Session("s"))
	n := 0
	for shard := range e.db.NumShards() {
		require.NoError(t, e.st.tab.Scan(shard, nil, func(k, _ []byte) error {
			if k[0] != kindHeartbeat {
				n++
			}
			return nil
		}))
	}
	require.Zero(t, n, "no record left")

	// Create over an existing session replaces it (Clean Start).
	s = e.session("s", "a/#")
	s2 := e.session("s")
	require.Empty(t, s2.Subscriptions())
	require.False(t, e.st.Routes().Match("a/b"))
}

// Ensure that a session online when the process died ages from the last heartbeat.
func TestHeartbeatAging(t *testing.T) {
	e := newEnv(t)
	s := e.session("s")
	require.NoError(t, s.Configure(time.Minute, &Will{Message: ds.Message{ClientID: "s", Topic: "w", Payload: []byte("bye")},
		Delay: 5 * time.Second}))
	s.SetOnline(true)
	require.NoError(t, s.Flush())
	e.now = e.now.Add(30 * time.Second)
	require.NoError(t, e.st.heartbeat())
	e.now = e.now.Add(time.Hour) // the restart happens much later
	e.crash()
	s = e.st.Session("s")
	m := s.Meta()
	require.False(t, m.Online)
	require.Equal(t, e.now.Add(-time.Hour), m.LastAlive, "from the heartbeat, not from the restart")
	require.True(t, s.Expired(e.now))
	require.NotNil(t, m.Will)
	require.Equal(t, "bye", string(m.Will.Message.Payload))
	require.Equal(t, 5*time.Second, m.Will.Delay)
	require.NotNil(t, s.TakeWill())
	require.Nil(t, s.TakeWill())
}

// Ensure that unsubscribing stops delivery but leaves in-flight messages to be acknowledged.
func TestUnsubscribe(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "a", "b")
	e.publish("p", "a", 1, "1")
	got := fetch(t, s, 10)
	require.Len(t, got, 1)
	existed, err := s.Unsubscribe("a")
	require.NoError(t, err)
	require.True(t, existed)
	existed, _ = s.Unsubscribe("a")
	require.False(t, existed)
	require.False(t, e.publish("p", "a", 1, "2"))
	require.True(t, e.publish("p", "b", 1, "3"))
	require.Equal(t, []string{"3"}, payloads(fetch(t, s, 10)))
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"1*", "3*"}, payloads(rep))
}

// Ensure that a new generation is read after the old one ends, keeping order, and that an
// unread dropped generation counts as lost.
func TestGenerations(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "g/#")
	e.publish("p", "g/1", 1, "a")
	_, err := e.db.AddGeneration()
	require.NoError(t, err)
	e.publish("p", "g/1", 1, "b")
	require.Equal(t, []string{"a", "b"}, payloads(fetch(t, s, 10)))

	// A whole generation dropped before it is read.
	s2 := e.session("s2", "g/#")
	e.publish("p", "g/2", 1, "c")
	gens, err := e.db.AddGeneration()
	require.NoError(t, err)
	e.publish("p", "g/2", 1, "d")
	shard := ds.ShardOf("p", e.db.NumShards())
	for _, g := range gens {
		if g.Shard == shard {
			require.NoError(t, e.db.DropGeneration(ds.Rank{Shard: shard, Generation: g.ID - 1}))
		}
	}
	got := payloads(fetch(t, s2, 10))
	require.Contains(t, got, "d")
	require.NotContains(t, got, "c")
}

// Ensure that with a RenewInterval a new stream is found once the interval has passed, and
// that RenewPending says when to look again; and that a drained stream is read again after a
// commit of its shard.
func TestRenewInterval(t *testing.T) {
	e := newEnv(t)
	e.st.opts.RenewInterval = time.Hour
	s := e.session("s", "r/#")
	require.Empty(t, fetch(t, s, 10)) // renews: asked to by Subscribe
	e.publish("p", "r/new", 1, "x")   // a new stream
	require.True(t, s.RenewPending())
	require.Empty(t, fetch(t, s, 10), "renewal spaced out")
	s.Touch()
	require.Equal(t, []string{"x"}, payloads(fetch(t, s, 10)))
	require.False(t, s.RenewPending())
	e.publish("p", "r/new", 1, "y") // same stream: no renewal needed
	require.Equal(t, []string{"y"}, payloads(fetch(t, s, 10)))
}

// Ensure that a message in flight whose generation retention dropped is not re-sent after a
// restart but counted as expired, and that delivery goes on in the next generation.
func TestRetentionDropsInflight(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "k")
	e.publish("p", "k", 1, "old")
	require.Len(t, fetch(t, s, 10), 1) // in flight, never acknowledged
	gens, err := e.db.AddGeneration()
	require.NoError(t, err)
	e.publish("p", "k", 1, "new")
	shard := ds.ShardOf("p", e.db.NumShards())
	for _, g := range gens {
		if g.Shard == shard {
			require.NoError(t, e.db.DropGeneration(ds.Rank{Shard: shard, Generation: g.ID - 1}))
		}
	}
	e.crash()
	s = e.st.Session("s")
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Empty(t, rep)
	require.EqualValues(t, 1, e.st.Metrics().Expired)
	require.Zero(t, s.InflightLen())
	require.Equal(t, []string{"new"}, payloads(fetch(t, s, 10)))
}

// Ensure that sessions reading the same stream position share one storage read while the shard
// has not committed since, and read again once it has.
func TestSharedReads(t *testing.T) {
	e := newEnv(t)
	a, b := e.session("a", "sh/#"), e.session("b", "sh/#")
	for i := range 5 {
		e.publish("p", "sh/x", 1, fmt.Sprint(i))
	}
	want := []string{"0", "1", "2", "3", "4"}
	require.Equal(t, want, payloads(fetch(t, a, 10)))
	// b's own writes (a's commit) may move the shard's epoch; then it reads storage itself.
	shared := e.st.Metrics().ReadsShared
	require.Equal(t, want[:2], payloads(fetch(t, b, 2)))
	require.Equal(t, want[2:], payloads(fetch(t, b, 10)))
	t.Logf("reads shared: %d (before b: %d)", e.st.Metrics().ReadsShared, shared)
	e.publish("p", "sh/x", 1, "5")
	require.Equal(t, []string{"5"}, payloads(fetch(t, a, 10)))
	require.Equal(t, []string{"5"}, payloads(fetch(t, b, 10)))
}

func TestReadCacheEpochs(t *testing.T) {
	e := newEnv(t)
	s := e.session("a", "rc")
	e.publish("p", "rc", 1, "0")
	fetch(t, s, 10) // creates the cursor
	streams, err := e.db.GetStreams("rc", 0)
	require.NoError(t, err)
	it, err := e.db.MakeIterator(streams[0].Stream, "rc", 0)
	require.NoError(t, err)
	ctx := context.Background()
	first, _, ep, err := e.st.next(ctx, it, 10)
	require.NoError(t, err)
	require.Len(t, first, 1)
	before := e.st.stats.readsShared.Load()
	again, _, ep2, err := e.st.next(ctx, it, 10)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Equal(t, ep, ep2)
	require.Equal(t, before+1, e.st.stats.readsShared.Load(), "same position, same epoch: shared")
	e.publish("p", "rc", 1, "1")
	more, _, ep3, err := e.st.next(ctx, it, 10)
	require.NoError(t, err)
	require.Len(t, more, 2, "after a commit the read goes to storage")
	require.NotEqual(t, ep, ep3)
}

// A session created for a connection that attaches at once is stored with its Will and as
// online in one commit, which is durable (it survives a crash).
func TestCreateOnline_OneCommit(t *testing.T) {
	e := newEnv(t)
	before := e.st.Metrics().Commits
	will := &Will{Message: ds.Message{ClientID: "c", Topic: "gone/c", Payload: []byte("bye"), QoS: 1}, Delay: 5 * time.Second}
	s, err := e.st.CreateOnline(context.Background(), "c", time.Hour, will)
	require.NoError(t, err)
	require.EqualValues(t, 1, e.st.Metrics().Commits-before, "one commit")
	require.True(t, s.Online())
	require.NoError(t, s.Flush())
	require.EqualValues(t, 1, e.st.Metrics().Commits-before, "nothing left to commit")
	m, ok, err := e.st.StoredMeta("c")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, m.Online)

	e.crash()
	m, ok, err = e.st.StoredMeta("c")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, time.Hour, m.Expiry)
	require.NotNil(t, m.Will)
	require.Equal(t, "gone/c", m.Will.Message.Topic)
	require.Equal(t, 5*time.Second, m.Will.Delay)
}
