package snapstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const magic = "MQDSSNP1"

const (
	kindHeader byte = 'h'
	kindData   byte = 'd'
	kindEnd    byte = 'e'
)

// MaxFrame bounds a frame's payload; a writer fills data frames to about FrameTarget bytes.
const (
	MaxFrame    = 4 << 20
	FrameTarget = 256 << 10
)

// ErrCorrupt is wrapped by every error about a stream that does not decode.
var ErrCorrupt = errors.New("snapstream: corrupt snapshot stream")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Writer writes a stream. Call Header once, Add for each record in key order, then Close.
type Writer struct {
	w       io.Writer
	buf     []byte
	last    []byte
	count   uint64
	started bool
	err     error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Header writes the magic and the header frame.
func (w *Writer) Header(h []byte) error {
	if w.started {
		return errors.New("snapstream: Header called twice")
	}
	w.started = true
	if _, err := io.WriteString(w.w, magic); err != nil {
		w.err = err
		return err
	}
	return w.frame(kindHeader, h)
}

// Add appends one record. Keys must be strictly increasing.
func (w *Writer) Add(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if !w.started {
		return errors.New("snapstream: Add before Header")
	}
	if w.count > 0 && bytes.Compare(key, w.last) <= 0 {
		return fmt.Errorf("snapstream: key %x after %x", key, w.last)
	}
	if len(key)+len(value)+2*binary.MaxVarintLen64 > MaxFrame {
		return fmt.Errorf("snapstream: record of %d bytes exceeds a frame", len(key)+len(value))
	}
	if len(w.buf)+len(key)+len(value)+2*binary.MaxVarintLen64 > MaxFrame {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)))
	w.buf = append(w.buf, key...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	w.buf = append(w.buf, value...)
	w.last = append(w.last[:0], key...)
	w.count++
	if len(w.buf) >= FrameTarget {
		return w.flush()
	}
	return nil
}

// Count is the number of records added.
func (w *Writer) Count() uint64 { return w.count }

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.frame(kindData, w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close writes the last data frame and the end frame. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if !w.started {
		return errors.New("snapstream: Close before Header")
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.frame(kindEnd, binary.BigEndian.AppendUint64(nil, w.count))
}

func (w *Writer) frame(kind byte, payload []byte) error {
	var hdr [9]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:5], uint32(len(payload)))
	crc := crc32.Update(crc32.Update(0, castagnoli, hdr[:1]), castagnoli, payload)
	binary.BigEndian.PutUint32(hdr[5:9], crc)
	if _, err := w.w.Write(hdr[:]); err != nil {
		w.err = err
		return err
	}
	if _, err := w.w.Write(payload); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Reader reads a stream: Header first, then Next until it reports the end.
type Reader struct {
	r       *bufio.Reader
	payload []byte // the current data frame's records not yet returned
	frame   []byte
	last    []byte
	count   uint64
	header  bool
	done    bool
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Header checks the magic and returns the header frame's payload.
func (r *Reader) Header() ([]byte, error) {
	if r.header {
		return nil, errors.New("snapstream: Header called twice")
	}
	r.header = true
	var m [len(magic)]byte
	if _, err := io.ReadFull(r.r, m[:]); err != nil {
		return nil, corruptf("no magic: %v", err)
	}
	if string(m[:]) != magic {
		return nil, corruptf("magic %q", m[:])
	}
	kind, payload, err := r.readFrame()
	if err != nil {
		return nil, err
	}
	if kind != kindHeader {
		return nil, corruptf("first frame of kind %q", kind)
	}
	return bytes.Clone(payload), nil
}

// Next returns the next record, or ok false after the end frame (whose count it checked). The
// slices stay valid until the next call.
func (r *Reader) Next() (key, value []byte, ok bool, err error) {
	if !r.header {
		return nil, nil, false, errors.New("snapstream: Next before Header")
	}
	for len(r.payload) == 0 {
		if r.done {
			return nil, nil, false, nil
		}
		kind, payload, err := r.readFrame()
		if err != nil {
			return nil, nil, false, err
		}
		switch kind {
		case kindData:
			if len(payload) == 0 {
				return nil, nil, false, corruptf("empty data frame")
			}
			r.payload = payload
		case kindEnd:
			if len(payload) != 8 {
				return nil, nil, false, corruptf("end frame of %d bytes", len(payload))
			}
			if n := binary.BigEndian.Uint64(payload); n != r.count {
				return nil, nil, false, corruptf("end frame counts %d records, stream held %d", n, r.count)
			}
			r.done = true
			return nil, nil, false, nil
		default:
			return nil, nil, false, corruptf("frame of kind %q after the header", kind)
		}
	}
	key, rest, err := field(r.payload)
	if err != nil {
		return nil, nil, false, err
	}
	value, rest, err = field(rest)
	if err != nil {
		return nil, nil, false, err
	}
	r.payload = rest
	if r.count > 0 && bytes.Compare(key, r.last) <= 0 {
		return nil, nil, false, corruptf("key %x after %x", key, r.last)
	}
	r.last = append(r.last[:0], key...)
	r.count++
	return key, value, true, nil
}

func field(b []byte) (f, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, corruptf("record field overruns its frame")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

func (r *Reader) readFrame() (byte, []byte, error) {
	var hdr [9]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return 0, nil, corruptf("cut before a frame: %v", err)
	}
	n := binary.BigEndian.Uint32(hdr[1:5])
	if n > MaxFrame {
		return 0, nil, corruptf("frame of %d bytes", n)
	}
	if cap(r.frame) < int(n) {
		r.frame = make([]byte, n)
	}
	payload := r.frame[:n]
	if _, err := io.ReadFull(r.r, payload); err != nil {
		return 0, nil, corruptf("frame cut: %v", err)
	}
	crc := crc32.Update(crc32.Update(0, castagnoli, hdr[:1]), castagnoli, payload)
	if crc != binary.BigEndian.Uint32(hdr[5:9]) {
		return 0, nil, corruptf("frame checksum mismatch")
	}
	return hdr[0], payload, nil
}
