package mqtt

import (
	"math/bits"
	"strconv"
)

// PropID is an MQTT 5 property identifier (Table 2-4).
type PropID byte

// The MQTT 5 properties of Table 2-4.
const (
	PropPayloadFormat        PropID = 0x01
	PropMessageExpiry        PropID = 0x02
	PropContentType          PropID = 0x03
	PropResponseTopic        PropID = 0x08
	PropCorrelationData      PropID = 0x09
	PropSubscriptionID       PropID = 0x0B
	PropSessionExpiry        PropID = 0x11
	PropAssignedClientID     PropID = 0x12
	PropServerKeepAlive      PropID = 0x13
	PropAuthMethod           PropID = 0x15
	PropAuthData             PropID = 0x16
	PropRequestProblemInfo   PropID = 0x17
	PropWillDelay            PropID = 0x18
	PropRequestResponseInfo  PropID = 0x19
	PropResponseInfo         PropID = 0x1A
	PropServerReference      PropID = 0x1C
	PropReasonString         PropID = 0x1F
	PropReceiveMaximum       PropID = 0x21
	PropTopicAliasMaximum    PropID = 0x22
	PropTopicAlias           PropID = 0x23
	PropMaximumQoS           PropID = 0x24
	PropRetainAvailable      PropID = 0x25
	PropUser                 PropID = 0x26
	PropMaximumPacketSize    PropID = 0x27
	PropWildcardSubAvailable PropID = 0x28
	PropSubIDAvailable       PropID = 0x29
	PropSharedSubAvailable   PropID = 0x2A
)

// maxPropID is the largest identifier Table 2-4 defines.
const maxPropID = 0x2A

// willContext stands for the Will Properties of a CONNECT, which Table 2-4 treats as a packet of
// their own; 0 is the reserved packet type, so it cannot clash with a real one.
const willContext Type = 0

// propKind is the data type of a property's value (§2.2.2.2).
type propKind byte

const (
	kindByte propKind = iota
	kindUint16
	kindUint32
	kindVarInt
	kindString
	kindBinary
	kindPair
)

// propInfo is one row of Table 2-4.
type propInfo struct {
	name string
	kind propKind
	in   typeSet // packets that may carry it; bit 0 is the Will Properties
}

const cWill typeSet = 1 << willContext

var propTable = [maxPropID + 1]propInfo{
	PropPayloadFormat:        {"Payload Format Indicator", kindByte, typesOf(TypePublish) | cWill},
	PropMessageExpiry:        {"Message Expiry Interval", kindUint32, typesOf(TypePublish) | cWill},
	PropContentType:          {"Content Type", kindString, typesOf(TypePublish) | cWill},
	PropResponseTopic:        {"Response Topic", kindString, typesOf(TypePublish) | cWill},
	PropCorrelationData:      {"Correlation Data", kindBinary, typesOf(TypePublish) | cWill},
	PropSubscriptionID:       {"Subscription Identifier", kindVarInt, typesOf(TypePublish, TypeSubscribe)},
	PropSessionExpiry:        {"Session Expiry Interval", kindUint32, typesOf(TypeConnect, TypeConnack, TypeDisconnect)},
	PropAssignedClientID:     {"Assigned Client Identifier", kindString, typesOf(TypeConnack)},
	PropServerKeepAlive:      {"Server Keep Alive", kindUint16, typesOf(TypeConnack)},
	PropAuthMethod:           {"Authentication Method", kindString, typesOf(TypeConnect, TypeConnack, TypeAuth)},
	PropAuthData:             {"Authentication Data", kindBinary, typesOf(TypeConnect, TypeConnack, TypeAuth)},
	PropRequestProblemInfo:   {"Request Problem Information", kindByte, typesOf(TypeConnect)},
	PropWillDelay:            {"Will Delay Interval", kindUint32, cWill},
	PropRequestResponseInfo:  {"Request Response Information", kindByte, typesOf(TypeConnect)},
	PropResponseInfo:         {"Response Information", kindString, typesOf(TypeConnack)},
	PropServerReference:      {"Server Reference", kindString, typesOf(TypeConnack, TypeDisconnect)},
	PropReasonString:         {"Reason String", kindString, typesOf(TypeConnack, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSuback, TypeUnsuback, TypeDisconnect, TypeAuth)},
	PropReceiveMaximum:       {"Receive Maximum", kindUint16, typesOf(TypeConnect, TypeConnack)},
	PropTopicAliasMaximum:    {"Topic Alias Maximum", kindUint16, typesOf(TypeConnect, TypeConnack)},
	PropTopicAlias:           {"Topic Alias", kindUint16, typesOf(TypePublish)},
	PropMaximumQoS:           {"Maximum QoS", kindByte, typesOf(TypeConnack)},
	PropRetainAvailable:      {"Retain Available", kindByte, typesOf(TypeConnack)},
	PropUser:                 {"User Property", kindPair, typesOf(TypeConnect, TypeConnack, TypePublish, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypeDisconnect, TypeAuth) | cWill},
	PropMaximumPacketSize:    {"Maximum Packet Size", kindUint32, typesOf(TypeConnect, TypeConnack)},
	PropWildcardSubAvailable: {"Wildcard Subscription Available", kindByte, typesOf(TypeConnack)},
	PropSubIDAvailable:       {"Subscription Identifier Available", kindByte, typesOf(TypeConnack)},
	PropSharedSubAvailable:   {"Shared Subscription Available", kindByte, typesOf(TypeConnack)},
}

// allowedProps[t] is the set of properties packet type t may carry (index 0: Will Properties).
var allowedProps [16]PropSet

func init() {
	for id, info := range propTable {
		for t := Type(0); t < 16; t++ {
			if info.in.has(t) {
				allowedProps[t].Add(PropID(id))
			}
		}
	}
}

// String returns the Table 2-4 name ("Topic Alias").
func (id PropID) String() string {
	if int(id) < len(propTable) && propTable[id].name != "" {
		return propTable[id].name
	}
	return "PropID(0x" + strconv.FormatUint(uint64(id), 16) + ")"
}

// AllowedIn reports whether packet type t may carry the property (Table 2-4). Will Properties are
// asked for with AllowedInWill.
func (id PropID) AllowedIn(t Type) bool { return t != willContext && allowedProps[t].Has(id) }

// AllowedInWill reports whether the property may appear in the Will Properties of CONNECT.
func (id PropID) AllowedInWill() bool { return allowedProps[willContext].Has(id) }

// AllowedProps returns the set of properties packet type t may carry.
func AllowedProps(t Type) PropSet {
	if t == willContext || t > TypeAuth {
		return 0
	}
	return allowedProps[t]
}

// AllowedWillProps returns the set of properties the Will Properties of a CONNECT may carry.
func AllowedWillProps() PropSet { return allowedProps[willContext] }

// PropSet is a set of property identifiers, bit id for PropID id.
type PropSet uint64

// Has reports whether id is in the set.
func (s PropSet) Has(id PropID) bool { return id <= maxPropID && s&(1<<id) != 0 }

// Add puts id into the set.
func (s *PropSet) Add(id PropID) { *s |= 1 << id }

// Len returns the number of identifiers in the set.
func (s PropSet) Len() int { return bits.OnesCount64(uint64(s)) }

// UserProperty is one User Property name/value pair. Order is significant and kept
// ([MQTT-3.3.2-18] v5).
type UserProperty struct {
	Key, Value string
}

// Properties holds every MQTT 5 property of one packet (or of a CONNECT's Will). A 3.x packet has
// none, and the encoder leaves them out at 3.x.
//
// A property with a non-zero value (a non-empty string or slice) is present by that alone: code
// building packets just sets the field. Present marks the properties that are present with a zero
// value, because for some of them an explicit zero differs from absence (Server Keep Alive 0 versus
// "keep the client's value", Maximum QoS 0 versus the default 2, Message Expiry 0). The decoder
// sets Present exactly for those, so a decoded packet compares equal to the one that was encoded.
// Has answers "is it present" either way.
//
// Strings and byte slices of a decoded packet share one allocation with the rest of the packet;
// treat them as read-only (see Reader).
type Properties struct {
	Present PropSet // present with a zero or empty value; see above

	PayloadFormat        byte   // 0x01: 0 unspecified bytes, 1 UTF-8
	MessageExpiry        uint32 // 0x02: seconds
	ContentType          string // 0x03
	ResponseTopic        string // 0x08
	CorrelationData      []byte // 0x09
	SubscriptionIDs      []uint32
	SessionExpiry        uint32         // 0x11: seconds; 0xFFFFFFFF never
	AssignedClientID     string         // 0x12
	ServerKeepAlive      uint16         // 0x13: seconds
	AuthMethod           string         // 0x15
	AuthData             []byte         // 0x16
	RequestProblemInfo   byte           // 0x17: default 1
	WillDelay            uint32         // 0x18: seconds
	RequestResponseInfo  byte           // 0x19
	ResponseInfo         string         // 0x1A
	ServerReference      string         // 0x1C
	ReasonString         string         // 0x1F
	ReceiveMaximum       uint16         // 0x21: default 65535, never 0
	TopicAliasMaximum    uint16         // 0x22
	TopicAlias           uint16         // 0x23: never 0
	MaximumQoS           byte           // 0x24: default 2
	RetainAvailable      byte           // 0x25: default 1
	User                 []UserProperty // 0x26
	MaximumPacketSize    uint32         // 0x27: never 0
	WildcardSubAvailable byte           // 0x28: default 1
	SubIDAvailable       byte           // 0x29: default 1
	SharedSubAvailable   byte           // 0x2A: default 1
}

// Has reports whether the property is present: set to a non-zero value or marked in Present.
func (p *Properties) Has(id PropID) bool { return p.effective().Has(id) }

// Set returns every present property: the non-zero ones and those marked in Present. The
// encoder writes exactly these.
func (p *Properties) Set() PropSet { return p.effective() }

// effective returns the set of properties the encoder will write.
func (p *Properties) effective() PropSet { return p.Present | p.nonZero() }

// nonZero returns the properties whose value is not zero or empty.
func (p *Properties) nonZero() PropSet {
	var s PropSet
	set := func(id PropID, nonZero bool) {
		if nonZero {
			s |= 1 << id
		}
	}
	set(PropPayloadFormat, p.PayloadFormat != 0)
	set(PropMessageExpiry, p.MessageExpiry != 0)
	set(PropContentType, p.ContentType != "")
	set(PropResponseTopic, p.ResponseTopic != "")
	set(PropCorrelationData, len(p.CorrelationData) != 0)
	set(PropSubscriptionID, len(p.SubscriptionIDs) != 0)
	set(PropSessionExpiry, p.SessionExpiry != 0)
	set(PropAssignedClientID, p.AssignedClientID != "")
	set(PropServerKeepAlive, p.ServerKeepAlive != 0)
	set(PropAuthMethod, p.AuthMethod != "")
	set(PropAuthData, len(p.AuthData) != 0)
	set(PropRequestProblemInfo, p.RequestProblemInfo != 0)
	set(PropWillDelay, p.WillDelay != 0)
	set(PropRequestResponseInfo, p.RequestResponseInfo != 0)
	set(PropResponseInfo, p.ResponseInfo != "")
	set(PropServerReference, p.ServerReference != "")
	set(PropReasonString, p.ReasonString != "")
	set(PropReceiveMaximum, p.ReceiveMaximum != 0)
	set(PropTopicAliasMaximum, p.TopicAliasMaximum != 0)
	set(PropTopicAlias, p.TopicAlias != 0)
	set(PropMaximumQoS, p.MaximumQoS != 0)
	set(PropRetainAvailable, p.RetainAvailable != 0)
	set(PropUser, len(p.User) != 0)
	set(PropMaximumPacketSize, p.MaximumPacketSize != 0)
	set(PropWildcardSubAvailable, p.WildcardSubAvailable != 0)
	set(PropSubIDAvailable, p.SubIDAvailable != 0)
	set(PropSharedSubAvailable, p.SharedSubAvailable != 0)
	return s
}
