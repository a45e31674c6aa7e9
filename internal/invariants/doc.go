// Package invariants switches on the expensive self-checks of mqttds's storage packages (ds,
// layout, lts) in builds with the invariants tag (`go test -tags invariants`, which `make
// test` uses), and compiles them out of every other build.
//
// Enabled is a constant, so a check written as
//
//	if invariants.Enabled {
//		invariants.CheckErr(verifyBatch(b))
//	}
//
// costs nothing in a production build: the compiler drops the whole block. Inside such a block
// a check may be as slow as it needs to be (a full walk of a trie, a decode of every key of a
// batch); outside one, code must not call anything expensive only to feed a check.
//
// A failed check is a bug in mqttds, not bad input, so it panics (with a *Violation) instead
// of returning an error: bad input gets its error from the regular code path whether or not
// the tag is set. What the package is not: a logging or metrics facility, or a replacement for
// tests; it makes every test that runs the checked code test the invariants too.
package invariants
