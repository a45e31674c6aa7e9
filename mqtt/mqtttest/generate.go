package mqtttest

import (
	"math/rand/v2"

	"github.com/mqttds/mqttds/mqtt"
)

// Generator makes random packets that are valid at one protocol version, in the form the decoder
// returns (empty byte slices are nil, zero-valued properties are marked in Present), so that
// decode(encode(p)) must equal p.
type Generator struct {
	R *rand.Rand
	V mqtt.Version
}

// NewGenerator returns a generator for version v seeded with seed.
func NewGenerator(seed uint64, v mqtt.Version) *Generator {
	return &Generator{R: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)), V: v}
}

// alphabet mixes ASCII, two-, three- and four-byte runes and U+FEFF, which must survive intact.
var alphabet = []rune("ab/+#$ z09é日本\uFEFF😀")

func (g *Generator) str(maxLen int) string {
	n := g.R.IntN(maxLen + 1)
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = alphabet[g.R.IntN(len(alphabet))]
	}
	return string(rs)
}

func (g *Generator) nonEmpty(maxLen int) string {
	for {
		if s := g.str(maxLen); s != "" {
			return s
		}
	}
}

func (g *Generator) bytes(maxLen int) []byte {
	n := g.R.IntN(maxLen + 1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.R.Uint32())
	}
	return b
}

func (g *Generator) id() uint16 { return uint16(1 + g.R.IntN(65535)) }

func (g *Generator) chance(p float64) bool { return g.R.Float64() < p }

// code picks a reason code that packet type t may carry at the generator's version.
func (g *Generator) code(t mqtt.Type) mqtt.ReasonCode {
	var ok []mqtt.ReasonCode
	for c := 0; c < 256; c++ {
		rc := mqtt.ReasonCode(c)
		switch {
		case g.V == mqtt.V5 && rc.ValidFor(t):
			ok = append(ok, rc)
		case g.V != mqtt.V5 && t == mqtt.TypeConnack:
			if v3, fits := mqtt.V3ConnackCode(rc); fits && (v3 != 0 || rc == 0) && canonicalV3Connack(rc) {
				ok = append(ok, rc)
			}
		case g.V != mqtt.V5 && t == mqtt.TypeSuback && (rc <= mqtt.GrantedQoS2 || rc == mqtt.UnspecifiedError):
			ok = append(ok, rc)
		}
	}
	if len(ok) == 0 {
		return 0
	}
	return ok[g.R.IntN(len(ok))]
}

// canonicalV3Connack reports whether rc is the code a 3.x CONNACK return code decodes to.
func canonicalV3Connack(rc mqtt.ReasonCode) bool {
	switch rc {
	case mqtt.Success, mqtt.UnsupportedProtocolVersion, mqtt.ClientIdentifierNotValid,
		mqtt.ServerUnavailable, mqtt.BadUserNameOrPassword, mqtt.NotAuthorized:
		return true
	}
	return false
}

// Packet returns a random packet of a random type that exists at the generator's version.
func (g *Generator) Packet() mqtt.Packet {
	for {
		t := mqtt.Type(1 + g.R.IntN(15))
		if t.Valid(g.V) {
			return g.PacketOf(t)
		}
	}
}

// PacketOf returns a random valid packet of type t.
func (g *Generator) PacketOf(t mqtt.Type) mqtt.Packet {
	p := mqtt.Packet{Type: t}
	v5 := g.V == mqtt.V5
	switch t {
	case mqtt.TypeConnect:
		p.Connect = g.connect()
	case mqtt.TypeConnack:
		p.ReasonCode = g.code(t)
		p.SessionPresent = p.ReasonCode == 0 && g.V != mqtt.V31 && g.chance(0.5)
	case mqtt.TypePublish:
		p.QoS = mqtt.QoS(g.R.IntN(3))
		if p.QoS > 0 {
			p.PacketID = g.id()
			p.Dup = g.chance(0.3)
		}
		p.Retain = g.chance(0.3)
		p.Topic = g.nonEmpty(12)
		p.Payload = g.bytes(40)
	case mqtt.TypePuback, mqtt.TypePubrec, mqtt.TypePubrel, mqtt.TypePubcomp:
		p.PacketID = g.id()
		if v5 {
			p.ReasonCode = g.code(t)
		}
	case mqtt.TypeSubscribe:
		p.PacketID = g.id()
		for n := 1 + g.R.IntN(4); n > 0; n-- {
			s := mqtt.Subscription{Filter: g.nonEmpty(10), QoS: mqtt.QoS(g.R.IntN(3))}
			if v5 {
				s.RetainAsPublished = g.chance(0.5)
				s.RetainHandling = byte(g.R.IntN(3))
				if g.chance(0.2) {
					s.Filter = "$share/" + g.nonEmpty(4) + "/" + s.Filter
				} else {
					s.NoLocal = g.chance(0.5)
				}
			}
			p.Subscriptions = append(p.Subscriptions, s)
		}
	case mqtt.TypeSuback:
		p.PacketID = g.id()
		for n := 1 + g.R.IntN(4); n > 0; n-- {
			p.ReasonCodes = append(p.ReasonCodes, g.code(t))
		}
	case mqtt.TypeUnsubscribe:
		p.PacketID = g.id()
		for n := 1 + g.R.IntN(4); n > 0; n-- {
			p.Filters = append(p.Filters, g.nonEmpty(10))
		}
	case mqtt.TypeUnsuback:
		p.PacketID = g.id()
		if v5 {
			for n := 1 + g.R.IntN(4); n > 0; n-- {
				p.ReasonCodes = append(p.ReasonCodes, g.code(t))
			}
		}
	case mqtt.TypeDisconnect, mqtt.TypeAuth:
		if v5 {
			p.ReasonCode = g.code(t)
		}
	}
	if v5 && g.chance(0.7) {
		p.Properties = g.Properties(t)
		if t == mqtt.TypePublish && g.chance(0.2) && p.Properties.TopicAlias != 0 {
			p.Topic = ""
		}
	}
	if t == mqtt.TypeAuth && (p.ReasonCode != 0 || p.Properties.Set() != 0) && p.Properties.AuthMethod == "" {
		p.Properties.AuthMethod = "SCRAM-SHA-1" // MQTT5 §3.15.2.2.2
		p.Properties.Present &^= 1 << mqtt.PropAuthMethod
	}
	return p
}

func (g *Generator) connect() *mqtt.Connect {
	c := &mqtt.Connect{ProtocolVersion: g.V, CleanStart: g.chance(0.5), KeepAlive: uint16(g.R.IntN(65536)),
		ClientID: g.str(23)}
	if g.V != mqtt.V5 && c.ClientID == "" {
		c.CleanStart = true // [MQTT-3.1.3-7] v3.1.1
	}
	if g.chance(0.5) {
		w := &mqtt.Will{QoS: mqtt.QoS(g.R.IntN(3)), Retain: g.chance(0.5), Topic: g.nonEmpty(10), Payload: g.bytes(20)}
		if g.V == mqtt.V5 && g.chance(0.7) {
			w.Properties = g.properties(mqtt.AllowedWillProps())
		}
		c.Will = w
	}
	c.UsernameFlag = g.chance(0.5)
	if c.UsernameFlag {
		c.Username = g.str(8)
	}
	c.PasswordFlag = g.chance(0.5) && (c.UsernameFlag || g.V == mqtt.V5)
	if c.PasswordFlag {
		c.Password = g.bytes(8)
	}
	return c
}

// Properties returns random valid properties for packet type t.
func (g *Generator) Properties(t mqtt.Type) mqtt.Properties {
	p := g.properties(mqtt.AllowedProps(t))
	if t == mqtt.TypeSubscribe && len(p.SubscriptionIDs) > 1 {
		p.SubscriptionIDs = p.SubscriptionIDs[:1]
	}
	if t == mqtt.TypeConnect && p.Has(mqtt.PropAuthData) && !p.Has(mqtt.PropAuthMethod) {
		p.AuthMethod = "m"
	}
	return p
}

// properties sets each property of allowed with probability 0.4.
func (g *Generator) properties(allowed mqtt.PropSet) mqtt.Properties {
	var p mqtt.Properties
	for id := mqtt.PropID(1); id <= mqtt.PropSharedSubAvailable; id++ {
		if !allowed.Has(id) || !g.chance(0.4) {
			continue
		}
		zero := false
		bit := func(v byte) byte { zero = v == 0; return v }
		u16 := func(min int) uint16 { v := uint16(min + g.R.IntN(65536-min)); zero = v == 0; return v }
		u32 := func(min uint32) uint32 { v := min + g.R.Uint32N(^uint32(0)-min); zero = v == 0; return v }
		s := func() string { v := g.str(6); zero = v == ""; return v }
		b := func() []byte { v := g.bytes(6); zero = v == nil; return v }
		switch id {
		case mqtt.PropPayloadFormat:
			p.PayloadFormat = bit(byte(g.R.IntN(2)))
		case mqtt.PropMessageExpiry:
			p.MessageExpiry = u32(0)
		case mqtt.PropContentType:
			p.ContentType = s()
		case mqtt.PropResponseTopic:
			p.ResponseTopic = s()
		case mqtt.PropCorrelationData:
			p.CorrelationData = b()
		case mqtt.PropSubscriptionID:
			for n := 1 + g.R.IntN(3); n > 0; n-- {
				p.SubscriptionIDs = append(p.SubscriptionIDs, 1+g.R.Uint32N(mqtt.MaxRemainingLength))
			}
		case mqtt.PropSessionExpiry:
			p.SessionExpiry = u32(0)
		case mqtt.PropAssignedClientID:
			p.AssignedClientID = s()
		case mqtt.PropServerKeepAlive:
			p.ServerKeepAlive = u16(0)
		case mqtt.PropAuthMethod:
			p.AuthMethod = s()
		case mqtt.PropAuthData:
			p.AuthData = b()
		case mqtt.PropRequestProblemInfo:
			p.RequestProblemInfo = bit(byte(g.R.IntN(2)))
		case mqtt.PropWillDelay:
			p.WillDelay = u32(0)
		case mqtt.PropRequestResponseInfo:
			p.RequestResponseInfo = bit(byte(g.R.IntN(2)))
		case mqtt.PropResponseInfo:
			p.ResponseInfo = s()
		case mqtt.PropServerReference:
			p.ServerReference = s()
		case mqtt.PropReasonString:
			p.ReasonString = s()
		case mqtt.PropReceiveMaximum:
			p.ReceiveMaximum = u16(1)
		case mqtt.PropTopicAliasMaximum:
			p.TopicAliasMaximum = u16(0)
		case mqtt.PropTopicAlias:
			p.TopicAlias = u16(1)
		case mqtt.PropMaximumQoS:
			p.MaximumQoS = bit(byte(g.R.IntN(2)))
		case mqtt.PropRetainAvailable:
			p.RetainAvailable = bit(byte(g.R.IntN(2)))
		case mqtt.PropUser:
			for n := 1 + g.R.IntN(3); n > 0; n-- {
				p.User = append(p.User, mqtt.UserProperty{Key: g.str(5), Value: g.str(5)})
			}
		case mqtt.PropMaximumPacketSize:
			p.MaximumPacketSize = u32(1)
		case mqtt.PropWildcardSubAvailable:
			p.WildcardSubAvailable = bit(byte(g.R.IntN(2)))
		case mqtt.PropSubIDAvailable:
			p.SubIDAvailable = bit(byte(g.R.IntN(2)))
		case mqtt.PropSharedSubAvailable:
			p.SharedSubAvailable = bit(byte(g.R.IntN(2)))
		default:
			continue
		}
		if zero {
			p.Present.Add(id)
		}
	}
	return p
}
