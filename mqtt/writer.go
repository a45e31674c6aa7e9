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
//
// A packet over the maximum size is not written and the error has Code PacketTooLarge: the broker
// then drops the message as if delivered ([MQTT-3.1.2-25] v5). Before giving up on a packet other
// than PUBLISH, the Writer leaves out its Reason String and then its User Properties, as the spec
// asks of every sender ([MQTT-3.2.2-19], [MQTT-3.2.2-20], [MQTT-3.4.2-2], [MQTT-3.4.2-3] and the
// same pairs for PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and AUTH, v5); p itself
// is not modified.
func (w *Writer) WritePacket(p *Packet, v Version) error {
	var e encoding
	if err := e.plan(p, v); err != nil {
		return err
	}
	if e.size() > w.max {
		trimmed, err := w.trim(p, &e)
		if err != nil {
			return err
		}
		p = trimmed
	}
	w.buf = e.appendTo(w.buf[:0], p)
	_, err := w.bw.Write(w.buf)
	if cap(w.buf) > 1<<20 {
		w.buf = make([]byte, 0, 256) // do not pin one huge message's buffer forever
	}
	return err
}

// trim returns a copy of p without the diagnostic properties the receiver can do without, planned
// into e, or PacketTooLarge if even that does not fit.
func (w *Writer) trim(p *Packet, e *encoding) (*Packet, error) {
	tooLarge := func() error {
		return newError(PacketTooLarge, rule{"MQTT-3.1.2-24", "MQTT-3.1.2-24"}, e.v, p.Type,
			"packet of %d bytes exceeds the peer's maximum packet size %d", e.size(), w.max)
	}
	if p.Type == TypePublish || p.Type == TypeConnect || e.v != V5 {
		return nil, tooLarge()
	}
	q, v := *p, e.v
	for _, drop := range [...]func(*Properties){
		func(pr *Properties) { pr.ReasonString = ""; pr.Present &^= 1 << PropReasonString },
		func(pr *Properties) { pr.User = nil },
	} {
		drop(&q.Properties)
		*e = encoding{}
		if err := e.plan(&q, v); err != nil {
			return nil, err
		}
		if e.size() <= w.max {
			return &q, nil
		}
	}
	return nil, tooLarge()
}

// Flush sends what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }
