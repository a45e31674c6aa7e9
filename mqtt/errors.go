package mqtt

import (
	"errors"
	"fmt"
)

// Error is a protocol violation found while decoding or encoding a packet. Code is the MQTT 5 reason
// code the broker sends back (in CONNACK for a bad CONNECT, in DISCONNECT otherwise,
// [MQTT-4.13.1-1] v5); for 3.x clients it only closes the connection ([MQTT-4.8.0-1] v3.1.1).
//
// errors.Is(err, mqtt.MalformedPacket) and the like work through Unwrap.
type Error struct {
	Code    ReasonCode // what to tell the peer: 0x81 malformed, 0x82 protocol error, 0x95 too large, …
	Rule    string     // the broken statement, "MQTT-3.3.1-4" or, for unnumbered rules, "MQTT5 §3.3.2.3.4"
	Version Version    // the protocol version Rule belongs to, and that the packet was read at
	Type    Type       // packet being decoded or encoded; 0 when the fixed header itself is bad
	Detail  string     // what was wrong, for logs
}

// Error formats as "mqtt: PUBLISH: QoS 3 [MQTT-3.3.1-4 v5.0]: Malformed Packet (0x81)".
func (e *Error) Error() string {
	where := ""
	if e.Type != 0 {
		where = e.Type.String() + ": "
	}
	ver := ""
	if e.Version.Valid() {
		ver = " v" + e.Version.String()
	}
	return fmt.Sprintf("mqtt: %s%s [%s%s]: %s (0x%02X)", where, e.Detail, e.Rule, ver, e.Code.String(), byte(e.Code))
}

// Unwrap exposes the reason code, so errors.Is(err, mqtt.ProtocolError) holds.
func (e *Error) Unwrap() error { return e.Code }

// Reason returns the reason code carried by err: the Code of an *Error, the ReasonCode itself, or
// UnspecifiedError for any other non-nil error (an I/O failure, say). It returns Success for nil.
func Reason(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var rc ReasonCode
	if errors.As(err, &rc) {
		return rc
	}
	return UnspecifiedError
}

// rule names one statement by its id in each version. An empty id for a version means the version
// has no such rule; v5 ids double as the citation for 3.x when no 3.1.1 id exists.
type rule struct{ v5, v311 string }

func (r rule) id(v Version) string {
	if v != V5 && r.v311 != "" {
		return r.v311
	}
	return r.v5
}

// Rules cited from more than one place.
var (
	ruleUTF8        = rule{"MQTT-1.5.4-1", "MQTT-1.5.3-1"}
	ruleUTF8Null    = rule{"MQTT-1.5.4-2", "MQTT-1.5.3-2"}
	rulePair        = rule{"MQTT-1.5.7-1", "MQTT-1.5.7-1"}
	ruleVarInt      = rule{"MQTT5 §1.5.5", "MQTT5 §1.5.5"}
	ruleVarIntShort = rule{"MQTT-1.5.5-1", "MQTT-1.5.5-1"}
	rulePacketID    = rule{"MQTT-2.2.1-3", "MQTT-2.3.1-1"}
	ruleAckID       = rule{"MQTT-2.2.1-5", "MQTT-2.3.1-6"}
	ruleQoS3        = rule{"MQTT-3.3.1-4", "MQTT-3.3.1-4"}
	ruleDupQoS0     = rule{"MQTT-3.3.1-2", "MQTT-3.3.1-2"}
	ruleFirstPacket = rule{"MQTT-3.1.0-1", "MQTT-3.1.0-1"}
	ruleTooLarge    = rule{"MQTT5 §3.2.2.3.6", "MQTT5 §3.2.2.3.6"}
	ruleLength      = rule{"MQTT5 §2.1.4", "MQTT5 §2.1.4"}
	ruleProps       = rule{"MQTT5 §2.2.2.2", "MQTT5 §2.2.2.2"}
	ruleTopicLen    = rule{"MQTT-4.7.3-1", "MQTT-4.7.3-1"}
	// Only the zero-length AUTH (success, no properties, MQTT5 §3.15.2.1) may leave out the
	// Authentication Method; every other AUTH must carry it (MQTT5 §3.15.2.2.2).
	ruleAuthMethod = rule{"MQTT5 §3.15.2.2.2", ""}
)

func newError(code ReasonCode, r rule, v Version, t Type, format string, args ...any) *Error {
	return &Error{Code: code, Rule: r.id(v), Version: v, Type: t, Detail: fmt.Sprintf(format, args...)}
}
