package topic

import "strings"

// Separator divides a topic into levels.
const Separator = '/'

// NumLevels returns the number of levels in a topic name or filter: one more than the number of '/'.
// The empty string has one (empty) level, as far as this function is concerned.
func NumLevels(s string) int { return strings.Count(s, "/") + 1 }

// Levels splits a topic into its levels with exactly one allocation (the result slice). The levels are
// substrings of s. Prefer AppendLevels with a reused buffer on hot paths.
func Levels(s string) []string {
	return AppendLevels(make([]string, 0, NumLevels(s)), s)
}

// AppendLevels appends the levels of s to dst and returns the extended slice. It allocates only if dst
// is too small. "a//b/" yields "a", "", "b", "".
func AppendLevels(dst []string, s string) []string {
	for {
		i := strings.IndexByte(s, Separator)
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// CutLevel returns the first level of s and the rest after the separator. more reports whether a
// separator was found, which tells "a" (one level) from "a/" (two levels, the second empty). Walking a
// topic with CutLevel does not allocate:
//
//	for rest, more := name, true; more; {
//		var level string
//		level, rest, more = topic.CutLevel(rest)
//		...
//	}
func CutLevel(s string) (level, rest string, more bool) {
	i := strings.IndexByte(s, Separator)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
