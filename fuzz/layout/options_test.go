package layoutfuzz

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mqttds/mqttds/layout"
)

// FuzzOptionsUnmarshal decodes arbitrary bytes as persisted options: it either fails with
// ErrCorrupt or yields valid options whose encoding decodes to the same options.
func FuzzOptionsUnmarshal(f *testing.F) {
	for _, o := range []layout.Options{{}, {Kind: layout.KindReference}, {EpochBits: layout.NoEpochBits, Thresholds: []int{0, 5}}} {
		b, err := o.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var o layout.Options
		if err := o.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, layout.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("decoded invalid options: %v", err)
		}
		out, err := o.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var again layout.Options
		if err := again.UnmarshalBinary(out); err != nil || !reflect.DeepEqual(o, again) {
			t.Fatalf("round trip %x -> %+v -> %x -> %+v, %v", in, o, out, again, err)
		}
	})
}
