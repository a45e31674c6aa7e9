//go:build invariants

package invariants

// Enabled reports whether the build has the invariants tag: here it has.
const Enabled = true
