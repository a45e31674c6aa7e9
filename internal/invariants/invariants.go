package invariants

import "fmt"

// Violation is the panic value of a failed check.
type Violation struct {
	// Err describes what was found broken.
	Err error
}

func (v *Violation) Error() string { return "invariant violated: " + v.Err.Error() }

// Unwrap returns Err, so that errors.Is and errors.As see through a recovered Violation.
func (v *Violation) Unwrap() error { return v.Err }

// Check panics with a *Violation when cond is false. It checks whether or not Enabled is
// set: guard the call with `if Enabled` when computing cond costs anything, and remember that
// args are evaluated (and may allocate) before the call.
func Check(cond bool, format string, args ...any) {
	if !cond {
		panic(&Violation{Err: fmt.Errorf(format, args...)})
	}
}

// CheckErr panics with a *Violation wrapping err when err is not nil: the form for checkers
// that return what they found.
func CheckErr(err error) {
	if err != nil {
		panic(&Violation{Err: err})
	}
}
