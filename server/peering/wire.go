package peering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server"
)

// The wire forms of route updates and message batches. Both start with a version byte; strings
// and byte strings are a uvarint length followed by the bytes.
//
//	routes:  version:1 epoch:8 seq:8 full:1 count:uvarint { present:1 filter }...
//	batch:   version:1 count:uvarint { message }...
//	message: flags:1 (qos:2 retain:1 expires:1 plain:1) topic publisher created:8 [expires:8]
//	         payload_format:1 content_type response_topic correlation_data
//	         user_count:uvarint { key value }... payload group_count:uvarint { shared filter }...
//
// Times are Unix nanoseconds. A decoder checks every length against what is left, so a hostile
// or corrupt body fails with an error and never allocates more than its own size.

const wireVersion = 1

// maxBody bounds the body of one request between brokers.
const maxBody = 64 << 20

var errShort = errors.New("peering: truncated body")

// RouteUpdate is one route message from a peer: either the changes since its previous update
// (Full false) or its whole route set (Full true, every change an add). Epoch is the sender's
// epoch; Seq numbers its updates from 0 at each whole set.
type RouteUpdate struct {
	Epoch, Seq uint64
	Full       bool
	Changes    []RouteChange
}

// RouteChange adds (Present) or removes one filter.
type RouteChange struct {
	Filter  string
	Present bool
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Marshal encodes u.
func (u *RouteUpdate) Marshal() []byte {
	b := []byte{wireVersion}
	b = binary.BigEndian.AppendUint64(b, u.Epoch)
	b = binary.BigEndian.AppendUint64(b, u.Seq)
	full := byte(0)
	if u.Full {
		full = 1
	}
	b = append(b, full)
	b = binary.AppendUvarint(b, uint64(len(u.Changes)))
	for _, c := range u.Changes {
		present := byte(0)
		if c.Present {
			present = 1
		}
		b = append(b, present)
		b = appendString(b, c.Filter)
	}
	return b
}

// reader decodes the wire forms; the first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail(errShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uint64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail(errShort)
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	// One encoding per value: a longer form than needed is refused, so what decodes encodes
	// back to the same bytes.
	if n != uvarintLen(v) {
		r.fail(errors.New("peering: overlong varint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// time reads a time in Unix nanoseconds; 0 is the zero time.
func (r *reader) time() time.Time {
	ns := r.uint64()
	if ns > math.MaxInt64 {
		r.fail(errors.New("peering: time out of range"))
		return time.Time{}
	}
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

// count reads an element count, each element taking at least min bytes, so a count larger
// than the rest of the body could hold fails before anything is allocated for it.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail(fmt.Errorf("peering: %d elements cannot fit in %d bytes", n, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) version() {
	if v := r.byte(); r.err == nil && v != wireVersion {
		r.fail(fmt.Errorf("peering: wire version %d, want %d", v, wireVersion))
	}
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Errorf("peering: %d bytes after the end", len(r.b)))
	}
	return r.err
}

// UnmarshalRoutes decodes a route update; every filter must be valid.
func UnmarshalRoutes(b []byte) (*RouteUpdate, error) {
	r := &reader{b: b}
	r.version()
	u := &RouteUpdate{Epoch: r.uint64(), Seq: r.uint64()}
	switch r.byte() {
	case 0:
	case 1:
		u.Full = true
	default:
		r.fail(errors.New("peering: bad full flag"))
	}
	n := r.count(2)
	for range n {
		c := RouteChange{}
		switch r.byte() {
		case 0:
		case 1:
			c.Present = true
		default:
			r.fail(errors.New("peering: bad route flag"))
		}
		c.Filter = r.string()
		if r.err != nil {
			break
		}
		if err := topic.ValidateFilter(c.Filter); err != nil {
			r.fail(fmt.Errorf("peering: route %q: %w", c.Filter, err))
			break
		}
		if u.Full && !c.Present {
			r.fail(errors.New("peering: a full route set lists a removal"))
			break
		}
		u.Changes = append(u.Changes, c)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return u, nil
}

const (
	flagQoS     = 0x03
	flagRetain  = 0x04
	flagExpires = 0x08
	flagPlain   = 0x10
)

// Forwarded is one message as it goes to one peer: for the peer's non-shared subscribers
// (Plain), for the shared groups the sending broker picked that peer for (Groups, canonical
// "$share/{group}/{filter}" filters), or both.
type Forwarded struct {
	Message *server.Message
	Plain   bool
	Groups  []string
}

func appendMessage(b []byte, f *Forwarded) []byte {
	m := f.Message
	flags := byte(m.QoS) & flagQoS
	if f.Plain {
		flags |= flagPlain
	}
	if m.Retain {
		flags |= flagRetain
	}
	if !m.Expires.IsZero() {
		flags |= flagExpires
	}
	b = append(b, flags)
	b = appendString(b, m.Topic)
	b = appendString(b, m.Publisher)
	b = appendTime(b, m.Created)
	if !m.Expires.IsZero() {
		b = appendTime(b, m.Expires)
	}
	b = append(b, m.PayloadFormat)
	b = appendString(b, m.ContentType)
	b = appendString(b, m.ResponseTopic)
	b = appendBytes(b, m.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(m.User)))
	for _, p := range m.User {
		b = appendString(b, p.Key)
		b = appendString(b, p.Value)
	}
	b = appendBytes(b, m.Payload)
	b = binary.AppendUvarint(b, uint64(len(f.Groups)))
	for _, g := range f.Groups {
		b = appendString(b, g)
	}
	return b
}

// minMessage is the fewest bytes a message takes on the wire.
const minMessage = 1 + 1 + 1 + 8 + 1 + 1 + 1 + 1 + 1 + 1 + 1

// MarshalBatch encodes messages as one batch.
func MarshalBatch(msgs []Forwarded) []byte {
	b := []byte{wireVersion}
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for i := range msgs {
		b = appendMessage(b, &msgs[i])
	}
	return b
}

// appendTime appends t in Unix nanoseconds, the zero time as 0.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.BigEndian.AppendUint64(b, 0)
	}
	return binary.BigEndian.AppendUint64(b, uint64(max(t.UnixNano(), 1)))
}

// UnmarshalBatch decodes a batch. Every message must have a valid topic name and QoS, and
// every group a valid shared filter; the messages share b's memory.
func UnmarshalBatch(b []byte) ([]Forwarded, error) {
	r := &reader{b: b}
	r.version()
	n := r.count(minMessage)
	msgs := make([]Forwarded, 0, n)
	for range n {
		flags := r.byte()
		m := &server.Message{QoS: mqtt.QoS(flags & flagQoS), Retain: flags&flagRetain != 0}
		f := Forwarded{Message: m, Plain: flags&flagPlain != 0}
		m.Topic = r.string()
		m.Publisher = r.string()
		m.Created = r.time()
		if flags&flagExpires != 0 {
			if m.Expires = r.time(); m.Expires.IsZero() {
				r.fail(errors.New("peering: an expiry flag without an expiry"))
			}
		}
		m.PayloadFormat = r.byte()
		m.ContentType = r.string()
		m.ResponseTopic = r.string()
		m.CorrelationData = r.bytes()
		users := r.count(2)
		for range users {
			m.User = append(m.User, mqtt.UserProperty{Key: r.string(), Value: r.string()})
		}
		m.Payload = r.bytes()
		groups := r.count(2)
		for range groups {
			g := r.string()
			if r.err != nil {
				break
			}
			if sf, err := topic.ParseFilter(g); err != nil || !sf.Shared() || sf.String() != g {
				r.fail(fmt.Errorf("peering: %q is not a shared filter in canonical form", g))
				break
			}
			f.Groups = append(f.Groups, g)
		}
		if r.err != nil {
			break
		}
		switch {
		case flags&^(flagQoS|flagRetain|flagExpires|flagPlain) != 0:
			r.fail(fmt.Errorf("peering: unknown message flags %#x", flags))
		case m.QoS > mqtt.QoS2:
			r.fail(errors.New("peering: QoS 3"))
		case m.PayloadFormat > 1:
			r.fail(fmt.Errorf("peering: payload format %d", m.PayloadFormat))
		default:
			if err := topic.ValidateName(m.Topic); err != nil {
				r.fail(fmt.Errorf("peering: topic %q: %w", m.Topic, err))
			}
		}
		if r.err != nil {
			break
		}
		msgs = append(msgs, f)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return msgs, nil
}
