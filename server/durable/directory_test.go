package durable

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// Ensure that Open keeps client sessions compact (their meta record read, nothing loaded) and
// that Load brings back the whole state: subscriptions, in-flight entries, inbound QoS 2 packet
// ids, and the stream positions (nothing is fetched twice).
func TestDirectory_OpenCompactLoadFull(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "a/#")
	require.True(t, e.publish("p", "a/1", 1, "one"))
	require.True(t, e.publish("p", "a/1", 1, "two"))
	require.Equal(t, []string{"one"}, payloads(fetch(t, s, 1)))
	dup, _ := s.Received(9, 10)
	require.False(t, dup)
	// The inbound packet id is stored with its message (here on a topic nobody subscribes to).
	_, err := e.st.Persist(context.Background(), &ds.Message{ClientID: "s", Topic: "nowhere", QoS: 2}, s, 9)
	require.NoError(t, err)
	e.restart()

	require.Nil(t, e.st.loaded("s"), "compact after Open")
	entry, ok := e.st.Offline("s")
	require.True(t, ok)
	require.Equal(t, time.Hour, entry.Expiry())
	require.Equal(t, 1, e.st.Routes().Len())
	require.Equal(t, 1, e.st.Metrics().Sessions)

	s, err = e.st.Load("s")
	require.NoError(t, err)
	require.NotNil(t, s)
	_, ok = e.st.Offline("s")
	require.False(t, ok, "loaded: no longer compact")
	require.Equal(t, 1, s.InflightLen())
	require.Equal(t, 1, s.AwaitingRelLen())
	require.Equal(t, []string{"a/#"}, filters(s))
	rep, err := s.Replay(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"one*"}, payloads(rep))
	require.Equal(t, []string{"two"}, payloads(fetch(t, s, 10)))
	require.Equal(t, 1, e.st.Metrics().Sessions)
}

func filters(s *Session) []string {
	var out []string
	for _, sub := range s.Subscriptions() {
		out = append(out, sub.Filter)
	}
	return out
}

// Ensure that Evict makes a session compact only when nothing of it lives in memory alone,
// that the evicted object refuses changes, and that the route index is not touched (an offline
// session's messages are still stored).
func TestDirectory_Evict(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	online := e.session("online", "o")
	online.SetOnline(true)
	require.NoError(t, online.Flush())
	require.False(t, e.st.Evict(online), "online")

	transient := e.session("transient", "t")
	_, ok := transient.AddTransient(1)
	require.True(t, ok)
	require.NoError(t, transient.Flush())
	require.False(t, e.st.Evict(transient), "a transient in-flight entry is not stored")

	shared := e.session("member", "$share/g/x")
	require.NoError(t, shared.Flush())
	require.False(t, e.st.Evict(shared), "members of durable groups stay loaded")

	s := e.session("s", "a/+")
	require.NoError(t, s.Flush())
	routes := e.st.Routes().Len()
	require.True(t, e.st.Evict(s))
	require.False(t, e.st.Evict(s), "already evicted")
	require.Equal(t, routes, e.st.Routes().Len())
	require.True(t, e.publish("p", "a/1", 1, "stored while compact"))
	_, err := s.Subscribe(Subscription{Filter: "b", QoS: 1})
	require.ErrorIs(t, err, ErrSessionEnded, "the evicted object is finished")

	again := e.st.Session("s")
	require.NotNil(t, again)
	require.NotSame(t, s, again)
	require.Equal(t, []string{"a/+"}, filters(again))
	require.Equal(t, []string{"stored while compact"}, payloads(fetch(t, again, 10)))

	// Deleting a loaded-again session removes its routes once.
	require.NoError(t, again.Delete(ctx))
	require.Equal(t, routes-1, e.st.Routes().Len())
	require.Nil(t, e.st.Session("s"))
}

// Ensure that a session that was online when the process stopped is compact and offline after
// a crash, aging from the last heartbeat.
func TestDirectory_OnlineAtCrash(t *testing.T) {
	e := newEnv(t)
	s := e.session("s", "x")
	s.SetOnline(true)
	require.NoError(t, s.Flush())
	beat := e.now
	require.NoError(t, e.st.heartbeat())
	e.now = e.now.Add(time.Hour)
	e.crash()

	entry, ok := e.st.Offline("s")
	require.True(t, ok)
	require.True(t, entry.LastAlive().Equal(beat), "ages from the heartbeat: %v", entry.LastAlive())
	s, err := e.st.Load("s")
	require.NoError(t, err)
	require.False(t, s.Online())
	require.True(t, s.Expired(e.now), "an hour after the last heartbeat")
}

// Ensure that Create clears records a cut-short deletion left behind (Open no longer sees
// them: it reads meta records only).
func TestDirectory_CreateClearsOrphans(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.session("o", "x")
	require.NoError(t, s.Flush())
	orphan := pidKey(kindRel, "o", 5)
	require.NoError(t, e.st.tab.Put(ctx, s.shard, orphan, encodeTime(e.now)))
	require.NoError(t, e.st.tab.Delete(ctx, s.shard, metaKey("o")))
	e.restart()
	require.Nil(t, e.st.Session("o"), "no meta record: no session")

	s = e.session("o")
	require.Zero(t, s.AwaitingRelLen())
	e.restart()
	s, err := e.st.Load("o")
	require.NoError(t, err)
	require.Zero(t, s.AwaitingRelLen(), "the orphan is gone from storage")
}

// Ensure that an Entry's deadlines follow the session's meta record.
func TestDirectory_EntryDeadlines(t *testing.T) {
	alive := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		expiry   time.Duration
		will     *Will
		expires  bool
		willDue  time.Duration // 0: none
		expiredA time.Duration // Expired at alive+expiredA
	}{
		{expiry: time.Hour, expires: true, expiredA: time.Hour},
		{expiry: NeverExpire},
		{expiry: time.Hour, will: &Will{Delay: time.Minute}, expires: true, willDue: time.Minute, expiredA: time.Hour},
		{expiry: time.Minute, will: &Will{Delay: time.Hour}, expires: true, expiredA: time.Minute}, // published at expiry
		{expiry: NeverExpire, will: &Will{Delay: 5 * time.Second}, willDue: 5 * time.Second},
	} {
		e := entryOf(&Meta{Created: alive.Add(-time.Hour), LastAlive: alive, Expiry: tc.expiry, Will: tc.will})
		require.Equal(t, tc.expiry, e.Expiry())
		require.True(t, e.Created().Equal(alive.Add(-time.Hour)))
		at, ok := e.ExpiresAt()
		require.Equal(t, tc.expires, ok)
		if ok {
			require.True(t, at.Equal(alive.Add(tc.expiry)))
			require.False(t, e.Expired(at.Add(-time.Microsecond)))
			require.True(t, e.Expired(alive.Add(tc.expiredA)))
		}
		w, ok := e.WillAt()
		require.Equal(t, tc.willDue != 0, ok)
		if ok {
			require.True(t, w.Equal(alive.Add(tc.willDue)))
		}
	}
}
