// Package keymap builds fixed-width binary keys out of integer dimensions and walks the keys
// that fall inside a box of per-dimension intervals.
//
// A Keymap concatenates chunks ("bit sources") of its dimensions, most significant first. A
// dimension may be split into several chunks placed apart: wildcard_optimized puts the high bits
// of the timestamp (the epoch) before the varying-level hashes and the low bits after them.
// Keys compare as big-endian byte strings, which is how pebble orders them.
//
// A Box constrains each dimension to an interval [Min, Max] (Min == Max is an equality). Keys
// are compared chunk by chunk, so a box is projected onto one interval per chunk; for a split
// dimension the projection can contain values outside the dimension interval (the low chunk
// spans its full range when the high chunk does), which readers remove by checking the decoded
// value. Box.Seek returns the smallest key >= K whose every chunk lies in its interval: the
// "next key inside the box" step that lets a reader jump from a key outside its box straight to
// the next one that can match, one pebble seek per gap.
//
// The package is pure: no I/O, no allocation on the read path beyond the caller's buffers.
package keymap
