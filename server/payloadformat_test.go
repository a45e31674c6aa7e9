package server

import (
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// A PUBLISH whose Payload Format Indicator says UTF-8 must carry UTF-8
// (MQTT5 §3.3.2.3.2). The broker checks it unless told not to: QoS 1/2 are
// answered 0x99 and not routed, QoS 0 ends the connection with DISCONNECT
// 0x99. A message that passes keeps its indicator [MQTT-3.3.2-4] v5.
func TestPayloadFormatPublish(t *testing.T) {
	const notUTF8 = "\xff\xfe"
	for _, tc := range []struct {
		name    string
		noCheck bool
		qos     mqtt.QoS
		payload string
		format  byte
		want    mqtt.ReasonCode // ack (QoS 1/2) or DISCONNECT (QoS 0); 0: delivered
	}{
		{name: "utf8 qos1", qos: mqtt.QoS1, payload: "grüße", format: 1},
		{name: "bytes without indicator", qos: mqtt.QoS1, payload: notUTF8},
		{name: "invalid qos1", qos: mqtt.QoS1, payload: notUTF8, format: 1, want: mqtt.PayloadFormatInvalid},
		{name: "invalid qos2", qos: mqtt.QoS2, payload: notUTF8, format: 1, want: mqtt.PayloadFormatInvalid},
		{name: "invalid qos0", qos: mqtt.QoS0, payload: notUTF8, format: 1, want: mqtt.PayloadFormatInvalid},
		{name: "invalid, check off", noCheck: true, qos: mqtt.QoS1, payload: notUTF8, format: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, &Options{NoPayloadFormatCheck: tc.noCheck})
			sub := dialRaw(t, addr, mqtt.V5)
			sub.connect("sub", true)
			sub.subscribe(1, mqtt.Subscription{Filter: "pf", QoS: mqtt.QoS1})
			pub := dialRaw(t, addr, mqtt.V5)
			pub.connect("pub", true)
			pub.send(&mqtt.Packet{Type: mqtt.TypePublish, Topic: "pf", Payload: []byte(tc.payload), QoS: tc.qos,
				PacketID: 7, Properties: mqtt.Properties{PayloadFormat: tc.format}})

			switch {
			case tc.qos == mqtt.QoS0 && tc.want != 0:
				d := pub.expect(mqtt.TypeDisconnect)
				require.Equal(t, tc.want, d.ReasonCode)
				pub.expectClosed()
			case tc.qos == mqtt.QoS1:
				ack := pub.expect(mqtt.TypePuback)
				require.Equal(t, tc.want, ack.ReasonCode)
			case tc.qos == mqtt.QoS2:
				ack := pub.expect(mqtt.TypePubrec)
				require.Equal(t, tc.want, ack.ReasonCode)
			}
			if tc.want != 0 {
				sub.expectNothing(100 * time.Millisecond)
				return
			}
			m := sub.expect(mqtt.TypePublish)
			require.Equal(t, tc.payload, string(m.Payload))
			require.Equal(t, tc.format, m.Properties.PayloadFormat)
		})
	}
}

// A Will that says it is UTF-8 and is not is refused at CONNECT with 0x99
// (MQTT5 §3.1.3.2.3), unless the check is off.
func TestPayloadFormatWill(t *testing.T) {
	will := func(p *mqtt.Packet) {
		p.Connect.Will = &mqtt.Will{Topic: "w", Payload: []byte{0xc3, 0x28},
			Properties: mqtt.Properties{PayloadFormat: 1}}
	}
	_, addr := startServer(t, nil)
	c := dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.PayloadFormatInvalid, c.connect("will-bad", true, will).ReasonCode)
	c.expectClosed()

	_, addr = startServer(t, &Options{NoPayloadFormatCheck: true})
	c = dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("will-bad", true, will).ReasonCode)
}
