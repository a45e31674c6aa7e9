package lts

import (
	"errors"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *Options
		want []string // substrings of the error; nil = valid
	}{
		{"nil", nil, nil},
		{"zero", &Options{}, nil},
		{"zero thresholds", &Options{Thresholds: []int{0, 0}}, nil},
		{"negative threshold", &Options{Thresholds: []int{5, -1}}, []string{"Thresholds[1] = -1"}},
		{"max varying", &Options{MaxVarying: 256}, []string{"MaxVarying = 256"}},
		{"max index 1", &Options{MaxIndex: 1}, []string{"MaxIndex = 1"}},
		{"all at once", &Options{Thresholds: []int{-2}, MaxVarying: -1, MaxIndex: 1},
			[]string{"Thresholds[0] = -2", "MaxVarying = -1", "MaxIndex = 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v does not wrap ErrInvalidOptions", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestOptionsDefaultsAndCopy(t *testing.T) {
	th := []int{3, 1}
	tr := New(&Options{Thresholds: th})
	th[0] = 0 // the trie copied its options
	if got := tr.opts.threshold(0); got != 3 {
		t.Fatalf("threshold(0) = %d after the caller changed its slice", got)
	}
	if got := tr.opts.threshold(7); got != 1 {
		t.Fatalf("threshold(7) = %d, want the last element", got)
	}
	d := New(nil).opts
	if d.MaxVarying != DefaultMaxVarying || d.MaxIndex != DefaultMaxIndex || d.threshold(0) != 100 || d.threshold(1) != 20 {
		t.Fatalf("defaults: %+v", d)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("New accepted invalid options")
		}
	}()
	New(&Options{MaxVarying: -1})
}
