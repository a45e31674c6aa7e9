package ds

import (
	"encoding/binary"
	"math"

	"github.com/klauspost/compress/s2"
)

// A stored message value: the bytes ds hands the layout as layout.Entry.Value. The topic and
// the timestamp are not repeated here: the layout stores and returns them.
//
//	+---------+-------+---------------------+-----------------+---------------------+
//	| version | flags | client id           | [properties]    | payload             |
//	| 1 byte  | 1 byte| uvarint len + bytes | if flags&props  | rest of the value   |
//	+---------+-------+---------------------+-----------------+---------------------+
//
//	flags: bits 0-1 QoS, bit 2 retain, bit 3 payload is s2-compressed (block format),
//	       bit 4 properties present; bits 5-7 must be 0.
//
//	properties: one presence byte, then the present fields in this order:
//	  bit 0 content type       uvarint len + bytes
//	  bit 1 correlation data   uvarint len + bytes
//	  bit 2 response topic     uvarint len + bytes
//	  bit 3 user properties    uvarint count, then count × (key, value), each uvarint len + bytes
//	  bit 4 payload format     1 byte (0 or 1)
//	  bit 5 message expiry     uvarint seconds
//	  bits 6-7 must be 0.
//
// The format version only moves forward; a reader rejects versions it does not know.

// MessageFormatVersion is the version byte of the stored message encoding.
type MessageFormatVersion byte

const (
	// MessageFormatV1 is the encoding described above.
	MessageFormatV1 MessageFormatVersion = 1
)

const (
	flagQoSMask    = 0x03
	flagRetain     = 0x04
	flagCompressed = 0x08
	flagProps      = 0x10
	flagsKnown     = 0x1f

	propContentType   = 0x01
	propCorrelation   = 0x02
	propResponseTopic = 0x04
	propUser          = 0x08
	propPayloadFormat = 0x10
	propExpiry        = 0x20
	propsKnown        = 0x3f
)

// minCompressSize is the payload size below which s2 is not tried: the block header and the
// literal tags cost more than the few repeats a short payload can have.
const minCompressSize = 64

// appendMessage appends the encoding of m (without topic and timestamp) to dst. With compress
// the payload is stored s2-compressed when that makes it smaller.
func appendMessage(dst []byte, m *Message, compress bool) []byte {
	flags := m.QoS & flagQoSMask
	if m.Retain {
		flags |= flagRetain
	}
	var packed []byte
	if compress && len(m.Payload) >= minCompressSize {
		packed = s2.Encode(nil, m.Payload)
		if len(packed) < len(m.Payload) {
			flags |= flagCompressed
		} else {
			packed = nil
		}
	}
	present := m.Properties.presence()
	if present != 0 {
		flags |= flagProps
	}
	if dst == nil {
		// One allocation of the right size instead of one per append that outgrows dst.
		dst = make([]byte, 0, messageSizeHint(m, present, len(packed)))
	}
	dst = append(dst, byte(MessageFormatV1), flags)
	dst = appendString(dst, m.ClientID)
	if present != 0 {
		dst = m.Properties.append(dst, present)
	}
	if packed != nil {
		return append(dst, packed...)
	}
	return append(dst, m.Payload...)
}

// messageSizeHint is an upper bound of the encoded size of m (packed: the length of the
// compressed payload, 0 when it is stored as is).
func messageSizeHint(m *Message, present byte, packed int) int {
	n := 2 + binary.MaxVarintLen64 + len(m.ClientID) + max(packed, len(m.Payload))
	if present == 0 {
		return n
	}
	p := &m.Properties
	n += 1 + 4*binary.MaxVarintLen64 + 1 + len(p.ContentType) + len(p.CorrelationData) + len(p.ResponseTopic)
	for _, up := range p.UserProperties {
		n += 2*binary.MaxVarintLen64 + len(up.Key) + len(up.Value)
	}
	return n
}

func (p *Properties) presence() byte {
	var b byte
	if p.ContentType != "" {
		b |= propContentType
	}
	if p.CorrelationData != nil {
		b |= propCorrelation
	}
	if p.ResponseTopic != "" {
		b |= propResponseTopic
	}
	if len(p.UserProperties) > 0 {
		b |= propUser
	}
	if p.PayloadFormat != 0 {
		b |= propPayloadFormat
	}
	if p.HasMessageExpiry {
		b |= propExpiry
	}
	return b
}

func (p *Properties) append(dst []byte, present byte) []byte {
	dst = append(dst, present)
	if present&propContentType != 0 {
		dst = appendString(dst, p.ContentType)
	}
	if present&propCorrelation != 0 {
		dst = appendBytes(dst, p.CorrelationData)
	}
	if present&propResponseTopic != 0 {
		dst = appendString(dst, p.ResponseTopic)
	}
	if present&propUser != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(p.UserProperties)))
		for _, up := range p.UserProperties {
			dst = appendString(dst, up.Key)
			dst = appendString(dst, up.Value)
		}
	}
	if present&propPayloadFormat != 0 {
		dst = append(dst, p.PayloadFormat)
	}
	if present&propExpiry != 0 {
		dst = binary.AppendUvarint(dst, uint64(p.MessageExpiry))
	}
	return dst
}

// decodeMessage decodes a stored value into m (Topic and Timestamp are left alone). m owns
// copies of every byte; b is not retained.
func decodeMessage(b []byte, m *Message) error {
	d := decoder{b: b}
	version, flags := d.byte(), d.byte()
	if d.err == nil && MessageFormatVersion(version) != MessageFormatV1 {
		return corruptf("message format version %d", version)
	}
	if d.err == nil && flags&^flagsKnown != 0 {
		return corruptf("message flags %#x", flags)
	}
	m.QoS = flags & flagQoSMask
	m.Retain = flags&flagRetain != 0
	m.ClientID = d.string()
	m.Properties = Properties{}
	if flags&flagProps != 0 {
		m.Properties.decode(&d)
	}
	if d.err != nil {
		return d.err
	}
	if m.QoS > 2 {
		return corruptf("message QoS %d", m.QoS)
	}
	rest := d.b
	if flags&flagCompressed == 0 {
		m.Payload = append([]byte{}, rest...)
		return nil
	}
	n, err := s2.DecodedLen(rest)
	if err != nil || n > math.MaxInt32 {
		return corruptf("compressed payload: %v", err)
	}
	payload, err := s2.Decode(make([]byte, n), rest)
	if err != nil {
		return corruptf("compressed payload: %v", err)
	}
	m.Payload = payload
	return nil
}

func (p *Properties) decode(d *decoder) {
	present := d.byte()
	if d.err == nil && present&^propsKnown != 0 {
		d.fail("property presence %#x", present)
		return
	}
	if present&propContentType != 0 {
		p.ContentType = d.string()
	}
	if present&propCorrelation != 0 {
		p.CorrelationData = d.bytes()
	}
	if present&propResponseTopic != 0 {
		p.ResponseTopic = d.string()
	}
	if present&propUser != 0 {
		n := d.uvarint()
		// Each pair takes at least two bytes: a count beyond that is corrupt, and checking it
		// keeps a corrupt count from allocating.
		if n > uint64(len(d.b))/2 {
			d.fail("%d user properties in %d bytes", n, len(d.b))
			return
		}
		p.UserProperties = make([]UserProperty, n)
		for i := range p.UserProperties {
			p.UserProperties[i] = UserProperty{Key: d.string(), Value: d.string()}
		}
	}
	if present&propPayloadFormat != 0 {
		p.PayloadFormat = d.byte()
		if p.PayloadFormat > 1 && d.err == nil {
			d.fail("payload format %d", p.PayloadFormat)
		}
	}
	if present&propExpiry != 0 {
		v := d.uvarint()
		if v > math.MaxUint32 {
			d.fail("message expiry %d", v)
		}
		p.MessageExpiry, p.HasMessageExpiry = uint32(v), true
	}
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decoder reads the primitives of ds's encodings. The first error sticks: later reads return
// zero values, so a caller checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corruptf(format, args...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// Only the shortest encoding is accepted, so that decoding and encoding again gives the
	// same bytes (stored iterators are compared and hashed as bytes).
	if n <= 0 || n != uvarintLen(v) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next length-prefixed field without copying it.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("field of %d bytes in %d", n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.raw()) }

// bytes returns a copy of the next length-prefixed field; an empty field decodes as a non-nil
// empty slice so that "present but empty" survives a round trip.
func (d *decoder) bytes() []byte {
	v := d.raw()
	if d.err != nil {
		return nil
	}
	return append([]byte{}, v...)
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
