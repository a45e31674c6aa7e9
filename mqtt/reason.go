package mqtt

import (
	"fmt"
	"io"
)

// ReasonCode is an MQTT 5 reason code (Table 2-6). Codes below 0x80 report success, 0x80 and above
// report failure. A ReasonCode is also an error value, so a handler can return NotAuthorized and
// the broker can put it on the wire unchanged.
//
// For MQTT 3.x connections the Packet keeps the v5 code as well: the codec maps it to and from the
// 3.1.1 CONNACK return codes (see V3ConnackCode) and SUBACK return codes on the wire.
type ReasonCode byte

// Reason codes of Table 2-6. Several share the value 0x00 (and 0x01, 0x02 for SUBACK): the name
// depends on the packet that carries it.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// reasonInfo is one row of Table 2-6: the name and the packets that may carry the code.
type reasonInfo struct {
	name    string
	packets typeSet
}

// typeSet is a set of packet types, bit t for Type t.
type typeSet uint16

func typesOf(ts ...Type) typeSet {
	var s typeSet
	for _, t := range ts {
		s |= 1 << t
	}
	return s
}

func (s typeSet) has(t Type) bool { return s&(1<<t) != 0 }

const (
	cConnack     = 1 << TypeConnack
	cPuback      = 1 << TypePuback
	cPubrec      = 1 << TypePubrec
	cPubrel      = 1 << TypePubrel
	cPubcomp     = 1 << TypePubcomp
	cSuback      = 1 << TypeSuback
	cUnsuback    = 1 << TypeUnsuback
	cDisconnect  = 1 << TypeDisconnect
	cAuth        = 1 << TypeAuth
	cPubackRec   = cPuback | cPubrec
	cFailCommon  = cConnack | cPubackRec | cSuback | cUnsuback | cDisconnect
	cConnackDisc = cConnack | cDisconnect
)

// reasons is Table 2-6, indexed by code. A zero row is a code the spec does not define.
var reasons = [256]reasonInfo{
	0x00: {"Success", cConnack | cPubackRec | cPubrel | cPubcomp | cUnsuback | cAuth | cDisconnect | cSuback},
	0x01: {"Granted QoS 1", cSuback},
	0x02: {"Granted QoS 2", cSuback},
	0x04: {"Disconnect with Will Message", cDisconnect},
	0x10: {"No matching subscribers", cPubackRec},
	0x11: {"No subscription existed", cUnsuback},
	0x18: {"Continue authentication", cAuth},
	0x19: {"Re-authenticate", cAuth},
	0x80: {"Unspecified error", cFailCommon},
	0x81: {"Malformed Packet", cConnackDisc},
	0x82: {"Protocol Error", cConnackDisc},
	0x83: {"Implementation specific error", cFailCommon},
	0x84: {"Unsupported Protocol Version", cConnack},
	0x85: {"Client Identifier not valid", cConnack},
	0x86: {"Bad User Name or Password", cConnack},
	0x87: {"Not authorized", cFailCommon},
	0x88: {"Server unavailable", cConnack},
	0x89: {"Server busy", cConnackDisc},
	0x8A: {"Banned", cConnack},
	0x8B: {"Server shutting down", cDisconnect},
	0x8C: {"Bad authentication method", cConnackDisc},
	0x8D: {"Keep Alive timeout", cDisconnect},
	0x8E: {"Session taken over", cDisconnect},
	0x8F: {"Topic Filter invalid", cSuback | cUnsuback | cDisconnect},
	0x90: {"Topic Name invalid", cConnack | cPubackRec | cDisconnect},
	0x91: {"Packet Identifier in use", cPubackRec | cSuback | cUnsuback},
	0x92: {"Packet Identifier not found", cPubrel | cPubcomp},
	0x93: {"Receive Maximum exceeded", cDisconnect},
	0x94: {"Topic Alias invalid", cDisconnect},
	0x95: {"Packet too large", cConnackDisc},
	0x96: {"Message rate too high", cDisconnect},
	0x97: {"Quota exceeded", cConnack | cPubackRec | cSuback | cDisconnect},
	0x98: {"Administrative action", cDisconnect},
	0x99: {"Payload format invalid", cConnack | cPubackRec | cDisconnect},
	0x9A: {"Retain not supported", cConnackDisc},
	0x9B: {"QoS not supported", cConnackDisc},
	0x9C: {"Use another server", cConnackDisc},
	0x9D: {"Server moved", cConnackDisc},
	0x9E: {"Shared Subscriptions not supported", cSuback | cDisconnect},
	0x9F: {"Connection rate exceeded", cConnackDisc},
	0xA0: {"Maximum connect time", cDisconnect},
	0xA1: {"Subscription Identifiers not supported", cSuback | cDisconnect},
	0xA2: {"Wildcard Subscriptions not supported", cSuback | cDisconnect},
}

// String returns the Table 2-6 name of the code ("Not authorized"). Code 0x00 reads "Success"
// whatever the packet; use Name for the packet-specific spelling.
func (c ReasonCode) String() string {
	if n := reasons[c].name; n != "" {
		return n
	}
	return fmt.Sprintf("ReasonCode(0x%02X)", byte(c))
}

// Name returns the code's name as used in packet type t: 0x00 is "Normal disconnection" in a
// DISCONNECT and "Granted QoS 0" in a SUBACK.
func (c ReasonCode) Name(t Type) string {
	if c == 0 {
		switch t {
		case TypeDisconnect:
			return "Normal disconnection"
		case TypeSuback:
			return "Granted QoS 0"
		}
	}
	return c.String()
}

// Error makes every reason code usable as an error: "mqtt: Not authorized (0x87)".
func (c ReasonCode) Error() string {
	return fmt.Sprintf("mqtt: %s (0x%02X)", c.String(), byte(c))
}

// Format prints the name for %v and %s ("Not authorized"; fmt.Errorf's %w too), the full error
// text for %+v, and the number for the integer verbs (%d, %x, …), so that a ReasonCode reads well
// in logs and test diffs although it is an error.
func (c ReasonCode) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('+'):
		io.WriteString(f, c.Error())
	case verb == 'v' || verb == 's':
		io.WriteString(f, c.String())
	case verb == 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		fmt.Fprintf(f, fmt.FormatString(f, verb), byte(c))
	}
}

// IsError reports whether the code reports a failure (0x80 and above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// Known reports whether Table 2-6 defines the code at all.
func (c ReasonCode) Known() bool { return reasons[c].name != "" }

// ValidFor reports whether an MQTT 5 packet of type t may carry the code ([MQTT-3.2.2-8],
// [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1], [MQTT-3.9.3-2], [MQTT-3.11.3-2],
// [MQTT-3.14.2-1], [MQTT-3.15.2-1], all v5).
func (c ReasonCode) ValidFor(t Type) bool { return reasons[c].packets.has(t) }

// V3ConnackCode returns the MQTT 3.1/3.1.1 CONNACK return code (§3.2.2.3 v3.1.1) that best
// carries the v5 reason code c. ok is false when no 3.x return code fits (a malformed or otherwise
// broken CONNECT): the broker then closes the connection without a CONNACK ([MQTT-3.2.2-6] v3.1.1,
// [MQTT-3.1.4-1] v3.1.1).
func V3ConnackCode(c ReasonCode) (code byte, ok bool) {
	switch c {
	case Success:
		return 0x00, true
	case UnsupportedProtocolVersion:
		return 0x01, true
	case ClientIdentifierNotValid:
		return 0x02, true
	case ServerUnavailable, ServerBusy, UnspecifiedError, ImplementationSpecificError, QuotaExceeded,
		UseAnotherServer, ServerMoved, ConnectionRateExceeded:
		return 0x03, true
	case BadUserNameOrPassword, BadAuthenticationMethod:
		return 0x04, true
	case NotAuthorized, Banned:
		return 0x05, true
	}
	return 0, false
}

// v3ConnackReasons maps the 3.x CONNACK return codes 0..5 back to their v5 reason codes.
var v3ConnackReasons = [6]ReasonCode{Success, UnsupportedProtocolVersion, ClientIdentifierNotValid,
	ServerUnavailable, BadUserNameOrPassword, NotAuthorized}

// V3SubackCode returns the 3.1.1 SUBACK return code for c: the granted QoS, or 0x80 (Failure) for
// every failure code ([MQTT-3.9.3-2] v3.1.1).
func V3SubackCode(c ReasonCode) byte {
	if c <= GrantedQoS2 {
		return byte(c)
	}
	return 0x80
}
