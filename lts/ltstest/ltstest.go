// Package ltstest checks an lts.Trie against a naive model: a plain MQTT topic matcher and a set
// of learned topics. It is shared by the package's randomized tests and the fuzz targets.
package ltstest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/mqttds/mqttds/lts"
)

// TopicMatches reports whether topic (levels of a topic name) matches filter (levels of a topic
// filter) by the rules of MQTT §4.7, written as plainly as possible: '+' is any one level, '#'
// (last) is any number of levels including none, and a filter starting with a wildcard never
// matches a topic starting with '$'.
func TopicMatches(filter, topic []string) bool {
	if len(filter) == 0 || len(topic) == 0 {
		return false
	}
	if (filter[0] == "+" || filter[0] == "#") && strings.HasPrefix(topic[0], "$") {
		return false
	}
	for i, f := range filter {
		if f == "#" {
			return i == len(filter)-1
		}
		if i >= len(topic) || (f != "+" && f != topic[i]) {
			return false
		}
	}
	return len(filter) == len(topic)
}

// Learned is what Learn answered for one topic.
type Learned struct {
	Topic   []string
	Index   lts.Index
	Varying []string
}

func (l Learned) String() string {
	return fmt.Sprintf("%s -> %d %q", strings.Join(l.Topic, "/"), l.Index, l.Varying)
}

// CheckStable verifies that every learned topic still looks up (with Lookup, LookupAppend and
// LearnAppend) to what Learn returned, learning nothing new.
func CheckStable(t *lts.Trie, learned []Learned) error {
	buf := make([]string, 1, 8)
	before := t.Stats()
	for _, l := range learned {
		idx, varying, ok := t.Lookup(l.Topic)
		if !ok || idx != l.Index || !slices.Equal(varying, l.Varying) {
			return fmt.Errorf("learned %s, lookup now gives %d %q (ok=%t)", l, idx, varying, ok)
		}
		buf[0] = "prefix"
		idx, varying, ok = t.LookupAppend(l.Topic, buf[:1])
		if !ok || idx != l.Index || varying[0] != "prefix" || !slices.Equal(varying[1:], l.Varying) {
			return fmt.Errorf("learned %s, LookupAppend now gives %d %q (ok=%t)", l, idx, varying, ok)
		}
		idx, varying, ops, err := t.LearnAppend(l.Topic, buf[:1], nil)
		if err != nil || len(ops) != 0 || idx != l.Index || varying[0] != "prefix" || !slices.Equal(varying[1:], l.Varying) {
			return fmt.Errorf("learned %s, LearnAppend now gives %d %q, %d ops, %v", l, idx, varying, len(ops), err)
		}
	}
	if after := t.Stats(); after != before {
		return fmt.Errorf("looking up learned topics changed the trie: %v -> %v", before, after)
	}
	return nil
}

// CheckMatch verifies Match for one filter against the naive matcher: the learned topics whose
// (index, varying) satisfy some result are exactly the learned topics the filter matches. It
// also checks the shape of the results: sorted by index, no index twice, one constraint per
// varying level of the stream.
func CheckMatch(t *lts.Trie, learned []Learned, filter []string) error {
	ms := t.Match(filter)
	byIndex := make(map[lts.Index]lts.Match, len(ms))
	for i, m := range ms {
		if i > 0 && ms[i-1].Index >= m.Index {
			return fmt.Errorf("filter %q: results not sorted by index or repeated: %v", strings.Join(filter, "/"), ms)
		}
		byIndex[m.Index] = m
	}
	for _, l := range learned {
		want := TopicMatches(filter, l.Topic)
		m, found := byIndex[l.Index]
		if found && len(m.Varying) != len(l.Varying) {
			return fmt.Errorf("filter %q: stream %d has %d varying levels, match has %d constraints",
				strings.Join(filter, "/"), l.Index, len(l.Varying), len(m.Varying))
		}
		if got := found && m.Satisfies(l.Varying); got != want {
			return fmt.Errorf("filter %q, topic %s: trie says %t, MQTT says %t (matches: %v)",
				strings.Join(filter, "/"), l, got, want, ms)
		}
	}
	return nil
}

// CheckSame verifies that two tries give the same Lookup answers for topics and the same Match
// results for filters.
func CheckSame(a, b *lts.Trie, topics, filters [][]string) error {
	for _, tp := range topics {
		ai, av, aok := a.Lookup(tp)
		bi, bv, bok := b.Lookup(tp)
		if ai != bi || aok != bok || !slices.Equal(av, bv) {
			return fmt.Errorf("lookup %q: %d %q %t vs %d %q %t", strings.Join(tp, "/"), ai, av, aok, bi, bv, bok)
		}
	}
	for _, f := range filters {
		am, bm := a.Match(f), b.Match(f)
		if !slices.EqualFunc(am, bm, func(x, y lts.Match) bool {
			return x.Index == y.Index && slices.Equal(x.Varying, y.Varying)
		}) {
			return fmt.Errorf("match %q: %v vs %v", strings.Join(f, "/"), am, bm)
		}
	}
	if as, bs := a.Stats(), b.Stats(); as.Nodes != bs.Nodes || as.Edges != bs.Edges {
		return fmt.Errorf("stats differ: %v vs %v", as, bs)
	}
	return nil
}

// Restore builds a trie with opts from ops, passing every op through its persisted encoding
// first. With keyOrder the ops are applied in the order of their encoded keys (how a layout
// reads them back from pebble) instead of the given order.
func Restore(opts *lts.Options, ops []lts.Op, keyOrder bool) (*lts.Trie, error) {
	type kv struct{ k, v []byte }
	enc := make([]kv, len(ops))
	for i, op := range ops {
		enc[i] = kv{op.AppendKey(nil), op.AppendValue(nil)}
	}
	if keyOrder {
		slices.SortStableFunc(enc, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	}
	t := lts.New(opts)
	for _, e := range enc {
		op, err := lts.DecodeOp(e.k, e.v)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(op.AppendKey(nil), e.k) || !bytes.Equal(op.AppendValue(nil), e.v) {
			return nil, fmt.Errorf("op %s does not re-encode to its bytes", op)
		}
		if err := t.Apply(op); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Gen draws random options, topics and filters over a small alphabet, so that topics share
// prefixes, thresholds are crossed and '$' topics and empty levels occur.
type Gen struct {
	R *rand.Rand
}

var alphabet = []string{"a", "b", "c", "d", "e", "f", "", "$s", "$t", "x1", "x2"}

// Options returns random options: thresholds 0..4 per depth (sometimes 100, so that nodes
// outgrow their sorted slice), small MaxVarying, and sometimes a MaxIndex small enough to run
// out.
func (g Gen) Options() *lts.Options {
	o := &lts.Options{}
	for range 1 + g.R.IntN(3) {
		th := g.R.IntN(5)
		if g.R.IntN(6) == 0 {
			th = 100
		}
		o.Thresholds = append(o.Thresholds, th)
	}
	o.MaxVarying = []int{1, 2, 3, 10}[g.R.IntN(4)]
	if g.R.IntN(5) == 0 {
		o.MaxIndex = lts.Index(20 + g.R.IntN(100))
	}
	return o
}

// Level returns a random topic level; '$' levels are rare except at depth 0.
func (g Gen) Level(depth int) string {
	for {
		l := alphabet[g.R.IntN(len(alphabet))]
		if depth == 0 || !strings.HasPrefix(l, "$") || g.R.IntN(4) == 0 {
			return l
		}
	}
}

// Topic returns a random topic of 1 to 5 levels.
func (g Gen) Topic() []string {
	t := make([]string, 1+g.R.IntN(5))
	for i := range t {
		t[i] = g.Level(i)
	}
	return t
}

// Filter returns a random valid filter of 1 to 6 levels.
func (g Gen) Filter() []string {
	f := make([]string, 1+g.R.IntN(6))
	for i := range f {
		switch r := g.R.IntN(10); {
		case r < 3:
			f[i] = "+"
		case r < 4 && i == len(f)-1:
			f[i] = "#"
		default:
			f[i] = g.Level(i)
		}
	}
	return f
}

// LearnAll learns topics in t, returning what was learned and the ops, in order. Topics
// rejected with lts.ErrIndexExhausted are skipped; any other error is returned.
func LearnAll(t *lts.Trie, topics [][]string) ([]Learned, []lts.Op, error) {
	var (
		learned []Learned
		ops     []lts.Op
	)
	for _, tp := range topics {
		before := len(ops)
		idx, varying, out, err := t.Learn(tp, ops)
		if err != nil {
			if len(out) != before {
				return nil, nil, fmt.Errorf("learn %q failed (%v) but returned ops", strings.Join(tp, "/"), err)
			}
			if isExhausted(err) {
				continue
			}
			return nil, nil, err
		}
		ops = out
		learned = append(learned, Learned{Topic: tp, Index: idx, Varying: varying})
	}
	return learned, ops, nil
}

func isExhausted(err error) bool {
	return errors.Is(err, lts.ErrIndexExhausted)
}
