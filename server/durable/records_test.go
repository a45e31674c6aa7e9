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

	b := testBatch()
	gotB, err := decodeBatch(b.id, encodeBatch(b))
	require.NoError(t, err)
	require.Equal(t, b.entries, gotB.entries)
	gotB.entries, b.entries = nil, nil
	require.Equal(t, b, gotB)

	f := &inflight{pid: 5, seq: 77, qos: 2, state: StateReleased, retain: true, subIDs: []uint32{1, 2}, key: []byte{1, 2}}
	gotF, filter, before, err := decodeInflightV1(5, encodeInflightV1(f, "a/#", []byte{3}))
	require.NoError(t, err)
	require.Equal(t, f, gotF)
	require.Equal(t, "a/#", filter)
	require.Equal(t, []byte{3}, before)

	ended, it, err := decodeCursor(encodeCursor(true, []byte{4, 5}))
	require.NoError(t, err)
	require.True(t, ended)
	require.Equal(t, []byte{4, 5}, it)
}

// testBatch is a batch of every entry kind: consecutive and wrapping packet ids, keys with and
// without shared prefixes, each state, QoS and retain flag.
func testBatch() *batch {
	b := &batch{id: 1000, filter: "a/#", subIDs: []uint32{7}, before: []byte{9, 8, 7}, read: 6}
	for i, e := range []struct {
		pid    uint16
		qos    byte
		state  State
		retain bool
		key    string
	}{
		{65534, 1, StateSent, false, "stream/0001"},
		{65535, 2, StateReleased, true, "stream/0002"},
		{1, 2, StateSent, false, "stream/0010"},
		{7, 1, stateDone, false, "other"},
		{8, 2, StateSent, true, "other/longer"},
	} {
		f := &inflight{pid: e.pid, seq: b.id + uint64(i), qos: e.qos, state: e.state, retain: e.retain,
			subIDs: b.subIDs, key: []byte(e.key), b: b}
		b.entries = append(b.entries, f)
		if e.state != stateDone {
			b.open++
		}
	}
	return b
}

// encodeInflightV1 writes the per-message record of format v1 (what older builds wrote).
func encodeInflightV1(f *inflight, filter string, before []byte) []byte {
	e := encoder{}
	e.byte(byte(FormatV1))
	e.uvarint(f.seq)
	e.byte(f.qos)
	e.byte(byte(f.state))
	e.bool(f.retain)
	e.uvarint(uint64(len(f.subIDs)))
	for _, id := range f.subIDs {
		e.uvarint(uint64(id))
	}
	e.string(filter)
	e.bytes(f.key)
	e.bytes(before)
	return e.b
}

// Ensure that every truncation and a newer version are refused with a clear error, never a
// panic or a silently wrong value.
func TestRecordCorruption(t *testing.T) {
	meta := encodeMeta(&Meta{Expiry: time.Minute, Subs: map[string]Subscription{"x": {Filter: "x", QoS: 1}}})
	infl := encodeInflightV1(&inflight{pid: 1, seq: 1, qos: 1, state: StateSent, key: []byte{1}}, "x", nil)
	bat := encodeBatch(testBatch())
	for i := range len(meta) {
		_, err := decodeMeta(meta[:i])
		require.ErrorIs(t, err, ErrCorruption, "meta cut at %d", i)
	}
	for i := range len(infl) {
		_, _, _, err := decodeInflightV1(1, infl[:i])
		require.ErrorIs(t, err, ErrCorruption, "inflight cut at %d", i)
	}
	for i := range len(bat) {
		_, err := decodeBatch(1, bat[:i])
		require.ErrorIs(t, err, ErrCorruption, "batch cut at %d", i)
	}
	newer := append([]byte{byte(FormatCurrent) + 1}, meta[1:]...)
	_, err := decodeMeta(newer)
	require.ErrorIs(t, err, ErrFormatVersion)
	_, err = decodeBatch(1, append([]byte{byte(FormatCurrent) + 1}, bat[1:]...))
	require.ErrorIs(t, err, ErrFormatVersion)
	_, err = decodeBatch(1, append([]byte{byte(FormatV1)}, bat[1:]...))
	require.ErrorIs(t, err, ErrCorruption, "batches exist since v2")
	_, _, _, err = decodeInflightV1(1, append([]byte{byte(FormatV2)}, infl[1:]...))
	require.ErrorIs(t, err, ErrFormatVersion, "per-message records are v1 only")
	_, err = decodeMeta(append(meta, 0))
	require.ErrorIs(t, err, ErrCorruption, "trailing bytes")
	bad := encodeInflightV1(&inflight{pid: 1, seq: 1, qos: 1, state: StateReleased}, "", nil)
	_, _, _, err = decodeInflightV1(1, bad)
	require.ErrorIs(t, err, ErrCorruption, "QoS 1 cannot be released")

	for _, tc := range []struct {
		name string
		mod  func(b *batch)
	}{
		{"QoS 1 released", func(b *batch) { b.entries[0].state = StateReleased }},
		{"QoS 0", func(b *batch) { b.entries[0].qos = 0 }},
		{"packet id 0", func(b *batch) { b.entries[0].pid = 0 }},
		{"fewer read than entries", func(b *batch) { b.read = 2 }},
	} {
		b := testBatch()
		tc.mod(b)
		_, err := decodeBatch(b.id, encodeBatch(b))
		require.ErrorIs(t, err, ErrCorruption, tc.name)
	}
	_, _, err = decodeInflightRecord([]byte{1, 2, 3}, bat)
	require.ErrorIs(t, err, ErrCorruption, "in-flight key of 3 bytes")
}

func TestSessionKeys(t *testing.T) {
	for _, cid := range []string{"", "a", "client/with/slashes", string(make([]byte, 300))} {
		kind, got, rest, err := parseSessionKey(pidKey(kindRel, cid, 0x1234))
		require.NoError(t, err)
		require.Equal(t, byte(kindRel), kind)
		require.Equal(t, cid, got)
		require.Equal(t, []byte{0x12, 0x34}, rest)
		kind, got, rest, err = parseSessionKey(batchKey(cid, 0x0102030405060708))
		require.NoError(t, err)
		require.Equal(t, byte(kindInflight), kind)
		require.Equal(t, cid, got)
		require.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, rest)
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
