package mqttbench

import (
	"encoding/binary"
	"errors"
)

// PayloadFormatVersion numbers the layout of the header that every bench payload starts with. It only
// moves forward; a receiver rejects payloads of a version it does not know instead of guessing.
type PayloadFormatVersion uint8

// PayloadFormatV1 is the first (and current) header layout.
const PayloadFormatV1 PayloadFormatVersion = 1

// Header is what a publisher writes at the front of each payload so that a receiver can attribute the
// message to one publisher of one run, detect loss, duplication and reordering exactly, and measure
// the end-to-end latency.
//
// Wire layout (format version 1, 28 bytes, integers big-endian):
//
//	0      2     3       4          8             12                 20                 28
//	+------+-----+-------+----------+-------------+------------------+------------------+----------
//	| "MB" | ver | flags |  run id  |  publisher  |     sequence     |  sent, unix ns   |  filler
//	+------+-----+-------+----------+-------------+------------------+------------------+----------
//	 magic   =1    =0      uint32     uint32         uint64, from 1     int64
//
// The run id is random per bench run, so messages left over from an earlier run (retained, or queued
// in a durable session) are told apart and ignored. The filler brings the payload up to --size, or is
// the content of --payload-file.
type Header struct {
	RunID     uint32
	Publisher uint32
	Seq       uint64
	SentNanos int64
}

// HeaderSize is the encoded size of a Header, and so the smallest payload the tool can send.
const HeaderSize = 28

var payloadMagic = [2]byte{'M', 'B'}

// Errors returned by DecodeHeader.
var (
	ErrPayloadShort   = errors.New("bench: payload shorter than the bench header")
	ErrPayloadMagic   = errors.New("bench: payload does not start with the bench magic")
	ErrPayloadVersion = errors.New("bench: payload header has an unknown format version")
)

// Put writes h into the first HeaderSize bytes of p, which must be at least that long.
func (h *Header) Put(p []byte) {
	_ = p[HeaderSize-1] // one bounds check for the writes below
	p[0], p[1] = payloadMagic[0], payloadMagic[1]
	p[2] = byte(PayloadFormatV1)
	p[3] = 0
	binary.BigEndian.PutUint32(p[4:], h.RunID)
	binary.BigEndian.PutUint32(p[8:], h.Publisher)
	binary.BigEndian.PutUint64(p[12:], h.Seq)
	binary.BigEndian.PutUint64(p[20:], uint64(h.SentNanos))
}

// DecodeHeader reads the header at the front of p. It does not retain p.
func DecodeHeader(p []byte) (Header, error) {
	if len(p) < HeaderSize {
		return Header{}, ErrPayloadShort
	}
	if p[0] != payloadMagic[0] || p[1] != payloadMagic[1] {
		return Header{}, ErrPayloadMagic
	}
	if PayloadFormatVersion(p[2]) != PayloadFormatV1 {
		return Header{}, ErrPayloadVersion
	}
	return Header{
		RunID:     binary.BigEndian.Uint32(p[4:]),
		Publisher: binary.BigEndian.Uint32(p[8:]),
		Seq:       binary.BigEndian.Uint64(p[12:]),
		SentNanos: int64(binary.BigEndian.Uint64(p[20:])),
	}, nil
}

// newPayloadTemplate returns the bytes a publisher copies for every message before stamping the
// header: size bytes of filler, or the header room followed by the file content when one is given.
func newPayloadTemplate(size int, file []byte) []byte {
	if file != nil {
		p := make([]byte, HeaderSize+len(file))
		copy(p[HeaderSize:], file)
		return p
	}
	p := make([]byte, size)
	for i := HeaderSize; i < size; i++ {
		p[i] = 'a' + byte(i%26) // printable, so a payload dumped by mosquitto_sub stays readable
	}
	return p
}
