package mqtt

import (
	"bufio"
	"io"
)

// Reader reads packets from a byte stream, one at a time. It is not safe for concurrent use.
//
// Memory: the maximum packet size is checked against the fixed header, before any of the body is
// read or allocated ([MQTT-3.2.2-15] v5 names the client's side, MQTT5 §3.2.2.3.6 the server's). A
// body above 64 KiB is read in growing steps, so a peer that announces a large packet and then
// stalls costs only what it actually sent. Packets that carry no strings or byte slices (PUBACK,
// PINGREQ, a short DISCONNECT…) are decoded from one buffer the Reader reuses; every other packet
// gets exactly one new allocation holding its whole body, which its strings and slices share —
// a QoS 1 PUBLISH costs one allocation for topic and payload together. Decoded packets therefore
// never alias Reader memory and stay valid after the next ReadPacket.
type Reader struct {
	br      *bufio.Reader
	max     int     // largest whole packet accepted (fixed header included)
	scratch [4]byte // body of packets that cannot hold strings (see ownsBytes)
}

// NewReader returns a Reader over br that refuses packets larger than maxPacketSize bytes
// (fixed header included). maxPacketSize <= 0 means the protocol maximum.
func NewReader(br *bufio.Reader, maxPacketSize int) *Reader {
	r := &Reader{br: br}
	r.SetMaxPacketSize(maxPacketSize)
	return r
}

// SetMaxPacketSize changes the limit, for example once CONNECT has been read.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 || n > 1+4+MaxRemainingLength {
		n = 1 + 4 + MaxRemainingLength
	}
	r.max = n
}

// MaxPacketSize returns the current limit.
func (r *Reader) MaxPacketSize() int { return r.max }

// chunk is the step in which large bodies are read and their buffer grown.
const chunk = 64 << 10

// ReadPacket reads and decodes the next packet, sent at protocol version v (0 before CONNECT:
// then only CONNECT is accepted, and its protocol level tells the version).
//
// Errors: io.EOF when the stream ends cleanly before a packet, io.ErrUnexpectedEOF when it ends
// inside one, another I/O error as is, or an *Error for a protocol violation (PacketTooLarge,
// MalformedPacket, ProtocolError, …). After an error the stream position is undefined: close the
// connection (after sending the reason code, [MQTT-4.13.1-1] v5).
func (r *Reader) ReadPacket(v Version) (p Packet, err error) {
	first, err := r.br.ReadByte()
	if err != nil {
		return Packet{}, err
	}
	t, err := checkFixedHeader(first, v)
	if err != nil {
		return Packet{}, err
	}
	rl, n, err := r.readRemainingLength(t, v)
	if err != nil {
		return Packet{}, err
	}
	if total := 1 + n + rl; total > r.max {
		return Packet{}, newError(PacketTooLarge, ruleTooLarge, v, t,
			"packet of %d bytes exceeds the maximum packet size %d", total, r.max)
	}
	body, err := r.readBody(t, rl)
	if err != nil {
		return Packet{}, err
	}
	err = decodeBody(&p, t, first, body, v)
	return p, err
}

// readRemainingLength reads the Variable Byte Integer after byte 1.
func (r *Reader) readRemainingLength(t Type, v Version) (int, int, error) {
	var val int
	for i := 0; i < 4; i++ {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, 0, unexpected(err)
		}
		val |= int(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, newError(MalformedPacket, ruleVarIntShort, v, t, "remaining length not minimally encoded")
			}
			return val, i + 1, nil
		}
	}
	return 0, 0, newError(MalformedPacket, ruleVarInt, v, t, "remaining length longer than 4 bytes")
}

// readBody reads n body bytes, into the reused buffer when nothing of the packet will point into
// them, into a buffer of the packet's own otherwise.
func (r *Reader) readBody(t Type, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= len(r.scratch) && !ownsBytes(t, n) {
		buf := r.scratch[:n]
		_, err := io.ReadFull(r.br, buf)
		return buf, unexpected(err)
	}
	if n <= chunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r.br, buf)
		return buf, unexpected(err)
	}
	// Grow with what arrives rather than trusting the announced length.
	buf := make([]byte, 0, chunk)
	for len(buf) < n {
		step := min(n-len(buf), max(cap(buf)-len(buf), chunk))
		if cap(buf)-len(buf) < step {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r.br, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// ownsBytes reports whether a decoded packet of type t with an n-byte body can point into its body
// (strings, payloads, properties). PUBACK-like packets of 4 bytes or less, a CONNACK of 3, a
// DISCONNECT or AUTH of 2 and the PINGs cannot: at those lengths any Property Length is 0.
func ownsBytes(t Type, n int) bool {
	switch t {
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		return n > 4
	case TypeDisconnect, TypeAuth:
		return n > 2
	case TypeConnack:
		return n > 3
	case TypePingreq, TypePingresp:
		return false
	}
	return true
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
