package mqtt

// ctxName names a property context in errors: a packet type, or the Will Properties.
func ctxName(ctx Type) string {
	if ctx == willContext {
		return "Will Properties"
	}
	return ctx.String()
}

// properties reads a Property Length and the properties that follow (§2.2.2) into p, checking
// each identifier against Table 2-4 for ctx and every value against its allowed range.
func (d *decoder) properties(p *Properties, ctx Type) {
	n := d.varint("property length")
	if d.err != nil || n == 0 {
		return
	}
	if int(n) > d.remaining() {
		d.short("properties")
		return
	}
	end := d.pos + int(n)
	full := d.buf
	d.buf = d.buf[:end]
	var seen PropSet
	for d.pos < end && d.err == nil {
		d.property(p, ctx, &seen)
	}
	d.buf = full
	if d.err == nil {
		if e := p.checkValues(seen, ctx, d.v); e != nil {
			d.err = e
		}
	}
	p.Present = seen &^ p.nonZero()
}

// property reads one identifier and value.
func (d *decoder) property(p *Properties, ctx Type, seen *PropSet) {
	raw := d.varint("property identifier")
	if d.err != nil {
		return
	}
	if raw > maxPropID || propTable[raw].name == "" {
		d.fail(MalformedPacket, ruleProps, "unknown property identifier 0x%02X", raw)
		return
	}
	id := PropID(raw)
	if !propTable[id].in.has(ctx) {
		d.fail(MalformedPacket, ruleProps, "%s is not allowed in %s", id, ctxName(ctx))
		return
	}
	// Only User Property may repeat, and Subscription Identifier in PUBLISH (MQTT5 §2.2.2.2).
	if seen.Has(id) && id != PropUser && !(id == PropSubscriptionID && ctx == TypePublish) {
		d.fail(ProtocolError, ruleProps, "%s given twice", id)
		return
	}
	seen.Add(id)
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = d.u8("payload format indicator")
	case PropMessageExpiry:
		p.MessageExpiry = d.u32("message expiry interval")
	case PropContentType:
		p.ContentType = d.str("content type")
	case PropResponseTopic:
		p.ResponseTopic = d.str("response topic")
	case PropCorrelationData:
		p.CorrelationData = d.binary("correlation data")
	case PropSubscriptionID:
		p.SubscriptionIDs = append(p.SubscriptionIDs, d.varint("subscription identifier"))
	case PropSessionExpiry:
		p.SessionExpiry = d.u32("session expiry interval")
	case PropAssignedClientID:
		p.AssignedClientID = d.str("assigned client identifier")
	case PropServerKeepAlive:
		p.ServerKeepAlive = d.u16("server keep alive")
	case PropAuthMethod:
		p.AuthMethod = d.str("authentication method")
	case PropAuthData:
		p.AuthData = d.binary("authentication data")
	case PropRequestProblemInfo:
		p.RequestProblemInfo = d.u8("request problem information")
	case PropWillDelay:
		p.WillDelay = d.u32("will delay interval")
	case PropRequestResponseInfo:
		p.RequestResponseInfo = d.u8("request response information")
	case PropResponseInfo:
		p.ResponseInfo = d.str("response information")
	case PropServerReference:
		p.ServerReference = d.str("server reference")
	case PropReasonString:
		p.ReasonString = d.str("reason string")
	case PropReceiveMaximum:
		p.ReceiveMaximum = d.u16("receive maximum")
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = d.u16("topic alias maximum")
	case PropTopicAlias:
		p.TopicAlias = d.u16("topic alias")
	case PropMaximumQoS:
		p.MaximumQoS = d.u8("maximum qos")
	case PropRetainAvailable:
		p.RetainAvailable = d.u8("retain available")
	case PropUser:
		// Both halves follow the string rules ([MQTT-1.5.7-1] v5).
		k := d.strRules("user property name", rulePair, rulePair)
		v := d.strRules("user property value", rulePair, rulePair)
		p.User = append(p.User, UserProperty{k, v})
	case PropMaximumPacketSize:
		p.MaximumPacketSize = d.u32("maximum packet size")
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = d.u8("wildcard subscription available")
	case PropSubIDAvailable:
		p.SubIDAvailable = d.u8("subscription identifier available")
	case PropSharedSubAvailable:
		p.SharedSubAvailable = d.u8("shared subscription available")
	}
}

// checkValues checks the properties in set against the ranges of Table 2-4 and the per-packet
// rules. Decoder and encoder share it, so that whatever Encode writes, Decode accepts.
func (p *Properties) checkValues(set PropSet, ctx Type, v Version) *Error {
	if set == 0 {
		return nil
	}
	fail := func(code ReasonCode, sec string, format string, args ...any) *Error {
		return newError(code, rule{sec, sec}, v, ctx, format, args...)
	}
	if bad := set &^ allowedProps[ctx]; bad != 0 {
		return fail(MalformedPacket, "MQTT5 §2.2.2.2", "%s is not allowed in %s", firstProp(bad), ctxName(ctx))
	}
	bool01 := func(id PropID, val byte) bool { return !set.Has(id) || val <= 1 }
	switch {
	case !bool01(PropPayloadFormat, p.PayloadFormat):
		return fail(ProtocolError, "MQTT5 §3.3.2.3.2", "payload format indicator %d", p.PayloadFormat)
	case !bool01(PropRequestProblemInfo, p.RequestProblemInfo):
		return fail(ProtocolError, "MQTT5 §3.1.2.11", "request problem information %d", p.RequestProblemInfo)
	case !bool01(PropRequestResponseInfo, p.RequestResponseInfo):
		return fail(ProtocolError, "MQTT5 §3.1.2.11", "request response information %d", p.RequestResponseInfo)
	case !bool01(PropMaximumQoS, p.MaximumQoS):
		return fail(ProtocolError, "MQTT5 §3.2.2.3", "maximum qos %d", p.MaximumQoS)
	case !bool01(PropRetainAvailable, p.RetainAvailable):
		return fail(ProtocolError, "MQTT5 §3.2.2.3", "retain available %d", p.RetainAvailable)
	case !bool01(PropWildcardSubAvailable, p.WildcardSubAvailable):
		return fail(ProtocolError, "MQTT5 §3.2.2.3", "wildcard subscription available %d", p.WildcardSubAvailable)
	case !bool01(PropSubIDAvailable, p.SubIDAvailable):
		return fail(ProtocolError, "MQTT5 §3.2.2.3", "subscription identifier available %d", p.SubIDAvailable)
	case !bool01(PropSharedSubAvailable, p.SharedSubAvailable):
		return fail(ProtocolError, "MQTT5 §3.2.2.3", "shared subscription available %d", p.SharedSubAvailable)
	case set.Has(PropReceiveMaximum) && p.ReceiveMaximum == 0:
		return fail(ProtocolError, "MQTT5 §3.1.2.11", "receive maximum 0")
	case set.Has(PropMaximumPacketSize) && p.MaximumPacketSize == 0:
		return fail(ProtocolError, "MQTT5 §3.1.2.11", "maximum packet size 0")
	case set.Has(PropTopicAlias) && p.TopicAlias == 0:
		return fail(TopicAliasInvalid, "MQTT5 §3.3.4", "topic alias 0")
	case set.Has(PropAuthData) && !set.Has(PropAuthMethod) && ctx == TypeConnect:
		return fail(ProtocolError, "MQTT5 §3.1.2.11", "authentication data without authentication method")
	}
	if set.Has(PropSubscriptionID) {
		if ctx == TypeSubscribe && len(p.SubscriptionIDs) > 1 {
			return fail(ProtocolError, "MQTT5 §3.8.2.1.2", "subscription identifier given twice")
		}
		for _, id := range p.SubscriptionIDs {
			if id == 0 || id > MaxRemainingLength {
				sec := "MQTT5 §3.3.2.3.8"
				if ctx == TypeSubscribe {
					sec = "MQTT5 §3.8.2.1.2"
				}
				return fail(ProtocolError, sec, "subscription identifier %d", id)
			}
		}
	}
	return nil
}

// firstProp returns the lowest identifier in s.
func firstProp(s PropSet) PropID {
	for id := PropID(0); id <= maxPropID; id++ {
		if s.Has(id) {
			return id
		}
	}
	return 0
}

// size returns the encoded length of the properties in set, without the Property Length prefix.
func (p *Properties) size(set PropSet) int {
	n := 0
	for s := uint64(set); s != 0; s &= s - 1 {
		id := PropID(bitsTrailing(s))
		switch propTable[id].kind {
		case kindByte:
			n += 2
		case kindUint16:
			n += 3
		case kindUint32:
			n += 5
		case kindVarInt: // only Subscription Identifier
			for _, v := range p.SubscriptionIDs {
				n += 1 + varintLen(int(v))
			}
		case kindString, kindBinary:
			n += 3 + len(p.stringOf(id))
		case kindPair:
			for _, u := range p.User {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// stringOf returns the value of a string or binary property as a string. Binary values are
// viewed in place (bytesView), never copied: callers only measure or append them.
func (p *Properties) stringOf(id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropCorrelationData:
		return bytesView(p.CorrelationData)
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropAuthData:
		return bytesView(p.AuthData)
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return ""
}

// byteOf, u16Of and u32Of return the numeric property values.
func (p *Properties) byteOf(id PropID) byte {
	switch id {
	case PropPayloadFormat:
		return p.PayloadFormat
	case PropRequestProblemInfo:
		return p.RequestProblemInfo
	case PropRequestResponseInfo:
		return p.RequestResponseInfo
	case PropMaximumQoS:
		return p.MaximumQoS
	case PropRetainAvailable:
		return p.RetainAvailable
	case PropWildcardSubAvailable:
		return p.WildcardSubAvailable
	case PropSubIDAvailable:
		return p.SubIDAvailable
	case PropSharedSubAvailable:
		return p.SharedSubAvailable
	}
	return 0
}

func (p *Properties) u16Of(id PropID) uint16 {
	switch id {
	case PropServerKeepAlive:
		return p.ServerKeepAlive
	case PropReceiveMaximum:
		return p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return p.TopicAliasMaximum
	case PropTopicAlias:
		return p.TopicAlias
	}
	return 0
}

func (p *Properties) u32Of(id PropID) uint32 {
	switch id {
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropWillDelay:
		return p.WillDelay
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	}
	return 0
}

// appendProps writes the Property Length n and then the properties in set, in identifier order
// (order carries no meaning, MQTT5 §2.2.2.2; User Properties keep theirs, [MQTT-3.3.2-18] v5).
func (p *Properties) appendProps(b []byte, set PropSet, n int) []byte {
	b = appendVarint(b, n)
	for s := uint64(set); s != 0; s &= s - 1 {
		id := PropID(bitsTrailing(s))
		switch propTable[id].kind {
		case kindByte:
			b = append(b, byte(id), p.byteOf(id))
		case kindUint16:
			b = appendUint16(append(b, byte(id)), p.u16Of(id))
		case kindUint32:
			b = appendUint32(append(b, byte(id)), p.u32Of(id))
		case kindVarInt:
			for _, v := range p.SubscriptionIDs {
				b = appendVarint(append(b, byte(id)), int(v))
			}
		case kindString, kindBinary:
			b = appendString(append(b, byte(id)), p.stringOf(id))
		case kindPair:
			for _, u := range p.User {
				b = appendString(append(b, byte(id)), u.Key)
				b = appendString(b, u.Value)
			}
		}
	}
	return b
}

// checkLengths reports a string or binary property longer than a two-byte length can say.
func (p *Properties) checkLengths(set PropSet, ctx Type, v Version) *Error {
	for s := uint64(set); s != 0; s &= s - 1 {
		id := PropID(bitsTrailing(s))
		switch propTable[id].kind {
		case kindString, kindBinary:
			if len(p.stringOf(id)) > maxString {
				return newError(MalformedPacket, rule{"MQTT5 §1.5.4", "MQTT5 §1.5.4"}, v, ctx,
					"%s is %d bytes, more than %d", id, len(p.stringOf(id)), maxString)
			}
		case kindPair:
			for _, u := range p.User {
				if len(u.Key) > maxString || len(u.Value) > maxString {
					return newError(MalformedPacket, rule{"MQTT5 §1.5.7", "MQTT5 §1.5.7"}, v, ctx,
						"user property longer than %d bytes", maxString)
				}
			}
		}
	}
	return nil
}
