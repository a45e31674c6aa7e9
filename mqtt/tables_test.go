package mqtt_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/stretchr/testify/require"
)

// The per-packet reason code sets of Table 2-6, as listed next to the rules that bind them.
func TestReasonCodeSets(t *testing.T) {
	sets := map[mqtt.Type][]byte{
		mqtt.TypeConnack: {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
			0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}, // [MQTT-3.2.2-8]
		mqtt.TypePuback:  {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}, // [MQTT-3.4.2-1]
		mqtt.TypePubrec:  {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}, // [MQTT-3.5.2-1]
		mqtt.TypePubrel:  {0x00, 0x92},                                           // [MQTT-3.6.2-1]
		mqtt.TypePubcomp: {0x00, 0x92},                                           // [MQTT-3.7.2-1]
		mqtt.TypeSuback: {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1,
			0xA2}, // [MQTT-3.9.3-2]
		mqtt.TypeUnsuback: {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}, // [MQTT-3.11.3-2]
		mqtt.TypeDisconnect: {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E,
			0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0,
			0xA1, 0xA2}, // [MQTT-3.14.2-1]
		mqtt.TypeAuth: {0x00, 0x18, 0x19}, // [MQTT-3.15.2-1]
	}
	for typ := mqtt.TypeConnect; typ <= mqtt.TypeAuth; typ++ {
		var got []byte
		for c := 0; c < 256; c++ {
			if mqtt.ReasonCode(c).ValidFor(typ) {
				got = append(got, byte(c))
			}
		}
		require.Equal(t, sets[typ], got, "%s", typ)
	}
}

func TestReasonCodeStrings(t *testing.T) {
	require.Equal(t, "Not authorized", mqtt.NotAuthorized.String())
	require.Equal(t, "mqtt: Not authorized (0x87)", mqtt.NotAuthorized.Error())
	require.Equal(t, "Normal disconnection", mqtt.NormalDisconnection.Name(mqtt.TypeDisconnect))
	require.Equal(t, "Granted QoS 0", mqtt.GrantedQoS0.Name(mqtt.TypeSuback))
	require.Equal(t, "Success", mqtt.Success.Name(mqtt.TypePuback))
	require.Equal(t, "ReasonCode(0x03)", mqtt.ReasonCode(3).String())
	require.False(t, mqtt.ReasonCode(3).Known())
	require.True(t, mqtt.MalformedPacket.IsError())
	require.False(t, mqtt.NoMatchingSubscribers.IsError())

	var err error = mqtt.QuotaExceeded
	require.True(t, errors.Is(err, mqtt.QuotaExceeded))
	require.Equal(t, mqtt.QuotaExceeded, mqtt.Reason(fmt.Errorf("storing: %w", err)))
	require.Equal(t, mqtt.UnspecifiedError, mqtt.Reason(errors.New("disk on fire")))
	require.Equal(t, mqtt.Success, mqtt.Reason(nil))
}

// The 3.1.1 CONNACK return codes map to and from their v5 counterparts, and codes with no 3.x
// counterpart for a broken CONNECT report ok=false ([MQTT-3.2.2-6] v3.1.1).
func TestV3ConnackCode(t *testing.T) {
	for code, rc := range []mqtt.ReasonCode{mqtt.Success, mqtt.UnsupportedProtocolVersion,
		mqtt.ClientIdentifierNotValid, mqtt.ServerUnavailable, mqtt.BadUserNameOrPassword, mqtt.NotAuthorized} {
		got, ok := mqtt.V3ConnackCode(rc)
		require.True(t, ok)
		require.Equal(t, byte(code), got)
	}
	for _, rc := range []mqtt.ReasonCode{mqtt.MalformedPacket, mqtt.ProtocolError, mqtt.PacketTooLarge} {
		_, ok := mqtt.V3ConnackCode(rc)
		require.False(t, ok, "%s", rc)
	}
	for c := 0; c < 256; c++ {
		rc := mqtt.ReasonCode(c)
		if rc.ValidFor(mqtt.TypeConnack) {
			if code, ok := mqtt.V3ConnackCode(rc); ok {
				require.LessOrEqual(t, code, byte(5))
				require.Equal(t, rc == mqtt.Success, code == 0, "%s", rc)
			}
		}
	}
	require.Equal(t, byte(0x80), mqtt.V3SubackCode(mqtt.NotAuthorized))
	require.Equal(t, byte(0x02), mqtt.V3SubackCode(mqtt.GrantedQoS2))
}

// table24 is Table 2-4 written out independently of the codec: which packets may carry each
// property.
var table24 = map[mqtt.PropID]string{
	mqtt.PropPayloadFormat:        "PUBLISH Will",
	mqtt.PropMessageExpiry:        "PUBLISH Will",
	mqtt.PropContentType:          "PUBLISH Will",
	mqtt.PropResponseTopic:        "PUBLISH Will",
	mqtt.PropCorrelationData:      "PUBLISH Will",
	mqtt.PropSubscriptionID:       "PUBLISH SUBSCRIBE",
	mqtt.PropSessionExpiry:        "CONNECT CONNACK DISCONNECT",
	mqtt.PropAssignedClientID:     "CONNACK",
	mqtt.PropServerKeepAlive:      "CONNACK",
	mqtt.PropAuthMethod:           "CONNECT CONNACK AUTH",
	mqtt.PropAuthData:             "CONNECT CONNACK AUTH",
	mqtt.PropRequestProblemInfo:   "CONNECT",
	mqtt.PropWillDelay:            "Will",
	mqtt.PropRequestResponseInfo:  "CONNECT",
	mqtt.PropResponseInfo:         "CONNACK",
	mqtt.PropServerReference:      "CONNACK DISCONNECT",
	mqtt.PropReasonString:         "CONNACK PUBACK PUBREC PUBREL PUBCOMP SUBACK UNSUBACK DISCONNECT AUTH",
	mqtt.PropReceiveMaximum:       "CONNECT CONNACK",
	mqtt.PropTopicAliasMaximum:    "CONNECT CONNACK",
	mqtt.PropTopicAlias:           "PUBLISH",
	mqtt.PropMaximumQoS:           "CONNACK",
	mqtt.PropRetainAvailable:      "CONNACK",
	mqtt.PropUser:                 "CONNECT CONNACK PUBLISH PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK DISCONNECT AUTH Will",
	mqtt.PropMaximumPacketSize:    "CONNECT CONNACK",
	mqtt.PropWildcardSubAvailable: "CONNACK",
	mqtt.PropSubIDAvailable:       "CONNACK",
	mqtt.PropSharedSubAvailable:   "CONNACK",
}

func TestPropertyTable(t *testing.T) {
	table := table24
	for id := mqtt.PropID(0); id < 64; id++ {
		var in []string
		for typ := mqtt.TypeConnect; typ <= mqtt.TypeAuth; typ++ {
			if id.AllowedIn(typ) {
				in = append(in, typ.String())
			}
			require.Equal(t, id.AllowedIn(typ), mqtt.AllowedProps(typ).Has(id))
		}
		if id.AllowedInWill() {
			in = append(in, "Will")
		}
		require.Equal(t, table[id], strings.Join(in, " "), "%s", id)
	}
}

// The golden table covers every packet type at 3.1.1 and 5.0, CONNECT at 3.1, and every property.
func TestGoldenCoverage(t *testing.T) {
	types := map[mqtt.Version]map[mqtt.Type]bool{}
	var props mqtt.PropSet
	for _, c := range mqtttest.Valid {
		if types[c.Version] == nil {
			types[c.Version] = map[mqtt.Type]bool{}
		}
		types[c.Version][c.Packet.Type] = true
		props |= c.Packet.Properties.Set()
		if c.Packet.Connect != nil && c.Packet.Connect.Will != nil {
			props |= c.Packet.Connect.Will.Properties.Set()
		}
	}
	for typ := mqtt.TypeConnect; typ <= mqtt.TypeAuth; typ++ {
		require.True(t, types[mqtt.V5][typ], "no 5.0 %s", typ)
		if typ != mqtt.TypeAuth {
			require.True(t, types[mqtt.V311][typ], "no 3.1.1 %s", typ)
		}
	}
	require.True(t, types[mqtt.V31][mqtt.TypeConnect])
	for id := range table24 {
		require.True(t, props.Has(id), "property %s not in the golden table", id)
	}
	// Every rule cited by an invalid case is distinct enough to read: list them for reviewers.
	rules := map[string]bool{}
	for _, c := range mqtttest.Invalid {
		require.NotEmpty(t, c.Rule, c.Desc)
		rules[c.Rule] = true
	}
	var ids []string
	for r := range rules {
		ids = append(ids, r)
	}
	sort.Strings(ids)
	t.Logf("%d invalid cases cite %d rules: %s", len(mqtttest.Invalid), len(ids), strings.Join(ids, ", "))
}

func TestPacketString(t *testing.T) {
	for _, c := range []struct {
		p    mqtt.Packet
		want string
	}{
		{benchPublish, `PUBLISH qos1 id=42 topic="sensors/room1/temp/c" payload=37B`},
		{mqtttest.Valid[1].Packet, `CONNECT v3.1.1 client="id" keepalive=30 clean will="w/t" user="user"`},
		{mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.SessionTakenOver}, `DISCONNECT reason="Session taken over"`},
		{mqtt.Packet{Type: mqtt.TypeSuback, PacketID: 3, ReasonCodes: []mqtt.ReasonCode{1, 0x80}}, `SUBACK id=3 0x1 0x80`},
		{mqtt.Packet{Type: mqtt.TypePuback, PacketID: 9, Properties: mqtt.Properties{ReasonString: "x"}}, `PUBACK id=9 props=1`},
	} {
		require.Equal(t, c.want, c.p.String())
		require.Equal(t, c.want, c.p.LogValue().String())
	}
}

func TestReasonCodeFormat(t *testing.T) {
	c := mqtt.NotAuthorized
	require.Equal(t, "Not authorized", fmt.Sprintf("%v", c))
	require.Equal(t, "Not authorized", fmt.Sprintf("%s", c))
	require.Equal(t, `"Not authorized"`, fmt.Sprintf("%q", c))
	require.Equal(t, "mqtt: Not authorized (0x87)", fmt.Sprintf("%+v", c))
	require.Equal(t, "0x87 135", fmt.Sprintf("%#x %d", c, c))
	err := fmt.Errorf("publish: %w", c)
	require.Equal(t, "publish: Not authorized", err.Error()) // fmt hands %w to Format as %v
	require.ErrorIs(t, err, mqtt.NotAuthorized)
}
