package mqtt

import "strconv"

// Version is an MQTT protocol level as carried in the CONNECT variable header.
type Version byte

// The protocol levels this package speaks. A Version of zero means "not yet negotiated": the only
// packet a Reader accepts then is CONNECT, which announces its own level.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

// String returns the human spelling ("3.1.1", "5.0").
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	case 0:
		return "unnegotiated"
	}
	return "level " + strconv.Itoa(int(v))
}

// Valid reports whether v is a protocol level this package can encode and decode.
func (v Version) Valid() bool { return v == V31 || v == V311 || v == V5 }

// protocolName is the CONNECT protocol name that goes with a level ([MQTT-3.1.2-1]).
func (v Version) protocolName() string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// QoS is a delivery guarantee: 0 at most once, 1 at least once, 2 exactly once.
type QoS byte

// The three QoS levels. QoS 3 is never valid on the wire ([MQTT-3.3.1-4]).
const (
	QoS0 QoS = 0
	QoS1 QoS = 1
	QoS2 QoS = 2
)

// String returns "qos0", "qos1" or "qos2".
func (q QoS) String() string { return "qos" + strconv.Itoa(int(q)) }
