package mqttfuzz

import (
	"bytes"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest/pahoconv"
	"github.com/stretchr/testify/require"
)

// FuzzPahoAgrees is a differential test with an independent decoder: whatever our decoder accepts,
// Eclipse Paho's must read to the same packet (paho.golang for 5.0, paho.mqtt.golang for 3.x).
// Paho is laxer than we are, so the converse is not checked. Round trips cannot catch an encoder
// and a decoder that misread a field the same way; this can.
func FuzzPahoAgrees(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, vb byte, data []byte) {
		p, n, err := mqtt.Decode(data, versionOf(vb))
		if err != nil {
			return
		}
		raw := data[:n]
		v := versionOf(vb)
		if p.Type == mqtt.TypeConnect {
			v = p.Connect.ProtocolVersion
		}
		if v == mqtt.V5 {
			checkPaho5(t, &p, raw)
		} else {
			checkPaho3(t, &p, raw, v)
		}
	})
}

func checkPaho5(t *testing.T, p *mqtt.Packet, raw []byte) {
	cp, err := paho5.ReadPacket(bytes.NewReader(raw))
	if p.Type == mqtt.TypeDisconnect && len(raw) == 2 {
		return // paho.golang cannot read the 0-length DISCONNECT of MQTT5 §3.14.2.1
	}
	require.NoError(t, err, "paho refuses % x, we read %s", raw, p)
	got, err := pahoconv.FromPaho5(cp)
	require.NoError(t, err)
	want := pahoconv.Comparable(p, false)
	if ids := want.Properties.SubscriptionIDs; len(ids) > 1 {
		want.Properties.SubscriptionIDs = ids[len(ids)-1:] // paho keeps the last one only
	}
	require.Equal(t, want, got, "% x", raw)
}

func checkPaho3(t *testing.T, p *mqtt.Packet, raw []byte, v mqtt.Version) {
	for _, f := range p.Filters {
		if f == "" {
			return // paho.mqtt.golang reads an empty filter as the end of an UNSUBSCRIBE
		}
	}
	cp, err := paho3.ReadPacket(bytes.NewReader(raw))
	require.NoError(t, err, "paho refuses % x, we read %s", raw, p)
	got, err := pahoconv.FromPaho3(cp)
	require.NoError(t, err)
	if v == mqtt.V31 {
		got.SessionPresent = false // paho reads CONNACK without knowing 3.1 has no such flag
	}
	require.Equal(t, *p, got, "% x", raw)
}
