package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/mqttds/mqttds/ds"
)

// FormatVersion is the version of every value this package writes to the session table. A
// reader refuses a value of a newer version with ErrFormatVersion instead of guessing.
type FormatVersion uint8

const (
	// FormatV1 is the first format (see doc.go for the layouts): one in-flight record per
	// message. Its meta, cursor and time values are those of v2.
	FormatV1 FormatVersion = 1
	// FormatV2 keeps in-flight messages as batch records, one per read of a stream
	// (batch.go). A v1 in-flight record is still read, and rewritten as a batch.
	FormatV2 FormatVersion = 2
	// FormatV3 adds the hold records of group sessions (group_hold.go: which member holds a
	// group message). The other values are those of v2.
	FormatV3 FormatVersion = 3
	// FormatCurrent is what new values are written in.
	FormatCurrent = FormatV3
)

var (
	// ErrCorruption marks a stored value that cannot be decoded.
	ErrCorruption = errors.New("durable: corrupt session record")
	// ErrFormatVersion marks a stored value of a format this build does not know.
	ErrFormatVersion = errors.New("durable: unsupported session record format")
)

// encoder appends the primitives of the record formats: uvarints, and byte strings as uvarint
// length + bytes.
type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) string(v string)  { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bool(v bool)      { e.byte(boolByte(v)) }
func (e *encoder) version()         { e.byte(byte(FormatCurrent)) }
func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads what encoder wrote; the first problem sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorruption, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bool")
	return false
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("uint32")
	}
	return uint32(v)
}

func (d *decoder) u16() uint16 {
	v := d.uvarint()
	if v > math.MaxUint16 {
		d.fail("uint16")
	}
	return uint16(v)
}

// version checks the leading format byte.
func (d *decoder) version() {
	v := d.byte()
	if d.err == nil && (v == 0 || FormatVersion(v) > FormatCurrent) {
		d.err = fmt.Errorf("%w: %d", ErrFormatVersion, v)
	}
}

// versionAtLeast checks the leading format byte of a value that exists since format min.
func (d *decoder) versionAtLeast(min FormatVersion) {
	v := d.byte()
	switch {
	case d.err != nil:
	case FormatVersion(v) > FormatCurrent:
		d.err = fmt.Errorf("%w: %d", ErrFormatVersion, v)
	case FormatVersion(v) < min:
		d.fail(fmt.Sprintf("format %d for a record of format %d or later", v, min))
	}
}

// done returns the sticky error, or one for trailing bytes.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// appendMessage encodes a will message (topic, payload, QoS, retain, the v5 properties).
func (e *encoder) message(m *ds.Message) {
	e.string(m.ClientID)
	e.string(m.Topic)
	e.bytes(m.Payload)
	e.byte(m.QoS)
	e.bool(m.Retain)
	p := &m.Properties
	e.string(p.ContentType)
	e.bytes(p.CorrelationData)
	e.string(p.ResponseTopic)
	e.byte(p.PayloadFormat)
	e.bool(p.HasMessageExpiry)
	e.uvarint(uint64(p.MessageExpiry))
	e.uvarint(uint64(len(p.UserProperties)))
	for _, u := range p.UserProperties {
		e.string(u.Key)
		e.string(u.Value)
	}
}

func (d *decoder) message() ds.Message {
	var m ds.Message
	m.ClientID = d.string()
	m.Topic = d.string()
	m.Payload = d.bytes()
	m.QoS = d.byte()
	m.Retain = d.bool()
	p := &m.Properties
	p.ContentType = d.string()
	p.CorrelationData = d.bytes()
	p.ResponseTopic = d.string()
	p.PayloadFormat = d.byte()
	p.HasMessageExpiry = d.bool()
	p.MessageExpiry = d.u32()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("user property count")
		return m
	}
	for range n {
		p.UserProperties = append(p.UserProperties, ds.UserProperty{Key: d.string(), Value: d.string()})
	}
	if m.QoS > 2 {
		d.fail("QoS")
	}
	return m
}
