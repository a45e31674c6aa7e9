package mqtt

import "bufio"

// Writer encodes packets onto a buffered stream. It keeps one encoding buffer that grows to the
// largest packet written, so writing PUBLISH, PUBACK and the other packets allocates nothing once
// warm. It is not safe for concurrent use.
type Writer struct {
	bw  *bufio.Writer
	buf []byte
	max int
}

// NewWriter returns a Writer onto bw that refuses to write packets larger than maxPacketSize bytes
// (the peer's Maximum Packet Size, [MQTT-3.1.2-24] v5); maxPacketSize <= 0 means no limit.
func NewWriter(bw *bufio.Writer, maxPacketSize int) *Writer {
	w := &Writer{bw: bw, buf: make([]byte, 0, 256)}
	w.SetMaxPacketSize(maxPacketSize)
	return w
}

// SetMaxPacketSize changes the limit, for example to the Maximum Packet Size of the CONNECT.
func (w *Writer) SetMaxPacketSize(n int) {
	if n <= 0 {
		n = 1 + 4 + MaxRemainingLength
	}
	w.max = n
}

// WritePacket encodes p at version v and writes it to the buffered stream; call Flush to send.
// A packet over the maximum size is not written and the error has Code PacketTooLarge: the broker
// then drops the message as if delivered ([MQTT-3.1.2-25] v5).
func (w *Writer) WritePacket(p *Packet, v Version) error {
	var e encoding
	if err := e.plan(p, v); err != nil {
		return err
	}
	if n := e.size(); n > w.max {
		return newError(PacketTooLarge, rule{"MQTT-3.1.2-24", "MQTT-3.1.2-24"}, e.v, p.Type,
			"packet of %d bytes exceeds the peer's maximum packet size %d", n, w.max)
	}
	w.buf = e.appendTo(w.buf[:0], p)
	_, err := w.bw.Write(w.buf)
	if cap(w.buf) > 1<<20 {
		w.buf = make([]byte, 0, 256) // do not pin one huge message's buffer forever
	}
	return err
}

// Flush sends what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }
