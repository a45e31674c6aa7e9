//go:build !invariants

package invariants

// Enabled reports whether the build has the invariants tag: here it has not, and every
// `if Enabled` block is compiled out.
const Enabled = false
