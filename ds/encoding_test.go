package ds

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt/topic"
)

func TestMessageEncodingRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte("temperature=21.5;"), 20)
	cases := []struct {
		name     string
		m        Message
		compress bool
	}{
		{name: "minimal", m: Message{Topic: "t"}},
		{name: "plain", m: Message{ClientID: "c1", Topic: "a/b", Payload: []byte("hi"), QoS: 2, Retain: true}},
		{name: "all properties", m: Message{ClientID: "c", Topic: "t", Payload: []byte{0, 1, 2}, QoS: 1,
			Properties: Properties{
				ContentType: "application/json", CorrelationData: []byte("corr"), ResponseTopic: "reply/to",
				UserProperties: []UserProperty{{"k", "v"}, {"k", "v2"}, {"", ""}},
				PayloadFormat:  1, MessageExpiry: 0, HasMessageExpiry: true,
			}}},
		{name: "empty correlation data survives", m: Message{Topic: "t", Properties: Properties{CorrelationData: []byte{}}}},
		{name: "compressed", m: Message{ClientID: "c", Topic: "t", Payload: long}, compress: true},
		{name: "incompressible stays raw", m: Message{Topic: "t", Payload: []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?")}, compress: true},
		{name: "short not compressed", m: Message{Topic: "t", Payload: []byte("aaaaaaaa")}, compress: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc := appendMessage(nil, &c.m, c.compress)
			if c.name == "compressed" {
				require.Less(t, len(enc), len(c.m.Payload)/2)
			}
			var got Message
			require.NoError(t, decodeMessage(enc, &got))
			want := c.m
			want.Topic = "" // stored by the layout, not in the value
			if want.Payload == nil {
				want.Payload = []byte{}
			}
			require.Equal(t, want, got)
		})
	}
}

func TestMessageDecodingRejectsCorruption(t *testing.T) {
	good := appendMessage(nil, &Message{ClientID: "client", Topic: "t", Payload: []byte("p"),
		Properties: Properties{ContentType: "x", UserProperties: []UserProperty{{"a", "b"}}}}, false)
	cases := map[string][]byte{
		"empty":           {},
		"version 0":       {0, 0, 0},
		"version 2":       append([]byte{2}, good[1:]...),
		"unknown flag":    {1, 0x20, 0},
		"truncated id":    {1, 0, 5, 'a'},
		"qos 3":           {1, 3, 0},
		"unknown prop":    {1, flagProps, 0, 0x40},
		"huge user count": {1, flagProps, 0, propUser, 0xff, 0xff, 0x03},
		"bad compressed":  {1, flagCompressed, 0, 0xff, 0xff},
		"truncated props": good[:len(good)-4],
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var m Message
			err := decodeMessage(b, &m)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrCorruption), "%v", err)
		})
	}
}

func TestValidateTopicsAndFilters(t *testing.T) {
	for _, name := range []string{"a", "a/b", "/", "a//b", "$SYS/x", "日本"} {
		require.NoError(t, checkTopicName(name), name)
	}
	// Each refusal wraps ErrInvalidTopic and the rule it breaks.
	for name, rule := range map[string]error{
		"":      topic.ErrEmpty,          // [MQTT-4.7.3-1] v5
		"a/+":   topic.ErrWildcardInName, // [MQTT-4.7.0-1] v5
		"#":     topic.ErrWildcardInName,
		"a/b#":  topic.ErrWildcardInName,
		"a\x00": topic.ErrNUL,         // [MQTT-4.7.3-2] v5
		"\xff":  topic.ErrInvalidUTF8, // [MQTT-1.5.4-1] v5
	} {
		require.ErrorIs(t, checkTopicName(name), ErrInvalidTopic, name)
		require.ErrorIs(t, checkTopicName(name), rule, name)
	}
	for _, f := range []string{"#", "+", "a/+/b", "a/#", "+/+", "/#"} {
		_, err := filterLevels(f)
		require.NoError(t, err, f)
	}
	for f, rule := range map[string]error{
		"":       topic.ErrEmpty,
		"a#":     topic.ErrMultiLevelWildcard, // [MQTT-4.7.1-1] v5
		"a/#/b":  topic.ErrMultiLevelWildcard,
		"a+/b":   topic.ErrSingleLevelWildcard, // [MQTT-4.7.1-2] v5
		"a/\x00": topic.ErrNUL,
		"\xff":   topic.ErrInvalidUTF8,
	} {
		_, err := filterLevels(f)
		require.ErrorIs(t, err, ErrInvalidTopic, f)
		require.ErrorIs(t, err, rule, f)
	}
	m := Message{Topic: "t", QoS: 3}
	require.ErrorIs(t, m.validate(), ErrInvalidMessage)
	m = Message{Topic: "t", Properties: Properties{PayloadFormat: 2}}
	require.ErrorIs(t, m.validate(), ErrInvalidMessage)
}

func TestIteratorMarshalRoundTrip(t *testing.T) {
	it := Iterator{rank: Rank{Shard: 3, Generation: 7}, stream: []byte{1, 2}, filter: "a/+/c",
		levels: []string{"a", "+", "c"}, pos: []byte{9, 9, 9}}
	b, err := it.MarshalBinary()
	require.NoError(t, err)
	var got Iterator
	require.NoError(t, got.UnmarshalBinary(b))
	require.Equal(t, it, got)
	for i := range b {
		require.Error(t, got.UnmarshalBinary(b[:i]), "prefix %d", i)
	}
	require.ErrorIs(t, got.UnmarshalBinary(append(b, 0)), ErrBadIterator)

	s := Stream{rank: Rank{Shard: 1, Generation: 2}, layout: []byte("s")}
	b, err = s.MarshalBinary()
	require.NoError(t, err)
	var gs Stream
	require.NoError(t, gs.UnmarshalBinary(b))
	require.Equal(t, s, gs)
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v = v*9/8 + 1 {
		b := bucketOf(v)
		require.GreaterOrEqual(t, b, prev)
		require.LessOrEqual(t, v, bucketUpper(b), "v=%d", v)
		if b > 0 {
			require.Greater(t, v, bucketUpper(b-1), "v=%d", v)
		}
		prev = b
	}
	require.Less(t, bucketOf(^uint64(0)), histogramBuckets)
}
