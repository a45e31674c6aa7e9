package durable

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

// Ensure that a group session id round-trips and never parses from a client id.
func TestGroupSessionID(t *testing.T) {
	for _, tc := range []struct{ name, filter string }{
		{"g", "jobs/#"}, {"$queue", "a/+/b"}, {"x", "$SYS/#"},
	} {
		name, filter, ok := ParseGroupSessionID(GroupSessionID(tc.name, tc.filter))
		require.True(t, ok)
		require.Equal(t, tc.name, name)
		require.Equal(t, tc.filter, filter)
	}
	for _, id := range []string{"", "client", "share/g/f", "\x00share"} {
		_, _, ok := ParseGroupSessionID(id)
		require.False(t, ok, "%q", id)
	}
}

// Ensure that a member's shared subscription is kept with its session but neither routes
// messages nor is read by the member: the group's session does both, and its backlog is there
// after a reopen.
func TestGroupSession_SharedFilterIsTheGroups(t *testing.T) {
	dir := t.TempDir()
	db, err := ds.Open(dir, &ds.Options{NumShards: 2})
	require.NoError(t, err)
	st, err := Open(db, nil)
	require.NoError(t, err)
	ctx := context.Background()

	member, err := st.Create(ctx, "m1", NeverExpire)
	require.NoError(t, err)
	_, err = member.Subscribe(Subscription{Filter: "$share/g/jobs/#", QoS: 1})
	require.NoError(t, err)
	require.False(t, st.Routes().Match("jobs/1"), "a member's shared filter is routed")

	group, err := st.Create(ctx, GroupSessionID("g", "jobs/#"), NeverExpire)
	require.NoError(t, err)
	_, err = group.Subscribe(Subscription{Filter: "jobs/#", QoS: 2, RetainAsPublished: true})
	require.NoError(t, err)
	require.True(t, st.Routes().Match("jobs/1"))

	stored, err := st.Persist(ctx, &ds.Message{ClientID: "pub", Topic: "jobs/1", QoS: 1, Payload: []byte("x")}, nil, 0)
	require.NoError(t, err)
	require.True(t, stored)
	got, err := member.Fetch(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, got, "the member read its shared filter itself")
	require.Equal(t, 1, st.Metrics().Groups)

	require.NoError(t, st.Close())
	require.NoError(t, db.Close())
	db, err = ds.Open(dir, &ds.Options{NumShards: 2})
	require.NoError(t, err)
	defer db.Close()
	st, err = Open(db, nil)
	require.NoError(t, err)
	defer st.Close()
	require.True(t, st.Routes().Match("jobs/1"))
	got, err = st.Session(GroupSessionID("g", "jobs/#")).Fetch(ctx, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "x", string(got[0].Message.Payload))
	require.NotZero(t, got[0].PID)
}
