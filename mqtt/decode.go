package mqtt

import "io"

// Decode decodes the one packet at the front of data, sent at protocol version v (0 before
// CONNECT: then only a CONNECT is accepted and it announces its own version). It returns the packet
// and the number of bytes it took. If data holds only part of a packet, the error is
// io.ErrUnexpectedEOF.
//
// The packet's strings and byte slices alias data: data must not change while the packet is in
// use. A Reader copies instead; Decode is for buffers the caller owns, tests and fuzzing.
func Decode(data []byte, v Version) (p Packet, n int, err error) {
	if len(data) == 0 {
		return Packet{}, 0, io.ErrUnexpectedEOF
	}
	t, err := checkFixedHeader(data[0], v)
	if err != nil {
		return Packet{}, 0, err
	}
	rl, m, code := parseVarint(data[1:])
	switch code {
	case varintShort:
		return Packet{}, 0, io.ErrUnexpectedEOF
	case varintTooLong:
		return Packet{}, 0, newError(MalformedPacket, ruleVarInt, v, t, "remaining length longer than 4 bytes")
	case varintPadded:
		return Packet{}, 0, newError(MalformedPacket, ruleVarIntShort, v, t, "remaining length not minimally encoded")
	}
	end := 1 + m + int(rl)
	if end > len(data) {
		return Packet{}, 0, io.ErrUnexpectedEOF
	}
	if err := decodeBody(&p, t, data[0], data[1+m:end], v); err != nil {
		return Packet{}, 0, err
	}
	return p, end, nil
}

// checkFixedHeader checks byte 1 of the fixed header before any of the body is read: the type must
// exist in v and the flags must be the ones Table 2-2 fixes ([MQTT-2.1.3-1] v5).
func checkFixedHeader(b byte, v Version) (Type, error) {
	t := Type(b >> 4)
	flags := b & 0x0F
	if v == 0 && t != TypeConnect {
		return t, newError(ProtocolError, ruleFirstPacket, v, t, "first packet is %s, not CONNECT", t)
	}
	if t == 0 || (v != 0 && !t.Valid(v)) {
		return t, newError(MalformedPacket, rule{"MQTT5 §2.1.2", "MQTT311 §2.2.1"}, v, 0,
			"packet type %d is reserved in MQTT %s", byte(t), v)
	}
	if t == TypePublish {
		qos := QoS(flags >> 1 & 3)
		if qos == 3 {
			return t, newError(MalformedPacket, ruleQoS3, v, t, "QoS 3")
		}
		if qos == 0 && flags&0x08 != 0 {
			return t, newError(MalformedPacket, ruleDupQoS0, v, t, "DUP set on a QoS 0 message")
		}
		return t, nil
	}
	if flags != t.fixedFlags() {
		return t, newError(MalformedPacket, t.flagsRule(), v, t, "reserved flag bits %04b, want %04b",
			flags, t.fixedFlags())
	}
	return t, nil
}

// decodeBody decodes into p, which must be zero, the variable header and payload of a packet whose
// fixed header was first and whose body is exactly body. The result aliases body. Decoding in place
// saves copying the 400-byte Packet on the hot path; on error p is left zero.
func decodeBody(p *Packet, t Type, first byte, body []byte, v Version) error {
	d := decoder{buf: body, v: v, t: t}
	p.Type = t
	switch t {
	case TypeConnect:
		d.connect(p)
	case TypeConnack:
		d.connack(p)
	case TypePublish:
		d.publish(p, first)
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		d.ack(p)
	case TypeSubscribe:
		d.subscribe(p)
	case TypeSuback:
		d.suback(p)
	case TypeUnsubscribe:
		d.unsubscribe(p)
	case TypeUnsuback:
		d.unsuback(p)
	case TypeDisconnect, TypeAuth:
		d.disconnectOrAuth(p)
	}
	if d.err == nil && d.pos != len(d.buf) {
		d.fail(MalformedPacket, ruleLength, "%d bytes left over after the last field", len(d.buf)-d.pos)
	}
	if d.err != nil {
		*p = Packet{}
		return d.err
	}
	return nil
}

// connect decodes a CONNECT (§3.1). Its protocol name and level choose the version the rest is read
// at.
func (d *decoder) connect(p *Packet) {
	name := d.binary("protocol name")
	level := Version(d.u8("protocol level"))
	if d.err != nil {
		return
	}
	switch {
	case string(name) == "MQTT" && (level == V311 || level == V5), string(name) == "MQIsdp" && level == V31:
		d.v = level
	case string(name) == "MQTT" || string(name) == "MQIsdp":
		d.fail(UnsupportedProtocolVersion, rule{"MQTT-3.1.2-2", "MQTT-3.1.2-2"}, "protocol %q level %d", name, byte(level))
		return
	default:
		d.fail(UnsupportedProtocolVersion, rule{"MQTT-3.1.2-1", "MQTT-3.1.2-1"}, "protocol name %q", name)
		return
	}
	c := &Connect{ProtocolVersion: d.v}
	p.Connect = c
	flags := d.u8("connect flags")
	c.KeepAlive = d.u16("keep alive")
	if d.err != nil {
		return
	}
	c.CleanStart = flags&0x02 != 0
	willFlag := flags&0x04 != 0
	willQoS := QoS(flags >> 3 & 3)
	willRetain := flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	switch {
	case flags&0x01 != 0:
		d.fail(MalformedPacket, rule{"MQTT-3.1.2-3", "MQTT-3.1.2-3"}, "reserved connect flag set")
	case willQoS == 3:
		d.fail(MalformedPacket, rule{"MQTT-3.1.2-12", "MQTT-3.1.2-14"}, "will QoS 3")
	case !willFlag && willQoS != 0:
		d.fail(MalformedPacket, rule{"MQTT-3.1.2-11", "MQTT-3.1.2-13"}, "will QoS %d without will flag", willQoS)
	case !willFlag && willRetain:
		d.fail(MalformedPacket, rule{"MQTT-3.1.2-13", "MQTT-3.1.2-15"}, "will retain without will flag")
	case d.v != V5 && c.PasswordFlag && !c.UsernameFlag:
		d.fail(MalformedPacket, rule{"", "MQTT-3.1.2-22"}, "password flag without user name flag")
	}
	if d.v == V5 {
		d.properties(&p.Properties, TypeConnect)
	}
	// Payload order: client id, will properties, will topic, will payload, user name, password
	// ([MQTT-3.1.3-1] v5).
	c.ClientID = d.str("client identifier")
	if d.err == nil && d.v != V5 && c.ClientID == "" && !c.CleanStart {
		d.fail(ClientIdentifierNotValid, rule{"", "MQTT-3.1.3-8"}, "empty client identifier without clean session")
	}
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		c.Will = w
		if d.v == V5 {
			d.properties(&w.Properties, willContext)
		}
		w.Topic = d.str("will topic")
		w.Payload = d.binary("will payload")
		if d.err == nil && w.Topic == "" {
			d.fail(ProtocolError, ruleTopicLen, "empty will topic")
		}
	}
	if c.UsernameFlag {
		c.Username = d.str("user name")
	}
	if c.PasswordFlag {
		c.Password = d.binary("password")
	}
}

// connack decodes a CONNACK (§3.2).
func (d *decoder) connack(p *Packet) {
	flags := d.u8("acknowledge flags")
	code := d.u8("reason code")
	if d.err != nil {
		return
	}
	if flags&0xFE != 0 {
		d.fail(MalformedPacket, rule{"MQTT-3.2.2-1", "MQTT311 §3.2.2.1"}, "reserved acknowledge flags %02x", flags)
		return
	}
	// MQTT 3.1 has no Session Present flag: the byte is reserved there, and ignored.
	p.SessionPresent = flags&1 != 0 && d.v != V31
	if d.v == V5 {
		p.ReasonCode = ReasonCode(code)
		if !p.ReasonCode.ValidFor(TypeConnack) {
			d.fail(ProtocolError, rule{"MQTT-3.2.2-8", ""}, "reason code 0x%02X", code)
			return
		}
		d.properties(&p.Properties, TypeConnack)
	} else {
		if int(code) >= len(v3ConnackReasons) {
			d.fail(MalformedPacket, rule{"", "MQTT311 §3.2.2.3"}, "return code %d", code)
			return
		}
		p.ReasonCode = v3ConnackReasons[code]
	}
	if p.SessionPresent && p.ReasonCode != Success {
		d.fail(ProtocolError, rule{"MQTT-3.2.2-6", "MQTT-3.2.2-4"}, "session present with a failure code")
	}
}

// publish decodes a PUBLISH (§3.3); the fixed header was checked already.
func (d *decoder) publish(p *Packet, first byte) {
	p.Dup = first&0x08 != 0
	p.QoS = QoS(first >> 1 & 3)
	p.Retain = first&0x01 != 0
	p.Topic = d.str("topic name")
	if p.QoS > 0 {
		p.PacketID = d.u16("packet identifier")
		if d.err == nil && p.PacketID == 0 {
			d.fail(ProtocolError, rulePacketID, "packet identifier 0")
		}
	}
	if d.v == V5 {
		d.properties(&p.Properties, TypePublish)
	}
	if d.err == nil && p.Topic == "" {
		if d.v != V5 {
			d.fail(ProtocolError, ruleTopicLen, "empty topic name")
		} else if p.Properties.TopicAlias == 0 {
			d.fail(ProtocolError, rule{"MQTT5 §3.3.2.1", ""}, "empty topic name without topic alias")
		}
	}
	p.Payload = d.rest()
}

// ackRules are the reason-code rules of PUBACK, PUBREC, PUBREL and PUBCOMP (v5).
var ackRules = [8]rule{
	TypePuback:  {"MQTT-3.4.2-1", ""},
	TypePubrec:  {"MQTT-3.5.2-1", ""},
	TypePubrel:  {"MQTT-3.6.2-1", ""},
	TypePubcomp: {"MQTT-3.7.2-1", ""},
}

// ack decodes PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4–§3.7). In v5 a Remaining Length of 2 means
// reason 0x00 and no properties, 3 means no properties (§3.4.2.1).
func (d *decoder) ack(p *Packet) {
	p.PacketID = d.u16("packet identifier")
	if d.err == nil && p.PacketID == 0 {
		d.fail(ProtocolError, ruleAckID, "packet identifier 0")
	}
	if d.v != V5 || d.remaining() == 0 {
		return
	}
	p.ReasonCode = ReasonCode(d.u8("reason code"))
	if !p.ReasonCode.ValidFor(d.t) {
		d.fail(ProtocolError, ackRules[d.t], "reason code 0x%02X", byte(p.ReasonCode))
		return
	}
	if d.remaining() > 0 {
		d.properties(&p.Properties, d.t)
	}
}

// subscribe decodes a SUBSCRIBE (§3.8).
func (d *decoder) subscribe(p *Packet) {
	p.PacketID = d.u16("packet identifier")
	if d.err == nil && p.PacketID == 0 {
		d.fail(ProtocolError, rulePacketID, "packet identifier 0")
	}
	if d.v == V5 {
		d.properties(&p.Properties, TypeSubscribe)
	}
	for d.err == nil && d.remaining() > 0 {
		var s Subscription
		s.Filter = d.str("topic filter")
		opts := d.u8("subscription options")
		if d.err != nil {
			return
		}
		s.QoS = QoS(opts & 3)
		if d.v == V5 {
			s.NoLocal = opts&0x04 != 0
			s.RetainAsPublished = opts&0x08 != 0
			s.RetainHandling = opts >> 4 & 3
			switch {
			case opts&0xC0 != 0:
				d.fail(MalformedPacket, rule{"MQTT-3.8.3-5", ""}, "reserved subscription option bits %02x", opts)
			case s.QoS == 3:
				d.fail(ProtocolError, rule{"MQTT5 §3.8.3.1", ""}, "maximum QoS 3")
			case s.RetainHandling == 3:
				d.fail(ProtocolError, rule{"MQTT5 §3.8.3.1", ""}, "retain handling 3")
			case s.NoLocal && isShared(s.Filter):
				d.fail(ProtocolError, rule{"MQTT-3.8.3-4", ""}, "no local on shared subscription %q", s.Filter)
			}
		} else if opts&0xFC != 0 || s.QoS == 3 {
			d.fail(MalformedPacket, rule{"", "MQTT-3.8.3-4"}, "requested QoS byte %02x", opts)
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if d.err == nil && len(p.Subscriptions) == 0 {
		d.fail(ProtocolError, rule{"MQTT-3.8.3-2", "MQTT-3.8.3-3"}, "no topic filter")
	}
}

// isShared reports whether a filter names a shared subscription ([MQTT-4.8.2-1] v5).
func isShared(f string) bool { return len(f) > 7 && f[:7] == "$share/" }

// suback decodes a SUBACK (§3.9).
func (d *decoder) suback(p *Packet) {
	p.PacketID = d.u16("packet identifier")
	if d.err == nil && p.PacketID == 0 {
		d.fail(ProtocolError, rule{"MQTT-2.2.1-6", "MQTT-2.3.1-7"}, "packet identifier 0")
	}
	if d.v == V5 {
		d.properties(&p.Properties, TypeSuback)
	}
	p.ReasonCodes = d.codes(func(c ReasonCode) bool {
		if d.v == V5 {
			return c.ValidFor(TypeSuback)
		}
		return c <= GrantedQoS2 || c == UnspecifiedError
	}, rule{"MQTT-3.9.3-2", "MQTT-3.9.3-2"}, rule{"MQTT-3.8.4-6", "MQTT-3.8.4-5"})
}

// codes reads the rest of the body as a list of reason codes, at least one.
func (d *decoder) codes(valid func(ReasonCode) bool, codeRule, emptyRule rule) []ReasonCode {
	if d.err != nil {
		return nil
	}
	rest := d.rest()
	if len(rest) == 0 {
		d.fail(ProtocolError, emptyRule, "no reason codes")
		return nil
	}
	cs := make([]ReasonCode, len(rest))
	for i, b := range rest {
		cs[i] = ReasonCode(b)
		if !valid(cs[i]) {
			d.fail(ProtocolError, codeRule, "reason code 0x%02X", b)
			return nil
		}
	}
	return cs
}

// unsubscribe decodes an UNSUBSCRIBE (§3.10).
func (d *decoder) unsubscribe(p *Packet) {
	p.PacketID = d.u16("packet identifier")
	if d.err == nil && p.PacketID == 0 {
		d.fail(ProtocolError, rulePacketID, "packet identifier 0")
	}
	if d.v == V5 {
		d.properties(&p.Properties, TypeUnsubscribe)
	}
	for d.err == nil && d.remaining() > 0 {
		f := d.str("topic filter")
		if d.err == nil {
			p.Filters = append(p.Filters, f)
		}
	}
	if d.err == nil && len(p.Filters) == 0 {
		d.fail(ProtocolError, rule{"MQTT-3.10.3-2", "MQTT-3.10.3-2"}, "no topic filter")
	}
}

// unsuback decodes an UNSUBACK (§3.11): only the packet identifier in 3.x.
func (d *decoder) unsuback(p *Packet) {
	p.PacketID = d.u16("packet identifier")
	if d.err == nil && p.PacketID == 0 {
		d.fail(ProtocolError, rule{"MQTT-2.2.1-6", "MQTT-2.3.1-7"}, "packet identifier 0")
	}
	if d.v != V5 {
		return
	}
	d.properties(&p.Properties, TypeUnsuback)
	p.ReasonCodes = d.codes(func(c ReasonCode) bool { return c.ValidFor(TypeUnsuback) },
		rule{"MQTT-3.11.3-2", ""}, rule{"MQTT-3.11.3-1", ""})
}

// disconnectOrAuth decodes DISCONNECT (§3.14) and AUTH (§3.15). A 3.x DISCONNECT is empty; in v5 a
// Remaining Length of 0 means reason 0x00 and 1 means no properties.
func (d *decoder) disconnectOrAuth(p *Packet) {
	if d.v != V5 || d.remaining() == 0 {
		return
	}
	p.ReasonCode = ReasonCode(d.u8("reason code"))
	if !p.ReasonCode.ValidFor(d.t) {
		r := rule{"MQTT-3.14.2-1", ""}
		if d.t == TypeAuth {
			r = rule{"MQTT-3.15.2-1", ""}
		}
		d.fail(ProtocolError, r, "reason code 0x%02X", byte(p.ReasonCode))
		return
	}
	if d.remaining() > 0 {
		d.properties(&p.Properties, d.t)
	}
	if d.err == nil && d.t == TypeAuth && !p.Properties.Has(PropAuthMethod) {
		d.fail(ProtocolError, ruleAuthMethod, "AUTH without authentication method")
	}
}
