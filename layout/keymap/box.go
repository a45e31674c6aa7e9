package keymap

import "fmt"

// Interval is a closed interval of one dimension. Min == Max is an equality constraint.
type Interval struct {
	Min, Max uint64
}

// Any returns the interval of every value of a dimension of width bits.
func Any(width int) Interval { return Interval{0, lowMask(width)} }

// Eq returns the interval holding only v.
func Eq(v uint64) Interval { return Interval{v, v} }

// Box is the set of keys whose every chunk lies inside the projection of the box's dimension
// intervals onto that chunk. It is immutable and safe for concurrent use.
type Box struct {
	m      *Keymap
	lo, hi []uint64 // per chunk of m
	// mask and filter give a cheap necessary condition: key & mask == filter, covering the
	// chunks constrained to a single value.
	mask, filter []byte
	// ranged lists the chunks constrained to a proper sub-range of more than one value.
	ranged []int
}

// Box returns the box of per-dimension intervals dims (len == Dims). It fails if an interval is
// empty or does not fit its dimension.
func (m *Keymap) Box(dims []Interval) (*Box, error) {
	if len(dims) != len(m.dimBits) {
		return nil, fmt.Errorf("keymap: box has %d intervals for %d dimensions", len(dims), len(m.dimBits))
	}
	for d, iv := range dims {
		if iv.Min > iv.Max || iv.Max > lowMask(m.dimBits[d]) {
			return nil, fmt.Errorf("keymap: dimension %d: bad interval [%d, %d]", d, iv.Min, iv.Max)
		}
	}
	b := &Box{
		m:      m,
		lo:     make([]uint64, len(m.chunks)),
		hi:     make([]uint64, len(m.chunks)),
		mask:   make([]byte, m.Len()),
		filter: make([]byte, m.Len()),
	}
	for i, c := range m.chunks {
		full := lowMask(c.Size)
		if c.Dim == padDim {
			b.lo[i], b.hi[i] = 0, 0
		} else {
			iv := dims[c.Dim]
			above := c.Offset + c.Size // a and b must agree on the dimension's bits above the chunk
			if above >= 64 || iv.Min>>uint(above) == iv.Max>>uint(above) {
				b.lo[i], b.hi[i] = iv.Min>>uint(c.Offset)&full, iv.Max>>uint(c.Offset)&full
			} else {
				b.lo[i], b.hi[i] = 0, full
			}
		}
		switch {
		case b.lo[i] == b.hi[i]:
			putBits(b.mask, c.at, c.Size, full)
			putBits(b.filter, c.at, c.Size, b.lo[i])
		case b.lo[i] != 0 || b.hi[i] != full:
			b.ranged = append(b.ranged, i)
		}
	}
	return b, nil
}

// Keymap returns the keymap of the box.
func (b *Box) Keymap() *Keymap { return b.m }

// Contains reports whether key (len == Len) lies inside the box.
func (b *Box) Contains(key []byte) bool {
	for i, mk := range b.mask {
		if key[i]&mk != b.filter[i] {
			return false
		}
	}
	for _, i := range b.ranged {
		c := b.m.chunks[i]
		if v := getBits(key, c.at, c.Size); v < b.lo[i] || v > b.hi[i] {
			return false
		}
	}
	return true
}

// AppendMin appends the smallest key of the box to dst.
func (b *Box) AppendMin(dst []byte) []byte { return b.appendChunks(dst, b.lo) }

// AppendMax appends the largest key of the box to dst.
func (b *Box) AppendMax(dst []byte) []byte { return b.appendChunks(dst, b.hi) }

func (b *Box) appendChunks(dst []byte, vals []uint64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, b.m.Len())...)
	for i, c := range b.m.chunks {
		putBits(dst[n:], c.at, c.Size, vals[i])
	}
	return dst
}

// Seek appends to dst the smallest key of the box that is >= key (len == Len) and reports
// whether there is one.
func (b *Box) Seek(dst, key []byte) ([]byte, bool) {
	var buf [16]uint64
	c := b.load(buf[:0], key)
	if !b.seek(c) {
		return dst, false
	}
	return b.appendChunks(dst, c), true
}

// SeekAfter appends to dst the smallest key of the box that is > key (len == Len) and reports
// whether there is one.
func (b *Box) SeekAfter(dst, key []byte) ([]byte, bool) {
	var buf [16]uint64
	c := b.load(buf[:0], key)
	if b.inside(c) {
		if !b.increment(c, len(c)) {
			return dst, false
		}
	} else if !b.seek(c) {
		return dst, false
	}
	return b.appendChunks(dst, c), true
}

// load decodes the chunk values of key into c.
func (b *Box) load(c []uint64, key []byte) []uint64 {
	for _, ch := range b.m.chunks {
		c = append(c, getBits(key, ch.at, ch.Size))
	}
	return c
}

func (b *Box) inside(c []uint64) bool {
	for i, v := range c {
		if v < b.lo[i] || v > b.hi[i] {
			return false
		}
	}
	return true
}

// seek moves the chunk values c to the smallest point of the box that is >= c, treating c as a
// number whose digits are the chunks. The first chunk out of its interval decides: below it,
// raise it to its minimum; above it, the digits before it must grow, so increment the nearest
// one that can. Every chunk after the changed one drops to its minimum.
func (b *Box) seek(c []uint64) bool {
	for i, v := range c {
		switch {
		case v < b.lo[i]:
			c[i] = b.lo[i]
			copy(c[i+1:], b.lo[i+1:])
			return true
		case v > b.hi[i]:
			return b.increment(c, i)
		}
	}
	return true
}

// increment moves c, whose first `upto` chunks lie inside the box, to the smallest point of the
// box whose first `upto` chunks are greater than c's: the last chunk before upto that is below
// its maximum grows by one, and everything after it drops to its minimum. It reports false when
// no chunk can grow (the box holds nothing further).
func (b *Box) increment(c []uint64, upto int) bool {
	for j := upto - 1; j >= 0; j-- {
		if c[j] < b.hi[j] {
			c[j]++
			copy(c[j+1:], b.lo[j+1:])
			return true
		}
	}
	return false
}
