package auth

import (
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/stretchr/testify/require"
)

func TestCoversIntersects(t *testing.T) {
	for _, tc := range []struct {
		rule, filter       string
		covers, intersects bool
	}{
		{"a/b", "a/b", true, true},
		{"a/#", "a", true, true},
		{"a/#", "a/b/c", true, true},
		{"a/#", "a/+", true, true},
		{"a/#", "a/#", true, true},
		{"a/+", "a/#", false, true},
		{"a/+", "a/b", true, true},
		{"a/+", "a", false, false},
		{"a/+/#", "a/#", false, true},
		{"a/+/#", "a/+", true, true},
		{"a/b", "a/+", false, true},
		{"a/b", "a/c", false, false},
		{"a", "a/#", false, true},
		{"a/b", "#", false, true},
		{"#", "#", true, true},
		{"#", "$SYS/x", false, false},
		{"+/x", "$SYS/x", false, false},
		{"$SYS/#", "#", false, false},
		{"$SYS/#", "$SYS/broker/+", true, true},
		{"+/+", "+/+/+", false, false},
		{"a//b", "a/+/b", false, true},
		{"a/+/b", "a//b", true, true},
	} {
		require.Equal(t, tc.covers, covers(tc.rule, tc.filter), "covers(%q, %q)", tc.rule, tc.filter)
		require.Equal(t, tc.intersects, intersects(tc.rule, tc.filter), "intersects(%q, %q)", tc.rule, tc.filter)
		require.Equal(t, tc.intersects, intersects(tc.filter, tc.rule), "intersects is symmetric")
	}
}

// Ensure that covers and intersects agree with their definitions, checked by brute force over every
// valid filter of up to three levels on a small alphabet and every topic of up to four levels.
func TestCoversIntersects_BruteForce(t *testing.T) {
	filters := enumerate([]string{"a", "$s", "+", "#", ""}, 3, func(s string) bool { return topic.ValidateFilter(s) == nil })
	// "c" stands for any level no filter names.
	topics := enumerate([]string{"a", "$s", "c", ""}, 4, func(s string) bool { return topic.ValidateName(s) == nil })
	matches := make([][]bool, len(filters))
	for i, f := range filters {
		matches[i] = make([]bool, len(topics))
		for j, n := range topics {
			matches[i][j] = topic.Match(f, n)
		}
	}
	for i, r := range filters {
		for k, f := range filters {
			wantCovers, wantIntersects := true, false
			for j := range topics {
				if matches[k][j] && !matches[i][j] {
					wantCovers = false
				}
				if matches[k][j] && matches[i][j] {
					wantIntersects = true
				}
			}
			require.Equal(t, wantCovers, covers(r, f), "covers(%q, %q)", r, f)
			require.Equal(t, wantIntersects, intersects(r, f), "intersects(%q, %q)", r, f)
		}
	}
}

// enumerate returns every '/'-joined string of 1..maxLevels levels drawn from alphabet that keep holds.
func enumerate(alphabet []string, maxLevels int, keep func(string) bool) []string {
	var out []string
	var walk func(levels []string)
	walk = func(levels []string) {
		if len(levels) > 0 {
			if s := strings.Join(levels, "/"); keep(s) {
				out = append(out, s)
			}
		}
		if len(levels) == maxLevels {
			return
		}
		for _, l := range alphabet {
			walk(append(levels, l))
		}
	}
	walk(nil)
	return out
}
