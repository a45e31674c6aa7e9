package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/stretchr/testify/require"
)

// Every malformed or forbidden input of the codec's golden table, sent over
// a real socket: a v5 client gets DISCONNECT (or CONNACK, for a bad CONNECT)
// with the table's reason code and is closed [MQTT-4.13.1-1] v5; a 3.x
// client is closed [MQTT-4.8.0-1] v3.1.1, after a CONNACK return code where
// 3.x has one. Afterwards the broker still serves other clients.
func TestMalformedInput(t *testing.T) {
	s, addr := startServer(t, nil)
	n := 0
	for i, tc := range mqtttest.Invalid {
		if tc.Raw == nil || (tc.MaxPacketSize != 0 && tc.MaxPacketSize < 64) {
			continue // encode-only cases; limits below what a broker may configure
		}
		n++
		t.Run(fmt.Sprintf("%02d/%s", i, strings.ReplaceAll(tc.Desc, " ", "_")), func(t *testing.T) {
			if tc.Version == 0 {
				checkBadConnect(t, addr, tc)
			} else {
				checkBadPacket(t, addr, tc, fmt.Sprintf("bad-%d", i))
			}
			// The broker is still there for everyone else.
			ok := dialRaw(t, addr, mqtt.V5)
			ok.connect(fmt.Sprintf("good-%d", i), true)
			ok.send(&mqtt.Packet{Type: mqtt.TypePingreq})
			ok.expect(mqtt.TypePingresp)
		})
	}
	require.Greater(t, n, 60, "the golden table drives this test")
	m := s.Metrics()
	require.Positive(t, m.Disconnects[CauseMalformed])
	require.Positive(t, m.Disconnects[CauseProtocol])
	require.Positive(t, m.Disconnects[CauseTooLarge])
}

// checkBadPacket sends tc after a successful CONNECT at tc.Version.
func checkBadPacket(t *testing.T, addr string, tc mqtttest.Case, id string) {
	c := dialRaw(t, addr, tc.Version)
	require.Equal(t, mqtt.Success, c.connect(id, true).ReasonCode)
	c.sendBytes(tc.Raw)
	if tc.Version == mqtt.V5 {
		d := c.expect(mqtt.TypeDisconnect)
		require.Equal(t, tc.Code, d.ReasonCode, "rule %s", tc.Rule)
	}
	c.expectClosed()
}

// checkBadConnect sends tc as the first packet. The version the CONNECT
// announces decides the answer, as the codec reports it.
func checkBadConnect(t *testing.T, addr string, tc mqtttest.Case) {
	_, _, err := mqtt.Decode(tc.Raw, 0)
	var me *mqtt.Error
	require.True(t, errors.As(err, &me), "the table says this fails: %v", err)
	v := me.Version
	if !v.Valid() {
		v = mqtt.V311 // an unknown level is answered the 3.1.1 way
	}
	c := dialRaw(t, addr, v)
	c.sendBytes(tc.Raw)
	if tc.Raw[0]>>4 != byte(mqtt.TypeConnect) {
		c.expectClosed() // [MQTT-3.1.0-1] v5
		return
	}
	_, v3ok := mqtt.V3ConnackCode(tc.Code)
	if v == mqtt.V5 || v3ok {
		ack := c.expect(mqtt.TypeConnack) // [MQTT-3.1.4-1] v5, [MQTT-3.2.2-5] v3.1.1
		require.Equal(t, tc.Code, ack.ReasonCode, "rule %s", tc.Rule)
	}
	c.expectClosed()
}
