package mqtt

import "strconv"

// Type is the control packet type, the high nibble of the first fixed-header byte.
type Type byte

// The control packet types of MQTT 3.1, 3.1.1 and 5.0. AUTH exists only in 5.0.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15
)

var typeNames = [16]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the spec's name of the packet type ("PUBLISH").
func (t Type) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t names a control packet that exists in version v.
func (t Type) Valid(v Version) bool {
	if t == TypeAuth {
		return v == V5
	}
	return t >= TypeConnect && t <= TypeDisconnect
}

// fixedFlags is the value the low nibble of byte 1 must have for every type but PUBLISH
// ([MQTT-2.1.3-1] v5, [MQTT-2.2.2-1] v3.1.1): 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0000 for
// the rest.
func (t Type) fixedFlags() byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0x02
	}
	return 0
}

// flagsRule is the rule a wrong flag nibble breaks; packets with a rule of their own cite it.
func (t Type) flagsRule() rule {
	switch t {
	case TypePubrel:
		return rule{"MQTT-3.6.1-1", "MQTT-3.6.1-1"}
	case TypeSubscribe:
		return rule{"MQTT-3.8.1-1", "MQTT-3.8.1-1"}
	case TypeUnsubscribe:
		return rule{"MQTT-3.10.1-1", "MQTT-3.10.1-1"}
	case TypeDisconnect:
		return rule{"MQTT-3.14.1-1", "MQTT-3.14.1-1"}
	case TypeAuth:
		return rule{"MQTT-3.15.1-1", ""}
	}
	return rule{"MQTT-2.1.3-1", "MQTT-2.2.2-1"}
}
