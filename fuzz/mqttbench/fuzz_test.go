package mqttbenchfuzz

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/mqttds/mqttds/benchmarks/mqttbench"
)

// FuzzSeqTracker reads the input as a stream of 16-bit sequence numbers (small, so that the fuzzer
// finds duplicates and reorderings easily) and checks every Arrival and every count against a map.
func FuzzSeqTracker(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var tr mqttbench.SeqTracker
		seen := map[uint64]bool{}
		var highest, dups, reord uint64
		for i := 0; i+1 < len(data); i += 2 {
			seq := uint64(binary.BigEndian.Uint16(data[i:])) % 1024
			want := mqttbench.InOrder
			switch {
			case seq == 0 || seen[seq]:
				want = mqttbench.Duplicate
				dups++
			case seq < highest:
				want = mqttbench.Reordered
				reord++
			}
			if seq != 0 {
				seen[seq] = true
				highest = max(highest, seq)
			}
			if got := tr.Observe(seq); got != want {
				t.Fatalf("arrival %d: seq %d is %v, want %v", i/2, seq, got, want)
			}
		}
		if tr.Distinct() != uint64(len(seen)) || tr.Duplicates() != dups || tr.Reordered() != reord || tr.Highest() != highest {
			t.Fatalf("counts %d/%d/%d/%d, want %d/%d/%d/%d", tr.Distinct(), tr.Duplicates(), tr.Reordered(),
				tr.Highest(), len(seen), dups, reord, highest)
		}
		for _, sent := range []uint64{0, 1, highest / 2, highest, highest + 7} {
			var got uint64
			for s := uint64(1); s <= sent; s++ {
				if seen[s] {
					got++
				}
				if tr.Contains(s) != seen[s] {
					t.Fatalf("Contains(%d) = %v", s, tr.Contains(s))
				}
			}
			if lost := tr.Lost(sent); lost != sent-got {
				t.Fatalf("Lost(%d) = %d, want %d", sent, lost, sent-got)
			}
		}
		// Against itself nothing is lost; against the complete range, Lost(highest) is.
		if tr.LostOf(&tr) != 0 {
			t.Fatalf("LostOf(self) = %d", tr.LostOf(&tr))
		}
		var full mqttbench.SeqTracker
		for s := uint64(1); s <= highest; s++ {
			full.Observe(s)
		}
		if tr.LostOf(&full) != tr.Lost(highest) {
			t.Fatalf("LostOf(1..%d) = %d, Lost = %d", highest, tr.LostOf(&full), tr.Lost(highest))
		}
	})
}

// FuzzDecodeHeader: any bytes decode or fail cleanly, and an accepted header with a zero flags byte
// re-encodes to the same 28 bytes.
func FuzzDecodeHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := mqttbench.DecodeHeader(p)
		if err != nil {
			return
		}
		if p[3] != 0 {
			return // flags are reserved: ignored on read, written as zero
		}
		out := make([]byte, mqttbench.HeaderSize)
		h.Put(out)
		if !bytes.Equal(out, p[:mqttbench.HeaderSize]) {
			t.Fatalf("re-encoded %x, read %x", out, p[:mqttbench.HeaderSize])
		}
	})
}
