package mqtt

import (
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// MaxRemainingLength is the largest Remaining Length a four-byte Variable Byte Integer can carry
// (§1.5.5): 268,435,455 bytes.
const MaxRemainingLength = 268_435_455

// maxString is the longest UTF-8 string or binary field: a two-byte length prefix (§1.5.4, §1.5.6).
const maxString = 65535

// decoder reads the fields of one packet body. Errors are sticky: after the first one every read
// returns a zero value and the caller checks d.err once at the end.
//
// Strings are made with unsafe.String over buf without copying. That is sound because the codec
// hands decode only bytes that nothing writes to afterwards (see Reader and Decode).
type decoder struct {
	buf []byte
	pos int
	v   Version
	t   Type
	err *Error
}

func (d *decoder) fail(code ReasonCode, r rule, format string, args ...any) {
	if d.err == nil {
		d.err = newError(code, r, d.v, d.t, format, args...)
	}
}

func (d *decoder) short(what string) {
	d.fail(MalformedPacket, ruleLength, "%s runs past the end of the packet", what)
}

func (d *decoder) remaining() int { return len(d.buf) - d.pos }

func (d *decoder) u8(what string) byte {
	if d.pos >= len(d.buf) {
		d.short(what)
		return 0
	}
	b := d.buf[d.pos]
	d.pos++
	return b
}

func (d *decoder) u16(what string) uint16 {
	if d.remaining() < 2 {
		d.short(what)
		d.pos = len(d.buf)
		return 0
	}
	v := uint16(d.buf[d.pos])<<8 | uint16(d.buf[d.pos+1])
	d.pos += 2
	return v
}

func (d *decoder) u32(what string) uint32 {
	if d.remaining() < 4 {
		d.short(what)
		d.pos = len(d.buf)
		return 0
	}
	b := d.buf[d.pos : d.pos+4]
	d.pos += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// varint reads a Variable Byte Integer: at most four bytes (MQTT5 §1.5.5) in the fewest bytes
// that hold the value ([MQTT-1.5.5-1] v5).
func (d *decoder) varint(what string) uint32 {
	v, n, code := parseVarint(d.buf[d.pos:])
	switch code {
	case varintShort:
		d.short(what)
		d.pos = len(d.buf)
		return 0
	case varintTooLong:
		d.fail(MalformedPacket, ruleVarInt, "%s: variable byte integer longer than 4 bytes", what)
		return 0
	case varintPadded:
		d.fail(MalformedPacket, ruleVarIntShort, "%s: variable byte integer not minimally encoded", what)
		return 0
	}
	d.pos += n
	return v
}

// binary reads Binary Data (§1.5.6). The result aliases buf, capped so that append cannot write
// into the bytes that follow; nil when empty.
func (d *decoder) binary(what string) []byte {
	n := int(d.u16(what))
	if d.err != nil {
		return nil
	}
	if n > d.remaining() {
		d.short(what)
		d.pos = len(d.buf)
		return nil
	}
	if n == 0 {
		return nil
	}
	b := d.buf[d.pos : d.pos+n : d.pos+n]
	d.pos += n
	return b
}

// str reads a UTF-8 Encoded String and checks it: well-formed, no surrogates ([MQTT-1.5.4-1] v5),
// no U+0000 ([MQTT-1.5.4-2] v5). A BOM (EF BB BF) is kept as U+FEFF ([MQTT-1.5.4-3] v5).
func (d *decoder) str(what string) string { return d.strRules(what, ruleUTF8, ruleUTF8Null) }

// strRules is str citing the given rules for ill-formed text and for U+0000.
func (d *decoder) strRules(what string, invalid, null rule) string {
	b := d.binary(what)
	if len(b) == 0 {
		return ""
	}
	switch checkUTF8(b) {
	case utf8Invalid:
		d.fail(MalformedPacket, invalid, "%s is not well-formed UTF-8", what)
		return ""
	case utf8Null:
		d.fail(MalformedPacket, null, "%s contains U+0000", what)
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// rest returns the unread bytes (a PUBLISH payload), nil when none.
func (d *decoder) rest() []byte {
	if d.pos >= len(d.buf) {
		return nil
	}
	b := d.buf[d.pos:len(d.buf):len(d.buf)]
	d.pos = len(d.buf)
	return b
}

const (
	varintOK = iota
	varintShort
	varintTooLong
	varintPadded
)

// parseVarint decodes a Variable Byte Integer from the front of b and returns its value and
// length.
func parseVarint(b []byte) (v uint32, n int, code int) {
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, varintShort
		}
		c := b[i]
		v |= uint32(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, varintPadded
			}
			return v, i + 1, varintOK
		}
	}
	return 0, 0, varintTooLong
}

const (
	utf8OK = iota
	utf8Invalid
	utf8Null
)

// checkUTF8 classifies b as valid, ill-formed (which includes encoded surrogates: the utf8 package
// rejects them) or containing U+0000.
func checkUTF8(b []byte) int {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return utf8Null
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return utf8Invalid
		}
		i += n
	}
	return utf8OK
}

// varintLen returns how many bytes the Variable Byte Integer v takes.
func varintLen(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	}
	return 4
}

func appendVarint(b []byte, v int) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(b []byte, s string) []byte {
	b = appendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBinary(b []byte, s []byte) []byte {
	b = appendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func bitsTrailing(s uint64) int { return bits.TrailingZeros64(s) }

// bytesView returns b as a string without copying, for read-only use while b is not modified.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
