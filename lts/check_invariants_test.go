//go:build invariants

package lts

import (
	"errors"
	"testing"

	"github.com/mqttds/mqttds/internal/invariants"
)

// TestInvariantsBuildChecksWrites breaks a trie's counters behind its back and expects the
// next write that changes the trie to panic with a Violation (invariants builds only).
func TestInvariantsBuildChecksWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(tr *Trie) error
	}{
		{"learn", func(tr *Trie) error { _, _, _, err := tr.Learn([]string{"b", "c"}, nil); return err }},
		{"apply", func(tr *Trie) error {
			return tr.Apply(Op{Parent: rootIndex, Kind: EdgeConcrete, Label: "z", Child: 100})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(nil)
			if _, _, _, err := tr.Learn([]string{"a"}, nil); err != nil {
				t.Fatal(err)
			}
			tr.counts.concrete++ // a counter the walk will not agree with
			var v *invariants.Violation
			func() {
				defer func() {
					if r := recover(); r != nil {
						err, _ := r.(error)
						if !errors.As(err, &v) {
							panic(r)
						}
					}
				}()
				if err := tc.write(tr); err != nil {
					t.Fatal(err)
				}
			}()
			if v == nil {
				t.Fatal("the write did not run the invariant check")
			}
		})
	}
}
