package invariants

import (
	"errors"
	"io"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		run     func()
		wantMsg string // "" = no panic
	}{
		{name: "check holds", run: func() { Check(true, "never %d", 1) }},
		{name: "check fails", run: func() { Check(false, "ts %d after %d", 3, 4) }, wantMsg: "invariant violated: ts 3 after 4"},
		{name: "nil error", run: func() { CheckErr(nil) }},
		{name: "error", run: func() { CheckErr(io.ErrUnexpectedEOF) }, wantMsg: "invariant violated: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := func() (v *Violation) {
				defer func() {
					if r := recover(); r != nil {
						v = r.(*Violation)
					}
				}()
				tc.run()
				return nil
			}()
			switch {
			case tc.wantMsg == "" && got != nil:
				t.Fatalf("panicked: %v", got)
			case tc.wantMsg != "" && got == nil:
				t.Fatalf("did not panic, want %q", tc.wantMsg)
			case got != nil && got.Error() != tc.wantMsg:
				t.Fatalf("panic %q, want %q", got.Error(), tc.wantMsg)
			}
		})
	}
}

func TestViolationUnwraps(t *testing.T) {
	var v error = &Violation{Err: io.EOF}
	if !errors.Is(v, io.EOF) {
		t.Fatal("errors.Is does not see the wrapped error")
	}
}
