package layout

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckPrepared feeds the invariants-build self-check of each layout a batch it prepared,
// intact and then with one thing broken, and expects it to accept only the intact one.
func TestCheckPrepared(t *testing.T) {
	breakages := []struct {
		name  string
		apply func(entries []Entry, writes []Write) ([]Entry, []Write)
		want  string // "" = the check passes
	}{
		{name: "intact", apply: func(e []Entry, w []Write) ([]Entry, []Write) { return e, w }},
		{name: "timestamps not increasing", want: "after", apply: func(e []Entry, w []Write) ([]Entry, []Write) {
			e[2].Timestamp = e[1].Timestamp
			return e, w
		}},
		{name: "key outside the prefix", want: "not a set under prefix", apply: func(e []Entry, w []Write) ([]Entry, []Write) {
			last := &w[len(w)-1]
			last.Key = append([]byte("other"), last.Key...)
			return e, w
		}},
		{name: "delete among the writes", want: "not a set", apply: func(e []Entry, w []Write) ([]Entry, []Write) {
			w[len(w)-1].Kind = WriteDelete
			return e, w
		}},
		{name: "message missing", want: "messages for", apply: func(e []Entry, w []Write) ([]Entry, []Write) {
			return e, w[:len(w)-1]
		}},
		{name: "envelope of another topic", want: "is not entry", apply: func(e []Entry, w []Write) ([]Entry, []Write) {
			last := &w[len(w)-1]
			last.Value = appendEnvelope(nil, "dev/99/temp", []byte("v"))
			return e, w
		}},
		{name: "timestamp of another entry", want: "key timestamp", apply: func(e []Entry, w []Write) ([]Entry, []Write) {
			e[len(e)-1].Timestamp++
			return e, w
		}},
	}
	for _, kind := range []string{KindReference, KindWildcardOptimized} {
		for _, br := range breakages {
			t.Run(kind+"/"+br.name, func(t *testing.T) {
				var b CookedBatch
				l, err := Create([]byte("g1"), Options{Kind: kind, Thresholds: []int{100, 2}}, nil, &b)
				require.NoError(t, err)
				var entries []Entry
				for i := range 6 {
					entries = append(entries, Entry{Topic: fmt.Sprintf("dev/%d/temp", i), Timestamp: uint64(10 + i), Value: []byte{byte(i)}})
				}
				require.NoError(t, l.Prepare(entries, &b))
				e, w := br.apply(entries, b.Writes)
				var err2 error
				switch l := l.(type) {
				case *reference:
					err2 = l.checkPrepared(e, w)
				case *wildcard:
					err2 = l.checkPrepared(e, w)
				}
				if br.want == "" {
					require.NoError(t, err2)
				} else {
					require.ErrorContains(t, err2, br.want)
				}
			})
		}
	}
}
