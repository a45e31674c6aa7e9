package topic

import (
	"slices"
	"testing"
)

func TestLevels(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"a", []string{"a"}},
		{"a/b/c", []string{"a", "b", "c"}},
		{"/", []string{"", ""}},
		{"a//b/", []string{"a", "", "b", ""}},
		{"$SYS/#", []string{"$SYS", "#"}},
	}
	for _, c := range cases {
		if got := Levels(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Levels(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := NumLevels(c.in); got != len(c.want) {
			t.Errorf("NumLevels(%q) = %d, want %d", c.in, got, len(c.want))
		}
		var walked []string
		for rest, more := c.in, true; more; {
			var level string
			level, rest, more = CutLevel(rest)
			walked = append(walked, level)
		}
		if !slices.Equal(walked, c.want) {
			t.Errorf("CutLevel walk of %q = %q, want %q", c.in, walked, c.want)
		}
	}
}

func TestLevelsAllocations(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Levels("a/b/c/d") }); n != 1 {
		t.Errorf("Levels allocated %v times, want 1", n)
	}
	buf := make([]string, 0, 8)
	if n := testing.AllocsPerRun(100, func() { buf = AppendLevels(buf[:0], "a/b/c/d") }); n != 0 {
		t.Errorf("AppendLevels into a large enough buffer allocated %v times", n)
	}
}
