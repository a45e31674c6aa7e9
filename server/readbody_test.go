package server

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ensure that readBody returns exactly the announced bytes for small and
// large bodies, and reports a short read.
func TestReadBody(t *testing.T) {
	for _, size := range []int{0, 1, eagerBody - 2, eagerBody - 1, eagerBody, 3*eagerBody + 17} {
		body := bytes.Repeat([]byte{0xa5}, size)
		got, err := readBody(bytes.NewReader(body), []byte{0x30, 0x01}, size)
		require.NoError(t, err, "size %d", size)
		require.Equal(t, append([]byte{0x30, 0x01}, body...), got, "size %d", size)
	}
	_, err := readBody(bytes.NewReader(make([]byte, 10)), []byte{0x30}, 4*eagerBody)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// Ensure that a client announcing a large packet and sending little of it
// does not make the broker allocate the announced size.
func TestReadBodyAllocatesAsDataArrives(t *testing.T) {
	announced := 200 << 20
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = readBody(bytes.NewReader(make([]byte, 100)), []byte{0x30}, announced)
		}
	})
	require.Less(t, allocs.AllocedBytesPerOp(), int64(4*eagerBody),
		"a 200 MB announcement with 100 bytes sent allocated %d bytes", allocs.AllocedBytesPerOp())
}
