package layoutfuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mqttds/mqttds/layout"
)

// FuzzCookedBatchUnmarshal decodes arbitrary bytes as a serialized cooked batch (what a
// replica receives): it either fails with ErrCorrupt or yields writes that encode to bytes
// decoding to the same writes.
func FuzzCookedBatchUnmarshal(f *testing.F) {
	for _, writes := range [][]layout.Write{
		nil,
		{{Kind: layout.WriteSet, Key: []byte("k"), Value: []byte("v")}, {Kind: layout.WriteDelete, Key: []byte("d")}},
		{{Kind: layout.WriteDeleteRange, Key: []byte("a"), Value: []byte("z")}},
	} {
		b, err := (&layout.CookedBatch{Writes: writes}).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var b layout.CookedBatch
		if err := b.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, layout.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		out, err := b.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted %x but cannot encode it: %v", in, err)
		}
		var again layout.CookedBatch
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-encoding %x of %x does not decode: %v", out, in, err)
		}
		if len(again.Writes) != len(b.Writes) {
			t.Fatalf("round trip of %x: %d writes, then %d", in, len(b.Writes), len(again.Writes))
		}
		for i, w := range b.Writes {
			a := again.Writes[i]
			if a.Kind != w.Kind || !bytes.Equal(a.Key, w.Key) || !bytes.Equal(a.Value, w.Value) {
				t.Fatalf("round trip of %x: write %d %+v became %+v", in, i, w, a)
			}
		}
	})
}
