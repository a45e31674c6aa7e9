package durable

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
)

func TestRecordRoundTrip(t *testing.T) {
	m := &Meta{
		Created: time.UnixMicro(1), LastAlive: time.UnixMicro(2), Expiry: NeverExpire, Online: true,
		Will: &Will{Delay: 3 * time.Second, Message: ds.Message{ClientID: "c", Topic: "w", Payload: []byte{1}, QoS: 2,
			Retain: true, Properties: ds.Properties{ContentType: "ct", CorrelationData: []byte("cd"), ResponseTopic: "rt",
				UserProperties: []ds.UserProperty{{Key: "k", Value: "v"}}, PayloadFormat: 1, MessageExpiry: 9,
				HasMessageExpiry: true}}},
		Subs: map[string]Subscription{
			"a/#": {Filter: "a/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, SubscriptionID: 7, Since: 99},
			"b":   {Filter: "b"},
		},
	}
	got, err := decodeMeta(encodeMeta(m))
	require.NoError(t, err)
	require.Equal(t, m, got)

	f := &inflight{pid: 5, seq: 77, qos: 2, state: StateReleased, retain: true, subIDs: []uint32{1, 2},
		filter: "a/#", key: []byte{1, 2}, before: []byte{3}}
	gotF, err := decodeInflight(5, encodeInflight(f))
	require.NoError(t, err)
	require.Equal(t, f, gotF)

	ended, it, err := decodeCursor(encodeCursor(true, []byte{4, 5}))
	require.NoError(t, err)
	require.True(t, ended)
	require.Equal(t, []byte{4, 5}, it)
}

// Ensure that every truncation and a newer version are refused with a clear error, never a
// panic or a silently wrong value.
func TestRecordCorruption(t *testing.T) {
	meta := encodeMeta(&Meta{Expiry: time.Minute, Subs: map[string]Subscription{"x": {Filter: "x", QoS: 1}}})
	infl := encodeInflight(&inflight{pid: 1, seq: 1, qos: 1, state: StateSent, filter: "x", key: []byte{1}})
	for i := range len(meta) {
		_, err := decodeMeta(meta[:i])
		require.ErrorIs(t, err, ErrCorruption, "meta cut at %d", i)
	}
	for i := range len(infl) {
		_, err := decodeInflight(1, infl[:i])
		require.ErrorIs(t, err, ErrCorruption, "inflight cut at %d", i)
	}
	newer := append([]byte{byte(FormatCurrent) + 1}, meta[1:]...)
	_, err := decodeMeta(newer)
	require.ErrorIs(t, err, ErrFormatVersion)
	_, err = decodeMeta(append(meta, 0))
	require.ErrorIs(t, err, ErrCorruption, "trailing bytes")
	bad := encodeInflight(&inflight{pid: 1, seq: 1, qos: 1, state: StateReleased})
	_, err = decodeInflight(1, bad)
	require.ErrorIs(t, err, ErrCorruption, "QoS 1 cannot be released")
}

func TestSessionKeys(t *testing.T) {
	for _, cid := range []string{"", "a", "client/with/slashes", string(make([]byte, 300))} {
		kind, got, rest, err := parseSessionKey(pidKey(kindInflight, cid, 0x1234))
		require.NoError(t, err)
		require.Equal(t, byte(kindInflight), kind)
		require.Equal(t, cid, got)
		require.Equal(t, []byte{0x12, 0x34}, rest)
		_, _, rest, err = parseSessionKey(cursorKey(cid, "f/+", []byte("stream")))
		require.NoError(t, err)
		require.Equal(t, []byte("stream"), streamOfCursorKey(rest))
	}
	_, _, _, err := parseSessionKey([]byte{kindMeta, 9, 'a'})
	require.ErrorIs(t, err, ErrCorruption)
}

// Ensure that CheckRecord accepts every record a session writes and refuses damaged ones.
func TestCheckRecord(t *testing.T) {
	e := newEnv(t)
	s := e.session("c", "a/#")
	require.NoError(t, s.Configure(time.Hour, &Will{Message: ds.Message{ClientID: "c", Topic: "w"}}))
	e.publish("p", "a/b", 2, "x")
	got := fetch(t, s, 10)
	_, err := s.Pubrec(got[0].PID)
	require.NoError(t, err)
	s.Received(3, 10)
	_, err = e.st.Persist(context.Background(), &ds.Message{ClientID: "c", Topic: "z", QoS: 2}, s, 3)
	require.NoError(t, err)
	require.NoError(t, s.Flush())
	kinds := map[byte]bool{}
	for shard := range e.db.NumShards() {
		require.NoError(t, e.st.tab.Scan(shard, nil, func(k, v []byte) error {
			kinds[k[0]] = true
			require.NoError(t, CheckRecord(k, v), "key %q", k)
			require.Error(t, CheckRecord(k, v[:len(v)-1]), "key %q truncated", k)
			return nil
		}))
	}
	require.Len(t, kinds, 5, "every kind of record seen")
	require.Error(t, CheckRecord([]byte("x\x01a"), nil))
	require.Error(t, CheckRecord(append(metaKey("c"), 0), nil))
}
