// Package pahoconv converts packets between our codec and Eclipse Paho's (paho.golang's packets
// for MQTT 5, paho.mqtt.golang's for 3.1 and 3.1.1), for the interop tests and the differential
// fuzz target.
//
// What paho cannot represent, and how Comparable accounts for it:
//   - paho.golang holds one Subscription Identifier per packet;
//   - it has no way to say "present and empty" for string and binary properties: those count as
//     absent;
//   - it writes a CONNECT's Will Properties with the CONNECT property rules, dropping Payload
//     Format, Message Expiry, Content Type, Response Topic and Correlation Data
//     (Properties.Pack(CONNECT)).
package pahoconv

import (
	"fmt"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/mqttds/mqttds/mqtt"
)

// Comparable returns p as paho.golang can represent it: empty string and binary properties absent,
// and, when viaPahoWriter, without the Will Properties paho drops.
func Comparable(p *mqtt.Packet, viaPahoWriter bool) mqtt.Packet {
	q := *p
	q.Properties = stringsPresentOnlyIfSet(q.Properties)
	if c := p.Connect; c != nil {
		cc := *c
		if w := c.Will; w != nil {
			ww := *w
			ww.Properties = stringsPresentOnlyIfSet(ww.Properties)
			if viaPahoWriter {
				keep := ww.Properties
				ww.Properties = mqtt.Properties{WillDelay: keep.WillDelay, User: keep.User}
				if keep.Present.Has(mqtt.PropWillDelay) {
					ww.Properties.Present.Add(mqtt.PropWillDelay)
				}
			}
			cc.Will = &ww
		}
		q.Connect = &cc
	}
	return q
}

func stringsPresentOnlyIfSet(p mqtt.Properties) mqtt.Properties {
	for _, id := range []mqtt.PropID{mqtt.PropContentType, mqtt.PropResponseTopic, mqtt.PropCorrelationData,
		mqtt.PropAssignedClientID, mqtt.PropAuthMethod, mqtt.PropAuthData, mqtt.PropResponseInfo,
		mqtt.PropServerReference, mqtt.PropReasonString} {
		p.Present &^= 1 << id
	}
	return p
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// toPaho5Props converts properties; paho marks presence of numbers with pointers.
func toPaho5Props(p *mqtt.Properties) *paho5.Properties {
	pp := &paho5.Properties{
		ContentType: p.ContentType, ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData,
		AssignedClientID: p.AssignedClientID, AuthMethod: p.AuthMethod, AuthData: p.AuthData,
		ResponseInfo: p.ResponseInfo, ServerReference: p.ServerReference, ReasonString: p.ReasonString,
	}
	has := p.Has
	b := func(id mqtt.PropID, v byte) *byte {
		if !has(id) {
			return nil
		}
		return &v
	}
	u16 := func(id mqtt.PropID, v uint16) *uint16 {
		if !has(id) {
			return nil
		}
		return &v
	}
	u32 := func(id mqtt.PropID, v uint32) *uint32 {
		if !has(id) {
			return nil
		}
		return &v
	}
	pp.PayloadFormat = b(mqtt.PropPayloadFormat, p.PayloadFormat)
	pp.MessageExpiry = u32(mqtt.PropMessageExpiry, p.MessageExpiry)
	if len(p.SubscriptionIDs) > 0 {
		id := int(p.SubscriptionIDs[0])
		pp.SubscriptionIdentifier = &id
	}
	pp.SessionExpiryInterval = u32(mqtt.PropSessionExpiry, p.SessionExpiry)
	pp.ServerKeepAlive = u16(mqtt.PropServerKeepAlive, p.ServerKeepAlive)
	pp.RequestProblemInfo = b(mqtt.PropRequestProblemInfo, p.RequestProblemInfo)
	pp.WillDelayInterval = u32(mqtt.PropWillDelay, p.WillDelay)
	pp.RequestResponseInfo = b(mqtt.PropRequestResponseInfo, p.RequestResponseInfo)
	pp.ReceiveMaximum = u16(mqtt.PropReceiveMaximum, p.ReceiveMaximum)
	pp.TopicAliasMaximum = u16(mqtt.PropTopicAliasMaximum, p.TopicAliasMaximum)
	pp.TopicAlias = u16(mqtt.PropTopicAlias, p.TopicAlias)
	pp.MaximumQOS = b(mqtt.PropMaximumQoS, p.MaximumQoS)
	pp.RetainAvailable = b(mqtt.PropRetainAvailable, p.RetainAvailable)
	for _, u := range p.User {
		pp.User = append(pp.User, paho5.User{Key: u.Key, Value: u.Value})
	}
	pp.MaximumPacketSize = u32(mqtt.PropMaximumPacketSize, p.MaximumPacketSize)
	pp.WildcardSubAvailable = b(mqtt.PropWildcardSubAvailable, p.WildcardSubAvailable)
	pp.SubIDAvailable = b(mqtt.PropSubIDAvailable, p.SubIDAvailable)
	pp.SharedSubAvailable = b(mqtt.PropSharedSubAvailable, p.SharedSubAvailable)
	return pp
}

func fromPaho5Props(pp *paho5.Properties) mqtt.Properties {
	var p mqtt.Properties
	if pp == nil {
		return p
	}
	p.ContentType, p.ResponseTopic = pp.ContentType, pp.ResponseTopic
	p.CorrelationData, p.AuthData = nilIfEmpty(pp.CorrelationData), nilIfEmpty(pp.AuthData)
	p.AssignedClientID, p.AuthMethod, p.ResponseInfo = pp.AssignedClientID, pp.AuthMethod, pp.ResponseInfo
	p.ServerReference, p.ReasonString = pp.ServerReference, pp.ReasonString
	b := func(id mqtt.PropID, v *byte, dst *byte) {
		if v != nil {
			*dst = *v
			if *v == 0 {
				p.Present.Add(id)
			}
		}
	}
	u16 := func(id mqtt.PropID, v *uint16, dst *uint16) {
		if v != nil {
			*dst = *v
			if *v == 0 {
				p.Present.Add(id)
			}
		}
	}
	u32 := func(id mqtt.PropID, v *uint32, dst *uint32) {
		if v != nil {
			*dst = *v
			if *v == 0 {
				p.Present.Add(id)
			}
		}
	}
	b(mqtt.PropPayloadFormat, pp.PayloadFormat, &p.PayloadFormat)
	u32(mqtt.PropMessageExpiry, pp.MessageExpiry, &p.MessageExpiry)
	if pp.SubscriptionIdentifier != nil {
		p.SubscriptionIDs = []uint32{uint32(*pp.SubscriptionIdentifier)}
	}
	u32(mqtt.PropSessionExpiry, pp.SessionExpiryInterval, &p.SessionExpiry)
	u16(mqtt.PropServerKeepAlive, pp.ServerKeepAlive, &p.ServerKeepAlive)
	b(mqtt.PropRequestProblemInfo, pp.RequestProblemInfo, &p.RequestProblemInfo)
	u32(mqtt.PropWillDelay, pp.WillDelayInterval, &p.WillDelay)
	b(mqtt.PropRequestResponseInfo, pp.RequestResponseInfo, &p.RequestResponseInfo)
	u16(mqtt.PropReceiveMaximum, pp.ReceiveMaximum, &p.ReceiveMaximum)
	u16(mqtt.PropTopicAliasMaximum, pp.TopicAliasMaximum, &p.TopicAliasMaximum)
	u16(mqtt.PropTopicAlias, pp.TopicAlias, &p.TopicAlias)
	b(mqtt.PropMaximumQoS, pp.MaximumQOS, &p.MaximumQoS)
	b(mqtt.PropRetainAvailable, pp.RetainAvailable, &p.RetainAvailable)
	for _, u := range pp.User {
		p.User = append(p.User, mqtt.UserProperty{Key: u.Key, Value: u.Value})
	}
	u32(mqtt.PropMaximumPacketSize, pp.MaximumPacketSize, &p.MaximumPacketSize)
	b(mqtt.PropWildcardSubAvailable, pp.WildcardSubAvailable, &p.WildcardSubAvailable)
	b(mqtt.PropSubIDAvailable, pp.SubIDAvailable, &p.SubIDAvailable)
	b(mqtt.PropSharedSubAvailable, pp.SharedSubAvailable, &p.SharedSubAvailable)
	return p
}

// ToPaho5 returns p as a paho.golang packet, ready for WriteTo.
func ToPaho5(p *mqtt.Packet) paho5.Packet {
	props := toPaho5Props(&p.Properties)
	code := byte(p.ReasonCode)
	switch p.Type {
	case mqtt.TypeConnect:
		c := p.Connect
		pc := &paho5.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: c.CleanStart,
			KeepAlive: c.KeepAlive, ClientID: c.ClientID, UsernameFlag: c.UsernameFlag, Username: c.Username,
			PasswordFlag: c.PasswordFlag, Password: c.Password, Properties: props}
		if w := c.Will; w != nil {
			pc.WillFlag, pc.WillQOS, pc.WillRetain = true, byte(w.QoS), w.Retain
			pc.WillTopic, pc.WillMessage = w.Topic, w.Payload
			pc.WillProperties = toPaho5Props(&w.Properties)
		}
		return pc
	case mqtt.TypeConnack:
		return &paho5.Connack{SessionPresent: p.SessionPresent, ReasonCode: code, Properties: props}
	case mqtt.TypePublish:
		return &paho5.Publish{Payload: p.Payload, Topic: p.Topic, Properties: props, PacketID: p.PacketID,
			QoS: byte(p.QoS), Duplicate: p.Dup, Retain: p.Retain}
	case mqtt.TypePuback:
		return &paho5.Puback{PacketID: p.PacketID, ReasonCode: code, Properties: props}
	case mqtt.TypePubrec:
		return &paho5.Pubrec{PacketID: p.PacketID, ReasonCode: code, Properties: props}
	case mqtt.TypePubrel:
		return &paho5.Pubrel{PacketID: p.PacketID, ReasonCode: code, Properties: props}
	case mqtt.TypePubcomp:
		return &paho5.Pubcomp{PacketID: p.PacketID, ReasonCode: code, Properties: props}
	case mqtt.TypeSubscribe:
		s := &paho5.Subscribe{PacketID: p.PacketID, Properties: props}
		for _, sub := range p.Subscriptions {
			s.Subscriptions = append(s.Subscriptions, paho5.SubOptions{Topic: sub.Filter, QoS: byte(sub.QoS),
				RetainHandling: sub.RetainHandling, NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished})
		}
		return s
	case mqtt.TypeSuback:
		return &paho5.Suback{PacketID: p.PacketID, Properties: props, Reasons: codeBytes(p.ReasonCodes)}
	case mqtt.TypeUnsubscribe:
		return &paho5.Unsubscribe{PacketID: p.PacketID, Properties: props, Topics: p.Filters}
	case mqtt.TypeUnsuback:
		return &paho5.Unsuback{PacketID: p.PacketID, Properties: props, Reasons: codeBytes(p.ReasonCodes)}
	case mqtt.TypePingreq:
		return &paho5.Pingreq{}
	case mqtt.TypePingresp:
		return &paho5.Pingresp{}
	case mqtt.TypeDisconnect:
		return &paho5.Disconnect{ReasonCode: code, Properties: props}
	case mqtt.TypeAuth:
		return &paho5.Auth{ReasonCode: code, Properties: props}
	}
	panic("unknown type " + p.Type.String())
}

func codeBytes(cs []mqtt.ReasonCode) []byte {
	b := make([]byte, len(cs))
	for i, c := range cs {
		b[i] = byte(c)
	}
	return b
}

func codesOf(b []byte) []mqtt.ReasonCode {
	if len(b) == 0 {
		return nil
	}
	cs := make([]mqtt.ReasonCode, len(b))
	for i, c := range b {
		cs[i] = mqtt.ReasonCode(c)
	}
	return cs
}

// FromPaho5 returns the packet paho.golang decoded, in Comparable form.
func FromPaho5(cp *paho5.ControlPacket) (mqtt.Packet, error) {
	p := mqtt.Packet{Type: mqtt.Type(cp.Type)}
	switch c := cp.Content.(type) {
	case *paho5.Connect:
		pc := &mqtt.Connect{ProtocolVersion: mqtt.Version(c.ProtocolVersion), CleanStart: c.CleanStart,
			KeepAlive: c.KeepAlive, ClientID: c.ClientID, UsernameFlag: c.UsernameFlag, Username: c.Username,
			PasswordFlag: c.PasswordFlag, Password: nilIfEmpty(c.Password)}
		if c.WillFlag {
			pc.Will = &mqtt.Will{QoS: mqtt.QoS(c.WillQOS), Retain: c.WillRetain, Topic: c.WillTopic,
				Payload: nilIfEmpty(c.WillMessage), Properties: comparableProps(c.WillProperties)}
		}
		p.Connect = pc
		p.Properties = comparableProps(c.Properties)
	case *paho5.Connack:
		p.SessionPresent, p.ReasonCode = c.SessionPresent, mqtt.ReasonCode(c.ReasonCode)
		p.Properties = comparableProps(c.Properties)
	case *paho5.Publish:
		p.Payload, p.Topic, p.PacketID = nilIfEmpty(c.Payload), c.Topic, c.PacketID
		p.QoS, p.Dup, p.Retain = mqtt.QoS(c.QoS), c.Duplicate, c.Retain
		p.Properties = comparableProps(c.Properties)
	case *paho5.Puback:
		p.PacketID, p.ReasonCode, p.Properties = c.PacketID, mqtt.ReasonCode(c.ReasonCode), comparableProps(c.Properties)
	case *paho5.Pubrec:
		p.PacketID, p.ReasonCode, p.Properties = c.PacketID, mqtt.ReasonCode(c.ReasonCode), comparableProps(c.Properties)
	case *paho5.Pubrel:
		p.PacketID, p.ReasonCode, p.Properties = c.PacketID, mqtt.ReasonCode(c.ReasonCode), comparableProps(c.Properties)
	case *paho5.Pubcomp:
		p.PacketID, p.ReasonCode, p.Properties = c.PacketID, mqtt.ReasonCode(c.ReasonCode), comparableProps(c.Properties)
	case *paho5.Subscribe:
		p.PacketID, p.Properties = c.PacketID, comparableProps(c.Properties)
		for _, s := range c.Subscriptions {
			p.Subscriptions = append(p.Subscriptions, mqtt.Subscription{Filter: s.Topic, QoS: mqtt.QoS(s.QoS),
				NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling})
		}
	case *paho5.Suback:
		p.PacketID, p.Properties, p.ReasonCodes = c.PacketID, comparableProps(c.Properties), codesOf(c.Reasons)
	case *paho5.Unsubscribe:
		p.PacketID, p.Properties, p.Filters = c.PacketID, comparableProps(c.Properties), c.Topics
	case *paho5.Unsuback:
		p.PacketID, p.Properties, p.ReasonCodes = c.PacketID, comparableProps(c.Properties), codesOf(c.Reasons)
	case *paho5.Pingreq, *paho5.Pingresp:
	case *paho5.Disconnect:
		p.ReasonCode, p.Properties = mqtt.ReasonCode(c.ReasonCode), comparableProps(c.Properties)
	case *paho5.Auth:
		p.ReasonCode, p.Properties = mqtt.ReasonCode(c.ReasonCode), comparableProps(c.Properties)
	default:
		return p, fmt.Errorf("unexpected paho packet %T", c)
	}
	return p, nil
}

func comparableProps(pp *paho5.Properties) mqtt.Properties {
	return stringsPresentOnlyIfSet(fromPaho5Props(pp))
}

// ToPaho3 returns p as a paho.mqtt.golang packet of protocol version v (3.1 or 3.1.1), ready
// for Write.
func ToPaho3(p *mqtt.Packet, v mqtt.Version) paho3.ControlPacket {
	cp := paho3.NewControlPacket(byte(p.Type))
	switch x := cp.(type) {
	case *paho3.ConnectPacket:
		c := p.Connect
		x.ProtocolName, x.ProtocolVersion = "MQTT", byte(v)
		if v == mqtt.V31 {
			x.ProtocolName = "MQIsdp"
		}
		x.CleanSession, x.Keepalive, x.ClientIdentifier = c.CleanStart, c.KeepAlive, c.ClientID
		if w := c.Will; w != nil {
			x.WillFlag, x.WillQos, x.WillRetain, x.WillTopic, x.WillMessage = true, byte(w.QoS), w.Retain, w.Topic, w.Payload
		}
		x.UsernameFlag, x.Username, x.PasswordFlag, x.Password = c.UsernameFlag, c.Username, c.PasswordFlag, c.Password
	case *paho3.ConnackPacket:
		x.SessionPresent = p.SessionPresent
		x.ReturnCode, _ = mqtt.V3ConnackCode(p.ReasonCode)
	case *paho3.PublishPacket:
		x.Dup, x.Qos, x.Retain = p.Dup, byte(p.QoS), p.Retain
		x.TopicName, x.MessageID, x.Payload = p.Topic, p.PacketID, p.Payload
	case *paho3.PubackPacket:
		x.MessageID = p.PacketID
	case *paho3.PubrecPacket:
		x.MessageID = p.PacketID
	case *paho3.PubrelPacket:
		x.MessageID = p.PacketID
	case *paho3.PubcompPacket:
		x.MessageID = p.PacketID
	case *paho3.SubscribePacket:
		x.MessageID = p.PacketID
		for _, s := range p.Subscriptions {
			x.Topics, x.Qoss = append(x.Topics, s.Filter), append(x.Qoss, byte(s.QoS))
		}
	case *paho3.SubackPacket:
		x.MessageID = p.PacketID
		for _, c := range p.ReasonCodes {
			x.ReturnCodes = append(x.ReturnCodes, mqtt.V3SubackCode(c))
		}
	case *paho3.UnsubscribePacket:
		x.MessageID, x.Topics = p.PacketID, p.Filters
	case *paho3.UnsubackPacket:
		x.MessageID = p.PacketID
	}
	return cp
}

var v3ConnackCodes = []mqtt.ReasonCode{mqtt.Success, mqtt.UnsupportedProtocolVersion, mqtt.ClientIdentifierNotValid,
	mqtt.ServerUnavailable, mqtt.BadUserNameOrPassword, mqtt.NotAuthorized}

// FromPaho3 returns the packet paho.mqtt.golang decoded.
func FromPaho3(cp paho3.ControlPacket) (mqtt.Packet, error) {
	var p mqtt.Packet
	switch x := cp.(type) {
	case *paho3.ConnectPacket:
		p.Type = mqtt.TypeConnect
		c := &mqtt.Connect{ProtocolVersion: mqtt.Version(x.ProtocolVersion), CleanStart: x.CleanSession,
			KeepAlive: x.Keepalive, ClientID: x.ClientIdentifier, UsernameFlag: x.UsernameFlag,
			Username: x.Username, PasswordFlag: x.PasswordFlag, Password: nilIfEmpty(x.Password)}
		if x.WillFlag {
			c.Will = &mqtt.Will{QoS: mqtt.QoS(x.WillQos), Retain: x.WillRetain, Topic: x.WillTopic,
				Payload: nilIfEmpty(x.WillMessage)}
		}
		p.Connect = c
	case *paho3.ConnackPacket:
		p.Type, p.SessionPresent = mqtt.TypeConnack, x.SessionPresent
		p.ReasonCode = v3ConnackCodes[x.ReturnCode]
	case *paho3.PublishPacket:
		p.Type, p.Dup, p.QoS, p.Retain = mqtt.TypePublish, x.Dup, mqtt.QoS(x.Qos), x.Retain
		p.Topic, p.PacketID, p.Payload = x.TopicName, x.MessageID, nilIfEmpty(x.Payload)
	case *paho3.PubackPacket:
		p.Type, p.PacketID = mqtt.TypePuback, x.MessageID
	case *paho3.PubrecPacket:
		p.Type, p.PacketID = mqtt.TypePubrec, x.MessageID
	case *paho3.PubrelPacket:
		p.Type, p.PacketID = mqtt.TypePubrel, x.MessageID
	case *paho3.PubcompPacket:
		p.Type, p.PacketID = mqtt.TypePubcomp, x.MessageID
	case *paho3.SubscribePacket:
		p.Type, p.PacketID = mqtt.TypeSubscribe, x.MessageID
		for i, f := range x.Topics {
			p.Subscriptions = append(p.Subscriptions, mqtt.Subscription{Filter: f, QoS: mqtt.QoS(x.Qoss[i])})
		}
	case *paho3.SubackPacket:
		p.Type, p.PacketID, p.ReasonCodes = mqtt.TypeSuback, x.MessageID, codesOf(x.ReturnCodes)
	case *paho3.UnsubscribePacket:
		p.Type, p.PacketID, p.Filters = mqtt.TypeUnsubscribe, x.MessageID, x.Topics
	case *paho3.UnsubackPacket:
		p.Type, p.PacketID = mqtt.TypeUnsuback, x.MessageID
	case *paho3.PingreqPacket:
		p.Type = mqtt.TypePingreq
	case *paho3.PingrespPacket:
		p.Type = mqtt.TypePingresp
	case *paho3.DisconnectPacket:
		p.Type = mqtt.TypeDisconnect
	default:
		return p, fmt.Errorf("unexpected paho packet %T", x)
	}
	return p, nil
}
