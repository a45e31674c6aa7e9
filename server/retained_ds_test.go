package server

import (
	"testing"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

func TestRetainedFormat_RoundTrip(t *testing.T) {
	now := time.UnixMicro(time.Now().UnixMicro())
	for _, m := range []*Message{
		{Topic: "a", Payload: []byte("p"), QoS: mqtt.QoS1, Retain: true, Created: now},
		{Topic: "a/b/c", Payload: make([]byte, 1000), QoS: mqtt.QoS2, Retain: true, Created: now,
			Expires: now.Add(time.Hour), Publisher: "pub", PayloadFormat: 1, ContentType: "ct", ResponseTopic: "rt",
			CorrelationData: []byte{0, 1}, User: []mqtt.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: ""}}},
	} {
		got, err := decodeRetained(m.Topic, encodeRetained(m))
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	enc := encodeRetained(&Message{Topic: "t", Payload: []byte("x"), Publisher: "p", Created: now})
	for i := 0; i < len(enc)-1; i++ { // every cut before the payload fails cleanly
		_, err := decodeRetained("t", enc[:i])
		require.Error(t, err, "truncated to %d bytes", i)
	}
	bad := append([]byte{9}, enc[1:]...)
	_, err := decodeRetained("t", bad)
	require.ErrorContains(t, err, "newer")
}

// Retained messages kept in ds survive the broker and the store being
// closed and opened again; deletes and expiry survive too.
func TestDSRetained_SurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() (*ds.DB, *DSRetained) {
		db, err := ds.Open(dir, &ds.Options{NumShards: 2})
		require.NoError(t, err)
		r, err := OpenDSRetained(db)
		require.NoError(t, err)
		return db, r
	}
	db, store := open()
	s, addr := startServer(t, &Options{Retained: store})
	p := dialRaw(t, addr, mqtt.V5)
	p.connect("p", true)
	p.publish("keep/a", "A", mqtt.QoS1, 1, true)
	p.expect(mqtt.TypePuback)
	p.publish("keep/b", "B", mqtt.QoS1, 2, true)
	p.expect(mqtt.TypePuback)
	p.publish("keep/b", "", mqtt.QoS1, 3, true)
	p.expect(mqtt.TypePuback)
	p.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "keep/short", Payload: []byte("S"), QoS: mqtt.QoS1, PacketID: 4,
		Retain: true, Properties: mqtt.Properties{MessageExpiry: 1}})
	p.expect(mqtt.TypePuback)
	require.EqualValues(t, 2, s.Metrics().Retained)
	require.NoError(t, db.Close())
	time.Sleep(1100 * time.Millisecond)

	db, store = open()
	defer db.Close()
	require.Equal(t, 1, store.Len(), "the delete and the expiry persisted")
	_, addr = startServer(t, &Options{Retained: store})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("c", true)
	c.subscribe(1, mqtt.Subscription{Filter: "keep/#"})
	m := c.expect(mqtt.TypePublish)
	require.Equal(t, "keep/a", m.Topic)
	require.Equal(t, "A", string(m.Payload))
	c.expectNothing(50 * time.Millisecond)
}
