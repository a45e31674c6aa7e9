package layoutfuzz

import (
	"testing"

	"github.com/mqttds/mqttds/layout/keymap"
)

// FuzzKeymapSeek builds a small keymap (up to 4 dimensions of 1..4 bits, the first possibly
// split in two chunks around the others) and a box from the input, then checks every key of
// keys of the keymap: Contains is exactly the per-chunk hull of the box, and Seek/SeekAfter
// return the next key for which Contains holds.
func FuzzKeymapSeek(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		// 1. Dimensions and sources.
		cfg := next()
		ndims := 1 + int(cfg&3)
		dims := make([]int, ndims)
		for d := range dims {
			dims[d] = 1 + int(next())%4 // at most 16 bits: every key is enumerated
		}
		var srcs []keymap.Source
		split := cfg&4 != 0 && dims[0] > 1
		low := 0
		if split {
			low = 1 + int(cfg>>3)%(dims[0]-1)
			srcs = append(srcs, keymap.Source{Dim: 0, Offset: low, Size: dims[0] - low})
		} else {
			srcs = append(srcs, keymap.Source{Dim: 0, Size: dims[0]})
		}
		for d := 1; d < ndims; d++ {
			srcs = append(srcs, keymap.Source{Dim: d, Size: dims[d]})
		}
		if split {
			srcs = append(srcs, keymap.Source{Dim: 0, Size: low})
		}
		m, err := keymap.New(dims, srcs)
		if err != nil {
			t.Fatalf("keymap of %v %v: %v", dims, srcs, err)
		}
		// 2. The box.
		ivs := make([]keymap.Interval, ndims)
		for d, w := range dims {
			a, b := uint64(next())%(1<<w), uint64(next())%(1<<w)
			ivs[d] = keymap.Interval{Min: min(a, b), Max: max(a, b)}
		}
		box, err := m.Box(ivs)
		if err != nil {
			t.Fatal(err)
		}
		// 3. Brute force: the chunk hulls, and the sorted list of keys inside them.
		type chunk struct{ at, size, dim, off int }
		var chunks []chunk
		at := 0
		for _, s := range srcs {
			chunks = append(chunks, chunk{at, s.Size, s.Dim, s.Offset})
			at += s.Size
		}
		lo, hi := make([]uint64, len(chunks)), make([]uint64, len(chunks))
		for i, c := range chunks {
			lo[i], hi[i] = ^uint64(0), 0
			for x := ivs[c.dim].Min; x <= ivs[c.dim].Max; x++ {
				v := x >> uint(c.off) & (1<<uint(c.size) - 1)
				lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
			}
		}
		nbits := 8 * m.Len()
		inside := func(k uint64) bool {
			if k&(1<<uint(nbits-at)-1) != 0 {
				return false // padding must be zero
			}
			for i, c := range chunks {
				v := k >> uint(nbits-c.at-c.size) & (1<<uint(c.size) - 1)
				if v < lo[i] || v > hi[i] {
					return false
				}
			}
			return true
		}
		keyOf := func(k uint64) []byte {
			key := make([]byte, m.Len())
			for i := range key {
				key[i] = byte(k >> (8 * (len(key) - 1 - i)))
			}
			return key
		}
		total := uint64(1) << uint(nbits)
		nextInside := make([]int64, total+1)
		nextInside[total] = -1
		for k := int64(total) - 1; k >= 0; k-- {
			nextInside[k] = nextInside[k+1]
			if inside(uint64(k)) {
				nextInside[k] = k
			}
		}
		// 4. Every key of a one-byte keymap; for two bytes, every 16th key from an offset
		// the input picks, so that one input stays fast and many cover every key.
		stride, off := uint64(1), uint64(0)
		if total > 256 {
			stride, off = 16, uint64(cfg>>4)
		}
		for k := off; k < total; k += stride {
			key := keyOf(k)
			if got := box.Contains(key); got != inside(k) {
				t.Fatalf("Contains(%x) = %v", key, got)
			}
			for _, op := range []struct {
				name string
				fn   func([]byte, []byte) ([]byte, bool)
				want int64
			}{{"Seek", box.Seek, nextInside[k]}, {"SeekAfter", box.SeekAfter, nextInside[k+1]}} {
				got, ok := op.fn(nil, key)
				switch {
				case op.want < 0 && ok:
					t.Fatalf("%s(%x) = %x, want none", op.name, key, got)
				case op.want >= 0 && (!ok || string(got) != string(keyOf(uint64(op.want)))):
					t.Fatalf("%s(%x) = %x %v, want %x", op.name, key, got, ok, keyOf(uint64(op.want)))
				}
			}
		}
	})
}
