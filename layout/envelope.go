package layout

import (
	"encoding/binary"
	"fmt"
)

// The value envelope, shared by every layout, format version 1:
//
//	+---------+--------------+-------------+----------------------+
//	| version | topic length | topic bytes | Entry.Value (opaque) |
//	|  0x01   |   uvarint    |             |   rest of the value  |
//	+---------+--------------+-------------+----------------------+
//
// The topic is stored in full so that a reader can check every candidate against its filter:
// keys hold only hashes of the varying levels.
const envelopeFormatV1 = 1

// appendEnvelope appends the envelope of topic and value to dst.
func appendEnvelope(dst []byte, topic string, value []byte) []byte {
	dst = append(dst, envelopeFormatV1)
	dst = binary.AppendUvarint(dst, uint64(len(topic)))
	dst = append(dst, topic...)
	return append(dst, value...)
}

// envelopeSize is the encoded size of an envelope.
func envelopeSize(topic string, value []byte) int {
	return 1 + uvarintLen(uint64(len(topic))) + len(topic) + len(value)
}

// decodeEnvelope splits an envelope into its topic and value; both alias b.
func decodeEnvelope(b []byte) (topic, value []byte, err error) {
	if len(b) == 0 || b[0] != envelopeFormatV1 {
		return nil, nil, fmt.Errorf("%w: value envelope: bad version", ErrCorrupt)
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return nil, nil, fmt.Errorf("%w: value envelope: bad topic length", ErrCorrupt)
	}
	start := 1 + w
	return b[start : start+int(n)], b[start+int(n):], nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
