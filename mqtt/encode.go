package mqtt

// Encode appends the wire form of p at protocol version v to dst and returns the extended slice.
// For a CONNECT, v may be 0: p.Connect.ProtocolVersion is used.
//
// Encode checks what would make the bytes unreadable or break a sender's rule: a reason code the
// packet type may not carry, properties not allowed in the packet, QoS 3, a zero packet
// identifier, an empty SUBSCRIBE, an over-long string. It trusts strings to be valid UTF-8 (they
// normally come from decoded packets). For 3.x it leaves out what 3.x cannot carry: properties, the
// reason codes of acknowledgements, subscription options other than QoS; CONNACK and SUBACK codes
// are mapped with V3ConnackCode and V3SubackCode.
//
// Encode allocates only when dst lacks room.
func Encode(dst []byte, p *Packet, v Version) ([]byte, error) {
	var e encoding
	if err := e.plan(p, v); err != nil {
		return dst, err
	}
	return e.appendTo(dst, p), nil
}

// Size returns the number of bytes Encode would write for p at version v.
func Size(p *Packet, v Version) (int, error) {
	var e encoding
	if err := e.plan(p, v); err != nil {
		return 0, err
	}
	return e.size(), nil
}

// encoding is the plan for writing one packet: the checks are done and the lengths known, so the
// bytes go out in one forward pass.
type encoding struct {
	v         Version
	first     byte    // fixed header byte 1
	body      int     // Remaining Length
	props     PropSet // properties to write (v5)
	propLen   int     // their length
	willProps PropSet
	willLen   int
	short     int // v5 acknowledgement short form: bytes of body before properties, -1 for full
}

func (e *encoding) size() int { return 1 + varintLen(e.body) + e.body }

func (e *encoding) fail(code ReasonCode, r rule, t Type, format string, args ...any) error {
	return newError(code, r, e.v, t, format, args...)
}

// plan checks p and computes every length.
func (e *encoding) plan(p *Packet, v Version) error {
	t := p.Type
	if t == TypeConnect && v == 0 && p.Connect != nil {
		v = p.Connect.ProtocolVersion
	}
	e.v = v
	if !v.Valid() {
		return e.fail(UnsupportedProtocolVersion, rule{"MQTT-3.1.2-2", "MQTT-3.1.2-2"}, t, "cannot encode at protocol level %d", byte(v))
	}
	if !t.Valid(v) {
		return e.fail(MalformedPacket, rule{"MQTT5 §2.1.2", "MQTT311 §2.2.1"}, t, "no such packet type in MQTT %s", v)
	}
	e.first = byte(t)<<4 | t.fixedFlags()
	e.short = -1
	if v == V5 {
		if err := e.planProps(&p.Properties, t); err != nil {
			return err
		}
	}
	var err error
	switch t {
	case TypeConnect:
		err = e.planConnect(p)
	case TypeConnack:
		err = e.planConnack(p)
	case TypePublish:
		err = e.planPublish(p)
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		err = e.planAck(p)
	case TypeSubscribe:
		err = e.planSubscribe(p)
	case TypeSuback, TypeUnsuback:
		err = e.planSuback(p)
	case TypeUnsubscribe:
		err = e.planUnsubscribe(p)
	case TypeDisconnect, TypeAuth:
		err = e.planDisconnect(p)
	}
	if err == nil && e.body > MaxRemainingLength {
		err = e.fail(PacketTooLarge, ruleLength, t, "remaining length %d exceeds %d", e.body, MaxRemainingLength)
	}
	return err
}

// planProps picks the properties of ctx to write and checks them.
func (e *encoding) planProps(p *Properties, ctx Type) error {
	set := p.effective()
	if err := p.checkValues(set, ctx, e.v); err != nil {
		return err
	}
	if err := p.checkLengths(set, ctx, e.v); err != nil {
		return err
	}
	n := p.size(set)
	if ctx == willContext {
		e.willProps, e.willLen = set, n
	} else {
		e.props, e.propLen = set, n
	}
	return nil
}

// propsField is the length of the Property Length field plus the properties (v5), or 0.
func (e *encoding) propsField() int {
	if e.v != V5 {
		return 0
	}
	return varintLen(e.propLen) + e.propLen
}

func (e *encoding) checkString(t Type, what string, n int) error {
	if n > maxString {
		return e.fail(MalformedPacket, rule{"MQTT5 §1.5.4", "MQTT311 §1.5.3"}, t, "%s is %d bytes, more than %d", what, n, maxString)
	}
	return nil
}

func (e *encoding) planConnect(p *Packet) error {
	c := p.Connect
	if c == nil {
		return e.fail(ProtocolError, rule{"MQTT5 §3.1", "MQTT311 §3.1"}, TypeConnect, "CONNECT without Connect fields")
	}
	if c.ProtocolVersion != 0 && c.ProtocolVersion != e.v {
		return e.fail(UnsupportedProtocolVersion, rule{"MQTT-3.1.2-2", "MQTT-3.1.2-2"}, TypeConnect,
			"Connect.ProtocolVersion %s but encoding at %s", c.ProtocolVersion, e.v)
	}
	n := 2 + len(e.v.protocolName()) + 1 + 1 + 2 + e.propsField()
	n += 2 + len(c.ClientID)
	if err := e.checkString(TypeConnect, "client identifier", len(c.ClientID)); err != nil {
		return err
	}
	if e.v != V5 && c.ClientID == "" && !c.CleanStart {
		return e.fail(ClientIdentifierNotValid, rule{"", "MQTT-3.1.3-7"}, TypeConnect, "empty client identifier without clean session")
	}
	if w := c.Will; w != nil {
		if w.QoS > QoS2 {
			return e.fail(MalformedPacket, rule{"MQTT-3.1.2-12", "MQTT-3.1.2-14"}, TypeConnect, "will QoS %d", w.QoS)
		}
		if w.Topic == "" {
			return e.fail(ProtocolError, ruleTopicLen, TypeConnect, "empty will topic")
		}
		if e.v == V5 {
			if err := e.planProps(&w.Properties, willContext); err != nil {
				return err
			}
			n += varintLen(e.willLen) + e.willLen
		}
		if err := e.checkString(TypeConnect, "will topic", len(w.Topic)); err != nil {
			return err
		}
		if err := e.checkString(TypeConnect, "will payload", len(w.Payload)); err != nil {
			return err
		}
		n += 4 + len(w.Topic) + len(w.Payload)
	}
	if e.v != V5 && c.PasswordFlag && !c.UsernameFlag {
		return e.fail(MalformedPacket, rule{"", "MQTT-3.1.2-22"}, TypeConnect, "password without user name")
	}
	if c.UsernameFlag {
		if err := e.checkString(TypeConnect, "user name", len(c.Username)); err != nil {
			return err
		}
		n += 2 + len(c.Username)
	}
	if c.PasswordFlag {
		if err := e.checkString(TypeConnect, "password", len(c.Password)); err != nil {
			return err
		}
		n += 2 + len(c.Password)
	}
	e.body = n
	return nil
}

func (e *encoding) planConnack(p *Packet) error {
	if e.v == V5 {
		if !p.ReasonCode.ValidFor(TypeConnack) {
			return e.fail(ProtocolError, rule{"MQTT-3.2.2-8", ""}, TypeConnack, "reason code 0x%02X", byte(p.ReasonCode))
		}
	} else if _, ok := V3ConnackCode(p.ReasonCode); !ok {
		return e.fail(ProtocolError, rule{"", "MQTT-3.2.2-6"}, TypeConnack, "no 3.x return code for %s", p.ReasonCode)
	}
	if p.SessionPresent && p.ReasonCode != Success {
		return e.fail(ProtocolError, rule{"MQTT-3.2.2-6", "MQTT-3.2.2-4"}, TypeConnack, "session present with a failure code")
	}
	e.body = 2 + e.propsField()
	return nil
}

func (e *encoding) planPublish(p *Packet) error {
	switch {
	case p.QoS > QoS2:
		return e.fail(MalformedPacket, ruleQoS3, TypePublish, "QoS %d", p.QoS)
	case p.QoS > 0 && p.PacketID == 0:
		return e.fail(ProtocolError, rulePacketID, TypePublish, "packet identifier 0")
	case p.QoS == 0 && p.Dup:
		return e.fail(MalformedPacket, ruleDupQoS0, TypePublish, "DUP set on a QoS 0 message")
	case p.Topic == "" && (e.v != V5 || !e.props.Has(PropTopicAlias)):
		return e.fail(ProtocolError, ruleTopicLen, TypePublish, "empty topic name")
	}
	if err := e.checkString(TypePublish, "topic name", len(p.Topic)); err != nil {
		return err
	}
	e.first |= byte(p.QoS) << 1
	if p.Dup {
		e.first |= 0x08
	}
	if p.Retain {
		e.first |= 0x01
	}
	n := 2 + len(p.Topic) + e.propsField() + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	e.body = n
	return nil
}

func (e *encoding) planAck(p *Packet) error {
	if p.PacketID == 0 {
		return e.fail(ProtocolError, ruleAckID, p.Type, "packet identifier 0")
	}
	e.body = 2
	if e.v != V5 {
		return nil
	}
	if !p.ReasonCode.ValidFor(p.Type) {
		return e.fail(ProtocolError, ackRules[p.Type], p.Type, "reason code 0x%02X", byte(p.ReasonCode))
	}
	switch {
	case e.props != 0:
		e.body = 3 + e.propsField()
	case p.ReasonCode != Success:
		e.body, e.short = 3, 3
	default:
		e.short = 2
	}
	return nil
}

func (e *encoding) planSubscribe(p *Packet) error {
	if p.PacketID == 0 {
		return e.fail(ProtocolError, rulePacketID, TypeSubscribe, "packet identifier 0")
	}
	if len(p.Subscriptions) == 0 {
		return e.fail(ProtocolError, rule{"MQTT-3.8.3-2", "MQTT-3.8.3-3"}, TypeSubscribe, "no topic filter")
	}
	n := 2 + e.propsField()
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if err := e.checkString(TypeSubscribe, "topic filter", len(s.Filter)); err != nil {
			return err
		}
		switch {
		case s.QoS > QoS2:
			return e.fail(ProtocolError, rule{"MQTT5 §3.8.3.1", "MQTT-3.8.3-4"}, TypeSubscribe, "maximum QoS %d", s.QoS)
		case e.v == V5 && s.RetainHandling > 2:
			return e.fail(ProtocolError, rule{"MQTT5 §3.8.3.1", ""}, TypeSubscribe, "retain handling %d", s.RetainHandling)
		case e.v == V5 && s.NoLocal && isShared(s.Filter):
			return e.fail(ProtocolError, rule{"MQTT-3.8.3-4", ""}, TypeSubscribe, "no local on shared subscription %q", s.Filter)
		}
		n += 3 + len(s.Filter)
	}
	e.body = n
	return nil
}

func (e *encoding) planSuback(p *Packet) error {
	if p.PacketID == 0 {
		return e.fail(ProtocolError, rule{"MQTT-2.2.1-6", "MQTT-2.3.1-7"}, p.Type, "packet identifier 0")
	}
	if p.Type == TypeUnsuback && e.v != V5 {
		e.body = 2
		return nil
	}
	if len(p.ReasonCodes) == 0 {
		return e.fail(ProtocolError, rule{"MQTT-3.8.4-6", "MQTT-3.8.4-5"}, p.Type, "no reason codes")
	}
	if e.v == V5 {
		for _, c := range p.ReasonCodes {
			if !c.ValidFor(p.Type) {
				r := rule{"MQTT-3.9.3-2", ""}
				if p.Type == TypeUnsuback {
					r = rule{"MQTT-3.11.3-2", ""}
				}
				return e.fail(ProtocolError, r, p.Type, "reason code 0x%02X", byte(c))
			}
		}
	}
	e.body = 2 + e.propsField() + len(p.ReasonCodes)
	return nil
}

func (e *encoding) planUnsubscribe(p *Packet) error {
	if p.PacketID == 0 {
		return e.fail(ProtocolError, rulePacketID, TypeUnsubscribe, "packet identifier 0")
	}
	if len(p.Filters) == 0 {
		return e.fail(ProtocolError, rule{"MQTT-3.10.3-2", "MQTT-3.10.3-2"}, TypeUnsubscribe, "no topic filter")
	}
	n := 2 + e.propsField()
	for _, f := range p.Filters {
		if err := e.checkString(TypeUnsubscribe, "topic filter", len(f)); err != nil {
			return err
		}
		n += 2 + len(f)
	}
	e.body = n
	return nil
}

func (e *encoding) planDisconnect(p *Packet) error {
	e.body = 0
	if e.v != V5 {
		return nil
	}
	if !p.ReasonCode.ValidFor(p.Type) {
		r := rule{"MQTT-3.14.2-1", ""}
		if p.Type == TypeAuth {
			r = rule{"MQTT-3.15.2-1", ""}
		}
		return e.fail(ProtocolError, r, p.Type, "reason code 0x%02X", byte(p.ReasonCode))
	}
	switch {
	case e.props != 0:
		e.body = 1 + e.propsField()
	case p.ReasonCode != Success:
		e.body, e.short = 1, 1
	default:
		e.short = 0
	}
	if p.Type == TypeAuth && e.short != 0 && !e.props.Has(PropAuthMethod) {
		return e.fail(ProtocolError, ruleAuthMethod, TypeAuth, "AUTH without authentication method")
	}
	return nil
}

// appendTo writes the planned packet.
func (e *encoding) appendTo(b []byte, p *Packet) []byte {
	b = append(b, e.first)
	b = appendVarint(b, e.body)
	switch p.Type {
	case TypeConnect:
		b = e.appendConnect(b, p)
	case TypeConnack:
		flags := byte(0)
		if p.SessionPresent && e.v != V31 { // 3.1 has no Session Present flag
			flags = 1
		}
		code := byte(p.ReasonCode)
		if e.v != V5 {
			code, _ = V3ConnackCode(p.ReasonCode)
		}
		b = append(b, flags, code)
		b = e.appendProps(b, p)
	case TypePublish:
		b = appendString(b, p.Topic)
		if p.QoS > 0 {
			b = appendUint16(b, p.PacketID)
		}
		b = e.appendProps(b, p)
		b = append(b, p.Payload...)
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		b = appendUint16(b, p.PacketID)
		if e.v == V5 && e.short != 2 {
			b = append(b, byte(p.ReasonCode))
			if e.short < 0 {
				b = e.appendProps(b, p)
			}
		}
	case TypeSubscribe:
		b = appendUint16(b, p.PacketID)
		b = e.appendProps(b, p)
		for i := range p.Subscriptions {
			s := &p.Subscriptions[i]
			b = appendString(b, s.Filter)
			if e.v == V5 {
				b = append(b, s.options())
			} else {
				b = append(b, byte(s.QoS))
			}
		}
	case TypeSuback, TypeUnsuback:
		b = appendUint16(b, p.PacketID)
		if p.Type == TypeUnsuback && e.v != V5 {
			break
		}
		b = e.appendProps(b, p)
		for _, c := range p.ReasonCodes {
			if e.v != V5 {
				b = append(b, V3SubackCode(c))
			} else {
				b = append(b, byte(c))
			}
		}
	case TypeUnsubscribe:
		b = appendUint16(b, p.PacketID)
		b = e.appendProps(b, p)
		for _, f := range p.Filters {
			b = appendString(b, f)
		}
	case TypeDisconnect, TypeAuth:
		if e.v == V5 && e.short != 0 {
			b = append(b, byte(p.ReasonCode))
			if e.short < 0 {
				b = e.appendProps(b, p)
			}
		}
	}
	return b
}

func (e *encoding) appendProps(b []byte, p *Packet) []byte {
	if e.v != V5 {
		return b
	}
	if e.props == 0 {
		return append(b, 0)
	}
	return p.Properties.appendProps(b, e.props, e.propLen)
}

func (e *encoding) appendConnect(b []byte, p *Packet) []byte {
	c := p.Connect
	b = appendString(b, e.v.protocolName())
	b = append(b, byte(e.v))
	var flags byte
	if c.CleanStart {
		flags |= 0x02
	}
	if w := c.Will; w != nil {
		flags |= 0x04 | byte(w.QoS)<<3
		if w.Retain {
			flags |= 0x20
		}
	}
	if c.PasswordFlag {
		flags |= 0x40
	}
	if c.UsernameFlag {
		flags |= 0x80
	}
	b = append(b, flags)
	b = appendUint16(b, c.KeepAlive)
	b = e.appendProps(b, p)
	b = appendString(b, c.ClientID)
	if w := c.Will; w != nil {
		if e.v == V5 {
			if e.willProps == 0 {
				b = append(b, 0)
			} else {
				b = w.Properties.appendProps(b, e.willProps, e.willLen)
			}
		}
		b = appendString(b, w.Topic)
		b = appendBinary(b, w.Payload)
	}
	if c.UsernameFlag {
		b = appendString(b, c.Username)
	}
	if c.PasswordFlag {
		b = appendBinary(b, c.Password)
	}
	return b
}
