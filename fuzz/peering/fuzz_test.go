package peeringfuzz

import (
	"bytes"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/peering"
)

// FuzzBatch feeds arbitrary bytes to the message batch decoder: it must return an error or
// messages that keep the rules (valid topic names, QoS at most 2, shared filters as groups),
// and what it decodes must encode to the same bytes.
func FuzzBatch(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(peering.MarshalBatch(nil))
	f.Add(peering.MarshalBatch([]peering.Forwarded{
		{Message: &server.Message{Topic: "a/b", Payload: []byte("x"), QoS: mqtt.QoS1, Publisher: "p", Created: now}, Plain: true},
		{Message: &server.Message{Topic: "c", QoS: mqtt.QoS2, Retain: true, Created: now, Expires: now.Add(time.Second), PayloadFormat: 1,
			ContentType: "t", ResponseTopic: "r", CorrelationData: []byte{1}, User: []mqtt.UserProperty{{Key: "k", Value: "v"}}},
			Groups: []string{"$share/g/c", "$share/$queue/#"}},
	}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := peering.UnmarshalBatch(data)
		if err != nil {
			return
		}
		for _, f := range msgs {
			m := f.Message
			if err := topic.ValidateName(m.Topic); err != nil || m.QoS > mqtt.QoS2 {
				t.Fatalf("decoded a message that breaks the rules: %q QoS %d", m.Topic, m.QoS)
			}
			for _, g := range f.Groups {
				if sf, err := topic.ParseFilter(g); err != nil || !sf.Shared() {
					t.Fatalf("decoded a group that is not a shared filter: %q", g)
				}
			}
		}
		if again := peering.MarshalBatch(msgs); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data, again)
		}
	})
}

// FuzzRoutes does the same for route updates: valid filters only, and a stable encoding.
func FuzzRoutes(f *testing.F) {
	f.Add((&peering.RouteUpdate{Epoch: 1, Full: true, Changes: []peering.RouteChange{{Filter: "a/#", Present: true}}}).Marshal())
	f.Add((&peering.RouteUpdate{Epoch: 1, Seq: 2, Changes: []peering.RouteChange{{Filter: "+/b"}, {Filter: "$share/g/c", Present: true}}}).Marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := peering.UnmarshalRoutes(data)
		if err != nil {
			return
		}
		for _, c := range u.Changes {
			if err := topic.ValidateFilter(c.Filter); err != nil {
				t.Fatalf("decoded an invalid filter %q", c.Filter)
			}
		}
		if again := u.Marshal(); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data, again)
		}
	})
}
