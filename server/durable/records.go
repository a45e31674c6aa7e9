package durable

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mqttds/mqttds/ds"
)

// Key kinds of the session table. Every key of a session starts with its kind and the client
// id, so one prefix scan finds one kind of one session:
//
//	meta:      | 'm' | uvarint len(cid) | cid |
//	cursor:    | 'c' | uvarint len(cid) | cid | uvarint len(filter) | filter | stream bytes |
//	batch:     | 'f' | uvarint len(cid) | cid | id (8 bytes, big endian)        |  (batch.go)
//	inflight:  | 'f' | uvarint len(cid) | cid | packet id (2 bytes, big endian) |  (format v1, read only)
//	await-rel: | 'r' | uvarint len(cid) | cid | packet id (2 bytes, big endian) |
//	heartbeat: | 'n' |                      (shard 0 only)
const (
	kindMeta      = 'm'
	kindCursor    = 'c'
	kindInflight  = 'f'
	kindRel       = 'r'
	kindHeartbeat = 'n'
)

func sessionPrefix(kind byte, cid string) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(cid)+2)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(cid)))
	return append(b, cid...)
}

func metaKey(cid string) []byte { return sessionPrefix(kindMeta, cid) }

// Batch records share the 'f' kind with the v1 per-message records they replace, so a prefix
// scan of a session's in-flight state finds both; the length of the rest tells them apart.

func pidKey(kind byte, cid string, pid uint16) []byte {
	return binary.BigEndian.AppendUint16(sessionPrefix(kind, cid), pid)
}

func cursorKey(cid, filter string, stream []byte) []byte {
	b := sessionPrefix(kindCursor, cid)
	b = binary.AppendUvarint(b, uint64(len(filter)))
	b = append(b, filter...)
	return append(b, stream...)
}

// parseSessionKey splits a key into its kind, client id and the rest.
func parseSessionKey(k []byte) (kind byte, cid string, rest []byte, err error) {
	if len(k) < 2 {
		return 0, "", nil, fmt.Errorf("%w: key %x", ErrCorruption, k)
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || n > uint64(len(k)-1-w) {
		return 0, "", nil, fmt.Errorf("%w: key %x", ErrCorruption, k)
	}
	return k[0], string(k[1+w : 1+w+int(n)]), k[1+w+int(n):], nil
}

// NeverExpire is the expiry of a session whose Session Expiry Interval is 0xFFFFFFFF.
const NeverExpire = time.Duration(1<<63 - 1)

// Subscription is one durable subscription with its MQTT options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	// SubscriptionID is the v5 Subscription Identifier, 0 if none.
	SubscriptionID uint32
	// Since is the ds timestamp (µs) of the SUBSCRIBE: older messages are not delivered.
	Since uint64
}

// Will is a Will Message kept until the session's connection ends (and its delay passes).
type Will struct {
	Message ds.Message
	Delay   time.Duration
}

// Meta is the part of a session's state that changes rarely: what CONNECT, SUBSCRIBE and
// DISCONNECT decide.
//
// Encoded (format v1; integers are uvarints, strings uvarint length + bytes):
//
//	| version | created µs | last alive µs | expiry s | online | has will | [will] | n subs | subs |
//	sub:  | filter | QoS | flags (1 no local, 2 retain as published) | retain handling | sub id | since µs |
//	will: | message (client id, topic, payload, QoS, retain, v5 properties) | delay s |
//
// expiry s is 0xFFFFFFFF for NeverExpire.
type Meta struct {
	Created   time.Time
	LastAlive time.Time
	Expiry    time.Duration
	// Online is set while a connection is attached, so that after a crash the session ages
	// from the node's last heartbeat rather than from LastAlive.
	Online bool
	Will   *Will
	Subs   map[string]Subscription
}

func expirySeconds(d time.Duration) uint64 {
	if d == NeverExpire {
		return 0xFFFFFFFF
	}
	return uint64(d / time.Second)
}

func expiryFromSeconds(s uint64) time.Duration {
	if s >= 0xFFFFFFFF {
		return NeverExpire
	}
	return time.Duration(s) * time.Second
}

func micros(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixMicro())
}

func fromMicros(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(v))
}

// encodeMeta encodes m; subscriptions are written sorted by filter so that equal states give
// equal bytes.
func encodeMeta(m *Meta) []byte {
	e := encoder{b: make([]byte, 0, 64)}
	e.version()
	e.uvarint(micros(m.Created))
	e.uvarint(micros(m.LastAlive))
	e.uvarint(expirySeconds(m.Expiry))
	e.bool(m.Online)
	e.bool(m.Will != nil)
	if m.Will != nil {
		e.message(&m.Will.Message)
		e.uvarint(uint64(m.Will.Delay / time.Second))
	}
	e.uvarint(uint64(len(m.Subs)))
	for _, f := range sortedFilters(m.Subs) {
		s := m.Subs[f]
		e.string(s.Filter)
		e.byte(s.QoS)
		var flags byte
		if s.NoLocal {
			flags |= 1
		}
		if s.RetainAsPublished {
			flags |= 2
		}
		e.byte(flags)
		e.byte(s.RetainHandling)
		e.uvarint(uint64(s.SubscriptionID))
		e.uvarint(s.Since)
	}
	return e.b
}

func decodeMeta(b []byte) (*Meta, error) {
	d := decoder{b: b}
	d.version()
	m := &Meta{Subs: map[string]Subscription{}}
	m.Created = fromMicros(d.uvarint())
	m.LastAlive = fromMicros(d.uvarint())
	m.Expiry = expiryFromSeconds(d.uvarint())
	m.Online = d.bool()
	if d.bool() {
		w := &Will{Message: d.message()}
		w.Delay = time.Duration(d.u32()) * time.Second
		m.Will = w
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("subscription count")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var s Subscription
		s.Filter = d.string()
		s.QoS = d.byte()
		flags := d.byte()
		s.NoLocal, s.RetainAsPublished = flags&1 != 0, flags&2 != 0
		s.RetainHandling = d.byte()
		s.SubscriptionID = d.u32()
		s.Since = d.uvarint()
		if s.QoS > 2 || flags > 3 || s.RetainHandling > 2 {
			d.fail("subscription options")
		}
		m.Subs[s.Filter] = s
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// State of an outbound QoS 1/2 message.
type State uint8

const (
	// StateSent: PUBLISH sent, waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
	StateSent State = 1
	// StateReleased: PUBREC received and PUBREL sent, waiting for PUBCOMP. A released message
	// is never sent as PUBLISH again [MQTT-4.3.3-2].
	StateReleased State = 2
)

// inflight is one outbound QoS 1/2 message that has a packet id. A message read from the
// session's streams belongs to a batch (batch.go), which names it by the stream position of
// its read and its key, never by a copy.
type inflight struct {
	pid    uint16
	seq    uint64 // send order within the session
	qos    byte
	state  State
	retain bool // the RETAIN flag this subscriber sees
	subIDs []uint32
	key    []byte // the message's key in its stream
	b      *batch // nil for transient entries
	// transient entries (retained messages sent on SUBSCRIBE, messages of shared groups,
	// which keep their own record) live in memory only and are not re-sent after a restart.
	transient bool
}

// decodeInflightV1 decodes a format v1 in-flight record, one message per record, which this
// build reads and rewrites as a batch (batchOfLegacy):
//
//	| 1 | seq | QoS | state | retain | n sub ids | sub ids | filter | message key | iterator before |
func decodeInflightV1(pid uint16, b []byte) (f *inflight, filter string, before []byte, err error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && FormatVersion(v) != FormatV1 {
		return nil, "", nil, fmt.Errorf("%w: per-message in-flight record of format %d", ErrFormatVersion, v)
	}
	f = &inflight{pid: pid}
	f.seq = d.uvarint()
	f.qos = d.byte()
	f.state = State(d.byte())
	f.retain = d.bool()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("sub id count")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		f.subIDs = append(f.subIDs, d.u32())
	}
	filter = d.string()
	f.key = d.bytes()
	before = d.bytes()
	if (f.qos != 1 && f.qos != 2) || (f.state != StateSent && f.state != StateReleased) ||
		(f.state == StateReleased && f.qos != 2) || pid == 0 {
		d.fail("inflight entry")
	}
	if err := d.done(); err != nil {
		return nil, "", nil, err
	}
	return f, filter, before, nil
}

// cursorValue is a stream's fetch position: everything before it has been handed out (and, for
// QoS 1/2, has an inflight entry or is complete).
//
// Encoded (format v1): | version | ended | serialized ds.Iterator |
func encodeCursor(ended bool, it []byte) []byte {
	e := encoder{b: make([]byte, 0, 3+len(it))}
	e.version()
	e.bool(ended)
	e.bytes(it)
	return e.b
}

func decodeCursor(b []byte) (ended bool, it []byte, err error) {
	d := decoder{b: b}
	d.version()
	ended = d.bool()
	it = d.bytes()
	return ended, it, d.done()
}

// encodeTime encodes the value of await-rel and heartbeat keys: | version | µs |.
func encodeTime(t time.Time) []byte {
	e := encoder{}
	e.version()
	e.uvarint(micros(t))
	return e.b
}

func decodeTime(b []byte) (time.Time, error) {
	d := decoder{b: b}
	d.version()
	t := fromMicros(d.uvarint())
	return t, d.done()
}
