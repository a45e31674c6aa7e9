package peering

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server"
)

func sampleMessages() []Forwarded {
	now := time.Unix(1_800_000_000, 123456789)
	return []Forwarded{
		{Message: &server.Message{Topic: "a/b", Payload: []byte("hello"), QoS: mqtt.QoS1, Publisher: "p1", Created: now}, Plain: true},
		{Message: &server.Message{Topic: "sensors/1/temp", Payload: nil, QoS: mqtt.QoS2, Retain: true, Created: now,
			Expires: now.Add(time.Minute), PayloadFormat: 1, ContentType: "text/plain", ResponseTopic: "r/1",
			CorrelationData: []byte{0, 1, 2}, User: []mqtt.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: ""}}},
			Groups: []string{"$share/g/sensors/#", "$share/$queue/+/1/temp"}},
		{Message: &server.Message{Topic: "$SYS/x", QoS: mqtt.QoS0, Created: now}, Plain: true, Groups: []string{"$share/h/$SYS/#"}},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	for _, msgs := range [][]Forwarded{nil, sampleMessages()} {
		got, err := UnmarshalBatch(MarshalBatch(msgs))
		require.NoError(t, err)
		require.Len(t, got, len(msgs))
		for i, f := range msgs {
			require.Equal(t, f.Plain, got[i].Plain)
			require.Equal(t, f.Groups, got[i].Groups)
			m, g := f.Message, got[i].Message
			require.Equal(t, m.Topic, g.Topic)
			require.Equal(t, string(m.Payload), string(g.Payload))
			require.Equal(t, m.QoS, g.QoS)
			require.Equal(t, m.Retain, g.Retain)
			require.Equal(t, m.Publisher, g.Publisher)
			require.True(t, m.Created.Equal(g.Created))
			require.True(t, m.Expires.Equal(g.Expires), "expires %v, want %v", g.Expires, m.Expires)
			require.Equal(t, m.PayloadFormat, g.PayloadFormat)
			require.Equal(t, m.ContentType, g.ContentType)
			require.Equal(t, m.ResponseTopic, g.ResponseTopic)
			require.Equal(t, string(m.CorrelationData), string(g.CorrelationData))
			require.Equal(t, m.User, g.User)
		}
	}
}

func TestRoutesRoundTrip(t *testing.T) {
	for _, u := range []*RouteUpdate{
		{Epoch: 7, Seq: 0, Full: true},
		{Epoch: 7, Seq: 3, Changes: []RouteChange{{"a/#", true}, {"+/b", false}, {"$share/g/x", true}}},
	} {
		got, err := UnmarshalRoutes(u.Marshal())
		require.NoError(t, err)
		require.Equal(t, u, got)
	}
}

// Every corruption is an error, never a panic or a message that breaks the rules.
func TestDecodersRefuse(t *testing.T) {
	good := MarshalBatch(sampleMessages())
	for name, body := range map[string][]byte{
		"empty":          {},
		"version":        append([]byte{2}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte(nil), good...), 0),
		"huge count":     {wireVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad topic":      MarshalBatch([]Forwarded{{Message: &server.Message{Topic: "a/+"}}}),
		"qos 3":          MarshalBatch([]Forwarded{{Message: &server.Message{Topic: "a", QoS: 3}}}),
		"payload format": MarshalBatch([]Forwarded{{Message: &server.Message{Topic: "a", PayloadFormat: 2}}}),
		"plain group":    MarshalBatch([]Forwarded{{Message: &server.Message{Topic: "a"}, Groups: []string{"a/#"}}}),
		"queue form":     MarshalBatch([]Forwarded{{Message: &server.Message{Topic: "a"}, Groups: []string{"$queue/a"}}}),
	} {
		_, err := UnmarshalBatch(body)
		require.Error(t, err, name)
	}
	for name, u := range map[string]*RouteUpdate{
		"bad filter":        {Changes: []RouteChange{{"a/#/b", true}}},
		"removal in a full": {Full: true, Changes: []RouteChange{{"a", false}}},
	} {
		_, err := UnmarshalRoutes(u.Marshal())
		require.Error(t, err, name)
	}
	_, err := UnmarshalRoutes([]byte{wireVersion, 1})
	require.Error(t, err)
}
