package mqtt

import (
	"log/slog"
	"strconv"
	"strings"
)

// Packet is any MQTT control packet: the Type says which, and each type uses the fields its doc
// names. One struct rather than one per type keeps decoding allocation-free (a Packet is returned
// by value, with no interface box) and lets one golden table, one generator and one comparison
// cover all fifteen types. See doc.go.
type Packet struct {
	Type Type

	// Fixed-header flags: PUBLISH only. Every other type has fixed flags that the codec checks
	// and writes itself.
	Dup    bool
	QoS    QoS
	Retain bool

	// PacketID: PUBLISH (QoS > 0), PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
	// UNSUBSCRIBE, UNSUBACK. Never 0 where present ([MQTT-2.2.1-3] v5).
	PacketID uint16

	// ReasonCode: CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT, AUTH. Always the MQTT 5
	// code, also for 3.x CONNACK, whose return codes the codec maps (V3ConnackCode).
	ReasonCode ReasonCode

	// SessionPresent: CONNACK (not at 3.1, which has no such flag).
	SessionPresent bool

	// Topic and Payload: PUBLISH. Payload is nil when empty.
	Topic   string
	Payload []byte

	// Subscriptions: SUBSCRIBE, at least one.
	Subscriptions []Subscription

	// Filters: UNSUBSCRIBE, at least one.
	Filters []string

	// ReasonCodes: SUBACK (one per subscription; granted QoS or failure) and, in MQTT 5, UNSUBACK.
	ReasonCodes []ReasonCode

	// Connect: CONNECT only (nil otherwise).
	Connect *Connect

	// Properties: MQTT 5 only.
	Properties Properties
}

// Connect holds the variable header and payload of a CONNECT.
type Connect struct {
	// ProtocolVersion is the level the client announced (3, 4 or 5). Decoding sets it; encoding
	// uses it when Encode is given version 0.
	ProtocolVersion Version
	CleanStart      bool // CleanSession in 3.x
	KeepAlive       uint16
	ClientID        string
	Will            *Will // nil: no Will (Will Flag 0)

	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Will is the Will Message of a CONNECT (Will Flag 1).
type Will struct {
	QoS        QoS
	Retain     bool
	Topic      string
	Payload    []byte // nil when empty
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options (§3.8.3.1).
type Subscription struct {
	Filter            string
	QoS               QoS  // maximum QoS
	NoLocal           bool // MQTT 5
	RetainAsPublished bool // MQTT 5
	RetainHandling    byte // MQTT 5: 0 send retained, 1 only if new, 2 never
}

// options returns the Subscription Options byte.
func (s *Subscription) options() byte {
	b := byte(s.QoS) | s.RetainHandling<<4
	if s.NoLocal {
		b |= 0x04
	}
	if s.RetainAsPublished {
		b |= 0x08
	}
	return b
}

// String is a compact one-line form for logs: "PUBLISH qos1 id=7 topic=a/b payload=64B".
// Payload and password bytes are never printed.
func (p *Packet) String() string {
	var b strings.Builder
	b.WriteString(p.Type.String())
	switch p.Type {
	case TypeConnect:
		if c := p.Connect; c != nil {
			b.WriteString(" v" + c.ProtocolVersion.String())
			b.WriteString(" client=" + strconv.Quote(c.ClientID))
			b.WriteString(" keepalive=" + strconv.Itoa(int(c.KeepAlive)))
			if c.CleanStart {
				b.WriteString(" clean")
			}
			if c.Will != nil {
				b.WriteString(" will=" + strconv.Quote(c.Will.Topic))
			}
			if c.UsernameFlag {
				b.WriteString(" user=" + strconv.Quote(c.Username))
			}
		}
	case TypePublish:
		b.WriteString(" " + p.QoS.String())
		if p.PacketID != 0 {
			b.WriteString(" id=" + strconv.Itoa(int(p.PacketID)))
		}
		if p.Dup {
			b.WriteString(" dup")
		}
		if p.Retain {
			b.WriteString(" retain")
		}
		b.WriteString(" topic=" + strconv.Quote(p.Topic))
		b.WriteString(" payload=" + strconv.Itoa(len(p.Payload)) + "B")
	case TypeSubscribe:
		b.WriteString(" id=" + strconv.Itoa(int(p.PacketID)))
		for _, s := range p.Subscriptions {
			b.WriteString(" " + strconv.Quote(s.Filter) + ":" + s.QoS.String())
		}
	case TypeUnsubscribe:
		b.WriteString(" id=" + strconv.Itoa(int(p.PacketID)))
		for _, f := range p.Filters {
			b.WriteString(" " + strconv.Quote(f))
		}
	case TypeSuback, TypeUnsuback:
		b.WriteString(" id=" + strconv.Itoa(int(p.PacketID)))
		for _, c := range p.ReasonCodes {
			b.WriteString(" 0x" + strconv.FormatUint(uint64(c), 16))
		}
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		b.WriteString(" id=" + strconv.Itoa(int(p.PacketID)))
		fallthrough
	case TypeConnack, TypeDisconnect, TypeAuth:
		if p.Type == TypeConnack && p.SessionPresent {
			b.WriteString(" session-present")
		}
		if p.ReasonCode != 0 {
			b.WriteString(" reason=" + strconv.Quote(p.ReasonCode.Name(p.Type)))
		}
	}
	if n := p.Properties.effective().Len(); n > 0 {
		b.WriteString(" props=" + strconv.Itoa(n))
	}
	return b.String()
}

// LogValue renders the packet as a compact slog attribute (its String form).
func (p *Packet) LogValue() slog.Value { return slog.StringValue(p.String()) }
