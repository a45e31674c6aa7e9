package snapstream

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

type kv struct{ k, v string }

func encode(t *testing.T, header string, recs []kv) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	require.NoError(t, w.Header([]byte(header)))
	for _, r := range recs {
		require.NoError(t, w.Add([]byte(r.k), []byte(r.v)))
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func decode(data []byte) (string, []kv, error) {
	r := NewReader(bytes.NewReader(data))
	h, err := r.Header()
	if err != nil {
		return "", nil, err
	}
	var out []kv
	for {
		k, v, ok, err := r.Next()
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return string(h), out, nil
		}
		out = append(out, kv{string(k), string(v)})
	}
}

func records(n, valueSize int) []kv {
	out := make([]kv, n)
	for i := range out {
		out[i] = kv{fmt.Sprintf("key-%08d", i), string(bytes.Repeat([]byte{byte(i)}, valueSize))}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs []kv
	}{
		{"empty", nil},
		{"one", []kv{{"a", "1"}}},
		{"empty value", []kv{{"a", ""}, {"b", "x"}}},
		{"many frames", records(3000, 300)}, // about 1 MB: several data frames
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, got, err := decode(encode(t, "hdr", tc.recs))
			require.NoError(t, err)
			require.Equal(t, "hdr", h)
			require.Equal(t, len(tc.recs), len(got))
			if len(tc.recs) > 0 {
				require.Equal(t, tc.recs, got)
			}
		})
	}
}

func TestWriterRefusesDisorder(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	require.Error(t, w.Add([]byte("a"), nil), "Add before Header")
	require.NoError(t, w.Header(nil))
	require.NoError(t, w.Add([]byte("b"), nil))
	require.Error(t, w.Add([]byte("b"), nil), "a repeated key")
	require.Error(t, w.Add([]byte("a"), nil), "a smaller key")
}

// TestDamageIsRefused: every cut and every flipped byte of a valid stream is reported as
// corrupt, never decoded into other records.
func TestDamageIsRefused(t *testing.T) {
	good := encode(t, "hdr", records(40, 10))
	for cut := range len(good) {
		_, _, err := decode(good[:cut])
		require.ErrorIs(t, err, ErrCorrupt, "stream cut at %d of %d", cut, len(good))
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x10
		_, _, err := decode(bad)
		require.True(t, errors.Is(err, ErrCorrupt), "byte %d flipped: %v", i, err)
	}
}
