package keymap

import (
	"errors"
	"fmt"
)

// Source is a chunk of a dimension: Size bits of dimension Dim starting at bit Offset of the
// dimension (bit 0 is the least significant).
type Source struct {
	Dim, Offset, Size int
}

// Keymap maps a vector of dimension values to a key and back. It is immutable and safe for
// concurrent use.
type Keymap struct {
	dimBits []int
	chunks  []chunk // most significant first; the last may be zero padding to a byte boundary
	bits    int     // total bits, padding included (a multiple of 8)
}

// chunk is a Source placed in the key.
type chunk struct {
	Source
	at int // bit position of the chunk's most significant bit in the key (0 = first bit)
}

// padDim marks the padding chunk.
const padDim = -1

// New returns the keymap whose key is the concatenation of sources, most significant first.
// dimBits gives the width of each dimension (1..64); the sources must cover every bit of every
// dimension exactly once. Keys are padded with zero bits to a whole number of bytes.
func New(dimBits []int, sources []Source) (*Keymap, error) {
	m := &Keymap{dimBits: append([]int(nil), dimBits...)}
	covered := make([]uint64, len(dimBits))
	for d, w := range dimBits {
		if w < 1 || w > 64 {
			return nil, fmt.Errorf("keymap: dimension %d has %d bits, want 1..64", d, w)
		}
	}
	for _, s := range sources {
		if s.Dim < 0 || s.Dim >= len(dimBits) || s.Size < 1 || s.Offset < 0 || s.Offset+s.Size > dimBits[s.Dim] {
			return nil, fmt.Errorf("keymap: bad source %+v", s)
		}
		mask := lowMask(s.Size) << s.Offset
		if covered[s.Dim]&mask != 0 {
			return nil, fmt.Errorf("keymap: source %+v overlaps another", s)
		}
		covered[s.Dim] |= mask
		m.chunks = append(m.chunks, chunk{Source: s, at: m.bits})
		m.bits += s.Size
	}
	for d, w := range dimBits {
		if covered[d] != lowMask(w) {
			return nil, fmt.Errorf("keymap: dimension %d not fully covered", d)
		}
	}
	if m.bits == 0 {
		return nil, errors.New("keymap: no sources")
	}
	if pad := (8 - m.bits%8) % 8; pad > 0 {
		m.chunks = append(m.chunks, chunk{Source: Source{Dim: padDim, Size: pad}, at: m.bits})
		m.bits += pad
	}
	return m, nil
}

// Len returns the length of a key in bytes.
func (m *Keymap) Len() int { return m.bits / 8 }

// Dims returns the number of dimensions.
func (m *Keymap) Dims() int { return len(m.dimBits) }

// AppendKey appends the key of vec (one value per dimension, each below 2^width) to dst.
func (m *Keymap) AppendKey(dst []byte, vec []uint64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, m.Len())...)
	key := dst[n:]
	for _, c := range m.chunks {
		if c.Dim != padDim {
			putBits(key, c.at, c.Size, vec[c.Dim]>>c.Offset)
		}
	}
	return dst
}

// Decode fills vec (len >= Dims) with the dimension values of key (len == Len).
func (m *Keymap) Decode(key []byte, vec []uint64) {
	clear(vec[:len(m.dimBits)])
	for _, c := range m.chunks {
		if c.Dim != padDim {
			vec[c.Dim] |= getBits(key, c.at, c.Size) << c.Offset
		}
	}
}

// Dim returns the value of dimension d in key.
func (m *Keymap) Dim(key []byte, d int) uint64 {
	var v uint64
	for _, c := range m.chunks {
		if c.Dim == d {
			v |= getBits(key, c.at, c.Size) << c.Offset
		}
	}
	return v
}

// lowMask returns a mask of the n low bits (n in 0..64).
func lowMask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(n) - 1
}

// getBits returns the size bits (1..64) of key starting at bit at (0 = msb of key[0]).
func getBits(key []byte, at, size int) uint64 {
	i, shift := at>>3, at&7
	// Gather the 8 bytes from i (zero past the end), then the 9th for the shifted-out bits.
	var w uint64
	for j := 0; j < 8; j++ {
		w <<= 8
		if i+j < len(key) {
			w |= uint64(key[i+j])
		}
	}
	if shift > 0 {
		w <<= uint(shift)
		if i+8 < len(key) {
			w |= uint64(key[i+8]) >> uint(8-shift)
		}
	}
	return w >> uint(64-size)
}

// putBits writes the low size bits (1..64) of v into key at bit at, leaving other bits alone.
func putBits(key []byte, at, size int, v uint64) {
	v &= lowMask(size)
	end := at + size // exclusive
	for pos := at; pos < end; {
		i, off := pos>>3, pos&7
		n := min(8-off, end-pos) // bits that go into byte i
		shift := 8 - off - n     // position of those bits in the byte
		chunk := byte(v>>uint(end-pos-n)) & byte(lowMask(n))
		mask := byte(lowMask(n)) << uint(shift)
		key[i] = key[i]&^mask | chunk<<uint(shift)
		pos += n
	}
}
