package mqttbench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestSeqTracker runs the scripts in testdata/tracker. Commands:
//
//	reset                 start a new tracker
//	observe <seq>...      feed sequence numbers; prints each one's Arrival
//	stats sent=<n>        prints distinct, duplicates, reordered, highest and lost out of n
func TestSeqTracker(t *testing.T) {
	var tr SeqTracker
	datadriven.RunTest(t, "testdata/tracker", func(t *testing.T, td *datadriven.TestData) string {
		switch td.Cmd {
		case "reset":
			tr = SeqTracker{}
			return ""
		case "observe":
			var b strings.Builder
			for _, f := range strings.Fields(td.Input) {
				seq, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					t.Fatalf("bad sequence number %q", f)
				}
				fmt.Fprintf(&b, "%d: %s\n", seq, tr.Observe(seq))
			}
			return b.String()
		case "stats":
			var sent uint64
			td.ScanArgs(t, "sent", &sent)
			return fmt.Sprintf("distinct=%d duplicates=%d reordered=%d highest=%d lost=%d runs=%d\n",
				tr.Distinct(), tr.Duplicates(), tr.Reordered(), tr.Highest(), tr.Lost(sent), len(tr.runs))
		default:
			t.Fatalf("unknown command %q", td.Cmd)
			return ""
		}
	})
}

// TestSeqTrackerModel checks the run-set against a plain map on random arrival orders with loss,
// duplication and local reordering, the shapes a broker produces.
func TestSeqTrackerModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := 0; round < 200; round++ {
		sent := uint64(1 + rng.IntN(500))
		var stream []uint64
		for s := uint64(1); s <= sent; s++ {
			if rng.IntN(10) == 0 {
				continue // lost
			}
			stream = append(stream, s)
			if rng.IntN(10) == 0 {
				stream = append(stream, s) // duplicated
			}
		}
		for i := range stream { // swap some neighbours within a small window
			if j := i + rng.IntN(4); j < len(stream) && rng.IntN(5) == 0 {
				stream[i], stream[j] = stream[j], stream[i]
			}
		}

		var tr SeqTracker
		seen := map[uint64]bool{}
		var maxSeen, dups, reord uint64
		for _, s := range stream {
			want := InOrder
			switch {
			case seen[s]:
				want = Duplicate
				dups++
			case s < maxSeen:
				want = Reordered
				reord++
			}
			seen[s] = true
			maxSeen = max(maxSeen, s)
			if got := tr.Observe(s); got != want {
				t.Fatalf("seed %d round %d: seq %d arrived %s, want %s", seed, round, s, got, want)
			}
		}
		if tr.Distinct() != uint64(len(seen)) || tr.Duplicates() != dups || tr.Reordered() != reord {
			t.Fatalf("seed %d round %d: counts %d/%d/%d, want %d/%d/%d", seed, round,
				tr.Distinct(), tr.Duplicates(), tr.Reordered(), len(seen), dups, reord)
		}
		if lost := tr.Lost(sent); lost != sent-uint64(len(seen)) {
			t.Fatalf("seed %d round %d: lost %d, want %d", seed, round, lost, sent-uint64(len(seen)))
		}
		for i := 1; i < len(tr.runs); i++ {
			if tr.runs[i-1].hi+1 >= tr.runs[i].lo {
				t.Fatalf("seed %d round %d: runs %v not disjoint and separated", seed, round, tr.runs)
			}
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{RunID: 0xdeadbeef, Publisher: 7, Seq: 1<<40 + 3, SentNanos: -5}
	p := newPayloadTemplate(64, nil)
	h.Put(p)
	got, err := DecodeHeader(p)
	if err != nil || got != h {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", got, err, h)
	}
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"short", p[:HeaderSize-1], ErrPayloadShort},
		{"magic", append([]byte("XB"), p[2:]...), ErrPayloadMagic},
		{"version", append([]byte{'M', 'B', 2}, p[3:]...), ErrPayloadVersion},
	} {
		if _, err := DecodeHeader(tc.p); err != tc.want {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if f := newPayloadTemplate(0, []byte("xyz")); len(f) != HeaderSize+3 || string(f[HeaderSize:]) != "xyz" {
		t.Errorf("file payload template = %q", f)
	}
}

func TestSeqTrackerLostOf(t *testing.T) {
	mk := func(seqs ...uint64) *SeqTracker {
		tr := &SeqTracker{}
		for _, s := range seqs {
			tr.Observe(s)
		}
		return tr
	}
	for _, tc := range []struct {
		got, want *SeqTracker
		lost      uint64
	}{
		{mk(), mk(), 0},
		{mk(), mk(1, 2, 3), 3},
		{mk(1, 2, 3), mk(1, 2, 3), 0},
		{mk(1, 2, 3, 4, 5), mk(2, 4), 0},
		{mk(1, 3, 5, 7), mk(1, 2, 3, 4, 5, 6, 7, 8), 4},
		{mk(1, 2, 3, 9, 10), mk(2, 3, 4, 5, 8, 9, 11), 4},
		{mk(1, 1, 3, 2), mk(3, 2, 1), 0}, // duplicates and order do not matter
	} {
		if got := tc.got.LostOf(tc.want); got != tc.lost {
			t.Errorf("%v LostOf %v = %d, want %d", tc.got.runs, tc.want.runs, got, tc.lost)
		}
	}
}
