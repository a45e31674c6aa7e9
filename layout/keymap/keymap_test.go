package keymap

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// refGetBit returns bit at (0 = msb of key[0]) the slow way.
func refGetBit(key []byte, at int) uint64 { return uint64(key[at/8]>>(7-at%8)) & 1 }

func TestBitsAgainstBitByBit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		key := make([]byte, 1+rng.IntN(12))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		size := 1 + rng.IntN(min(64, len(key)*8))
		at := rng.IntN(len(key)*8 - size + 1)
		var want uint64
		for i := range size {
			want = want<<1 | refGetBit(key, at+i)
		}
		require.Equal(t, want, getBits(key, at, size))

		before := append([]byte(nil), key...)
		v := rng.Uint64()
		putBits(key, at, size, v)
		require.Equal(t, v&lowMask(size), getBits(key, at, size))
		for i := range len(key) * 8 {
			if i < at || i >= at+size {
				require.Equal(t, refGetBit(before, i), refGetBit(key, i), "bit %d outside the chunk changed", i)
			}
		}
	}
}

func TestNewRejectsBadSources(t *testing.T) {
	for _, tc := range []struct {
		dims []int
		srcs []Source
		want string
	}{
		{[]int{0}, []Source{{0, 0, 1}}, "has 0 bits"},
		{[]int{8}, []Source{{1, 0, 8}}, "bad source"},
		{[]int{8}, []Source{{0, 0, 4}}, "not fully covered"},
		{[]int{8}, []Source{{0, 0, 8}, {0, 4, 2}}, "overlaps"},
		{[]int{8}, []Source{{0, 4, 8}}, "bad source"},
	} {
		_, err := New(tc.dims, tc.srcs)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	m, err := New([]int{32, 64, 64, 13}, []Source{{0, 0, 32}, {1, 20, 44}, {2, 0, 64}, {3, 0, 13}, {1, 0, 20}})
	require.NoError(t, err)
	require.Equal(t, (32+64+64+13+7)/8, m.Len())
	rng := rand.New(rand.NewPCG(3, 4))
	vec, got := make([]uint64, 4), make([]uint64, 4)
	for range 1000 {
		vec[0], vec[1], vec[2], vec[3] = uint64(rng.Uint32()), rng.Uint64(), rng.Uint64(), rng.Uint64()&(1<<13-1)
		key := m.AppendKey([]byte("p"), vec)
		m.Decode(key[1:], got)
		require.Equal(t, vec, got)
		require.Equal(t, vec[1], m.Dim(key[1:], 1))
	}
	// The key order is the chunk order: epoch, then the hash, then the low timestamp bits.
	a := m.AppendKey(nil, []uint64{1, 5<<20 | 9, 100, 0})
	b := m.AppendKey(nil, []uint64{1, 5<<20 | 2, 200, 0})
	c := m.AppendKey(nil, []uint64{1, 6 << 20, 0, 0})
	require.Less(t, string(a), string(b))
	require.Less(t, string(b), string(c))
}

// smallKeymaps are keymaps of at most 12 bits, small enough to enumerate every key.
var smallKeymaps = []struct {
	dims []int
	srcs []Source
}{
	{[]int{4}, []Source{{0, 0, 4}}},                                        // one dimension, padded
	{[]int{3, 5}, []Source{{0, 0, 3}, {1, 0, 5}}},                          // two, exactly a byte
	{[]int{2, 6, 3}, []Source{{0, 0, 2}, {1, 3, 3}, {2, 0, 3}, {1, 0, 3}}}, // split "timestamp"
	{[]int{5, 4}, []Source{{1, 2, 2}, {0, 0, 5}, {1, 0, 2}}},               // split dim first
	{[]int{2, 3, 2, 2}, []Source{{0, 0, 2}, {1, 1, 2}, {2, 0, 2}, {3, 0, 2}, {1, 0, 1}}},
	{[]int{8, 4}, []Source{{0, 4, 4}, {1, 0, 4}, {0, 0, 4}}},
}

// TestBoxExhaustive enumerates every key of small keymaps against many boxes and checks that
// Contains is exactly the per-chunk hull of the box (so no key inside the box is ever
// excluded), and that Seek and SeekAfter return the very next key for which Contains holds.
func TestBoxExhaustive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for mi, km := range smallKeymaps {
		m, err := New(km.dims, km.srcs)
		require.NoError(t, err)
		nkeys := 1 << (8 * m.Len())
		boxes := 40
		if m.Len() > 1 {
			boxes = 10 // 65536 keys each
		}
		for bi := range boxes {
			dims := make([]Interval, len(km.dims))
			for d, w := range km.dims {
				a, b := rng.Uint64N(1<<w), rng.Uint64N(1<<w)
				if bi%4 == 0 {
					b = a // equality
				}
				dims[d] = Interval{min(a, b), max(a, b)}
			}
			box, err := m.Box(dims)
			require.NoError(t, err)
			checkBoxExhaustive(t, fmt.Sprintf("keymap %d box %v", mi, dims), m, box, dims, nkeys)
		}
	}
}

func checkBoxExhaustive(t *testing.T, name string, m *Keymap, box *Box, dims []Interval, nkeys int) {
	t.Helper()
	// Per-chunk hull of the values the box's dimension intervals take on that chunk.
	lo, hi := make([]uint64, len(m.chunks)), make([]uint64, len(m.chunks))
	for i, c := range m.chunks {
		lo[i], hi[i] = ^uint64(0), 0
		if c.Dim == padDim {
			lo[i] = 0
			continue
		}
		for x := dims[c.Dim].Min; x <= dims[c.Dim].Max; x++ {
			v := x >> uint(c.Offset) & lowMask(c.Size)
			lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
		}
	}
	keyOf := func(k int) []byte {
		key := make([]byte, m.Len())
		for i := range key {
			key[i] = byte(k >> (8 * (len(key) - 1 - i)))
		}
		return key
	}
	contains := make([]bool, nkeys)
	vec := make([]uint64, m.Dims())
	for k := range nkeys {
		key := keyOf(k)
		want := true
		for i, c := range m.chunks {
			if v := getBits(key, c.at, c.Size); v < lo[i] || v > hi[i] {
				want = false
			}
		}
		contains[k] = box.Contains(key)
		if want != contains[k] {
			t.Fatalf("%s: Contains(%x) = %v", name, key, contains[k])
		}
		// A key that encodes a vector inside the dimension box (padding zero) must be inside.
		m.Decode(key, vec)
		if string(m.AppendKey(nil, vec)) != string(key) {
			continue // non-zero padding: not the key of any vector
		}
		inDims := true
		for d, iv := range dims {
			inDims = inDims && vec[d] >= iv.Min && vec[d] <= iv.Max
		}
		if inDims && !contains[k] {
			t.Fatalf("%s: key %x of %v inside the dimension box is excluded", name, key, vec)
		}
	}
	// next[k] = smallest in-box key >= k, or -1.
	next := make([]int, nkeys+1)
	next[nkeys] = -1
	for k := nkeys - 1; k >= 0; k-- {
		next[k] = next[k+1]
		if contains[k] {
			next[k] = k
		}
	}
	require.NotEqual(t, -1, next[0], "%s: box is empty", name)
	require.Equal(t, keyOf(next[0]), box.AppendMin(nil), name)
	last := nkeys - 1
	for !contains[last] {
		last--
	}
	require.Equal(t, keyOf(last), box.AppendMax(nil), name)
	check := func(op string, key, got []byte, ok bool, want int) {
		switch {
		case want < 0 && ok:
			t.Fatalf("%s: %s(%x) = %x, want none", name, op, key, got)
		case want >= 0 && !ok:
			t.Fatalf("%s: %s(%x) = none, want %x", name, op, key, keyOf(want))
		case want >= 0 && string(got) != string(keyOf(want)):
			t.Fatalf("%s: %s(%x) = %x, want %x", name, op, key, got, keyOf(want))
		}
	}
	var buf []byte
	for k := range nkeys {
		key := keyOf(k)
		got, ok := box.Seek(buf[:0], key)
		check("Seek", key, got, ok, next[k])
		got, ok = box.SeekAfter(buf[:0], key)
		check("SeekAfter", key, got, ok, next[k+1])
		buf = got
	}
}

func TestBoxRejectsBadIntervals(t *testing.T) {
	m, err := New([]int{4}, []Source{{0, 0, 4}})
	require.NoError(t, err)
	_, err = m.Box([]Interval{{3, 2}})
	require.ErrorContains(t, err, "bad interval")
	_, err = m.Box([]Interval{{0, 16}})
	require.ErrorContains(t, err, "bad interval")
	_, err = m.Box(nil)
	require.ErrorContains(t, err, "0 intervals")
}
