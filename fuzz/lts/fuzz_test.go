package ltsfuzz

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/lts"
	"github.com/mqttds/mqttds/lts/ltstest"
)

// Bounds that keep one fuzz input fast.
const (
	maxTopics  = 64
	maxFilters = 16
	maxLevels  = 12
)

// optionsFrom derives small options from one byte: thresholds 0..3 for up to three depths,
// MaxVarying 1..4 (bits 0-5), and a small MaxIndex when bit 7 is set, so that exhaustion is
// reached.
func optionsFrom(cfg byte) *lts.Options {
	o := &lts.Options{MaxVarying: 1 + int(cfg>>4&3)}
	for i := range 1 + int(cfg>>6&1) + int(cfg&1) {
		o.Thresholds = append(o.Thresholds, int(cfg>>(2*i)&3))
	}
	if cfg&0x80 != 0 {
		o.MaxIndex = lts.Index(8 + cfg&0x3f)
	}
	return o
}

// split turns newline-separated topics or filters into levels, dropping empty lines and
// entries with too many levels.
func split(s string, max int) [][]string {
	var out [][]string
	for _, line := range strings.Split(s, "\n") {
		if line == "" || strings.Count(line, "/") >= maxLevels {
			continue
		}
		out = append(out, strings.Split(line, "/"))
		if len(out) == max {
			break
		}
	}
	return out
}

// validTopic reports whether levels form an MQTT topic name (the naive rule).
func validTopic(levels []string) bool {
	return !strings.ContainsAny(strings.Join(levels, "/"), "+#\x00")
}

// validFilter reports whether levels form an MQTT topic filter (the naive rule).
func validFilter(levels []string) bool {
	for i, l := range levels {
		if strings.ContainsRune(l, 0) ||
			(strings.ContainsAny(l, "+#") && l != "+" && l != "#") ||
			(l == "#" && i != len(levels)-1) {
			return false
		}
	}
	return true
}

// FuzzLearnMatch learns fuzzed topics under fuzzed options and checks every fuzzed filter
// against the naive matcher, then checks that the trie restored from its ops (in key order)
// and the trie inheriting its WildcardOps behave.
func FuzzLearnMatch(f *testing.F) {
	f.Add(byte(0x05), "site/1/dev/1/temp\nsite/2/dev/1/temp\nsite/3/dev/9/temp", "site/+/dev/1/temp\nsite/#\n#")
	f.Add(byte(0x00), "a/b/c\nx/y/z\n$SYS/a", "+/+/+\n$SYS/#\n+/#\na/b/c")
	f.Add(byte(0x9a), "a//b\n/a\na/\n/\na", "a/+/b\n+/+\n/#\n+\na/#")
	f.Add(byte(0x40), "$SYS/broker/load\n$SYS/broker/uptime\n$x/y\n$z/y", "$SYS/broker/+\n+/broker/#\n$x/#")
	f.Add(byte(0x31), "a/b\na/c\na/d\na/e/f\nb/b\nc/c", "a/+\n+/b\na/#\n#/x\na/+/f")
	f.Fuzz(func(t *testing.T, cfg byte, topicText, filterText string) {
		opts := optionsFrom(cfg)
		tr := lts.New(opts)
		var learned []ltstest.Learned
		var ops []lts.Op
		for _, tp := range split(topicText, maxTopics) {
			before := len(ops)
			idx, varying, out, err := tr.Learn(tp, ops)
			switch {
			case err == nil:
				if !validTopic(tp) {
					t.Fatalf("learned invalid topic %q", tp)
				}
				ops = out
				learned = append(learned, ltstest.Learned{Topic: tp, Index: idx, Varying: varying})
			case errors.Is(err, lts.ErrInvalidTopic):
				if validTopic(tp) {
					t.Fatalf("valid topic %q rejected: %v", tp, err)
				}
			case errors.Is(err, lts.ErrIndexExhausted):
			default:
				t.Fatalf("learn %q: unexpected error %v", tp, err)
			}
			if err != nil && len(out) != before {
				t.Fatalf("failed learn of %q returned ops", tp)
			}
		}
		if err := ltstest.CheckStable(tr, learned); err != nil {
			t.Fatal(err)
		}
		filters := split(filterText, maxFilters)
		for _, fl := range filters {
			if !validFilter(fl) {
				if ms := tr.Match(fl); len(ms) != 0 {
					t.Fatalf("invalid filter %q matched %v", fl, ms)
				}
				continue
			}
			if err := ltstest.CheckMatch(tr, learned, fl); err != nil {
				t.Fatal(err)
			}
		}
		restored, err := ltstest.Restore(opts, ops, true)
		if err != nil {
			t.Fatal(err)
		}
		var topics [][]string
		for _, l := range learned {
			topics = append(topics, l.Topic)
		}
		if err := ltstest.CheckSame(tr, restored, topics, filters); err != nil {
			t.Fatal(err)
		}
		if _, err := ltstest.Restore(opts, tr.WildcardOps(), false); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeOp decodes fuzzed bytes as a persisted op. It must never panic; a rejected input
// wraps lts.ErrCorrupt; an accepted op re-encodes to exactly its input and can be applied (or
// rejected with an error) by a trie, twice without change the second time.
func FuzzDecodeOp(f *testing.F) {
	for _, op := range []lts.Op{
		{Parent: 0, Kind: lts.EdgeConcrete, Label: "site", Child: 1},
		{Parent: 1, Kind: lts.EdgePlus, Child: 2},
		{Parent: 2, Kind: lts.EdgeEnd, Child: 3},
		{Parent: 0, Kind: lts.EdgeDollar, Child: 4},
		{Parent: 4, Kind: lts.EdgeConcrete, Label: "$SYS", Child: 5},
		{Parent: 1, Kind: lts.EdgeConcrete, Label: "", Child: 6},
	} {
		f.Add(op.AppendKey(nil), op.AppendValue(nil))
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 2, '+'}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0}, []byte{2})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		op, err := lts.DecodeOp(key, value)
		if err != nil {
			if !errors.Is(err, lts.ErrCorrupt) {
				t.Fatalf("decode error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if k := op.AppendKey(nil); !bytes.Equal(k, key) {
			t.Fatalf("op %s re-encodes key %x, input %x", op, k, key)
		}
		if v := op.AppendValue(nil); !bytes.Equal(v, value) {
			t.Fatalf("op %s re-encodes value %x, input %x", op, v, value)
		}
		// A trie with a little structure, so that some ops find their parent.
		tr := lts.New(&lts.Options{Thresholds: []int{1}, MaxIndex: 1 << 40})
		for _, tp := range []string{"site/a", "$SYS/x", "b"} {
			if _, _, _, err := tr.Learn(strings.Split(tp, "/"), nil); err != nil {
				t.Fatal(err)
			}
		}
		before := tr.Stats()
		if err := tr.Apply(op); err != nil {
			if !errors.Is(err, lts.ErrCorrupt) && !errors.Is(err, lts.ErrIndexExhausted) {
				t.Fatalf("apply %s: unexpected error %v", op, err)
			}
			if tr.Stats() != before {
				t.Fatalf("failed apply of %s changed the trie", op)
			}
			return
		}
		after := tr.Stats()
		if err := tr.Apply(op); err != nil || tr.Stats() != after {
			t.Fatalf("second apply of %s: %v, stats %v -> %v", op, err, after, tr.Stats())
		}
	})
}
