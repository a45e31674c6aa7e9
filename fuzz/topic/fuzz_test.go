package topicfuzz

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

// naiveValidFilter restates the filter rules level by level.
func naiveValidFilter(s string) bool {
	if s == "" || len(s) > topic.MaxLength || strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
		return false
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return false
		}
		if strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}

// FuzzValidate checks that validation never panics, that it agrees with a level-by-level restatement of
// the rules, that an accepted name holds no wildcard and matches itself, and that ParseFilter's result
// prints back to an equivalent filter.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"a/b", "+/#", "$share/g/a/+", "$queue/x", "a#", "\xff", "a\x00", "", "/", "$SYS/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nameErr, filterErr := topic.ValidateName(s), topic.ValidateFilter(s)
		if nameErr == nil {
			if strings.ContainsAny(s, "+#") {
				t.Fatalf("name %q with a wildcard accepted", s)
			}
			if filterErr != nil {
				t.Fatalf("valid name %q is not a valid filter: %v", s, filterErr)
			}
			if !topic.Match(s, s) {
				t.Fatalf("name %q does not match itself", s)
			}
		}
		if (filterErr == nil) != naiveValidFilter(s) {
			t.Fatalf("ValidateFilter(%q) = %v, naive says %v", s, filterErr, naiveValidFilter(s))
		}
		if filterErr != nil && topic.Rule(filterErr) == "" {
			t.Fatalf("error without a rule id: %v", filterErr)
		}
		if strings.Join(topic.Levels(s), "/") != s || len(topic.Levels(s)) != topic.NumLevels(s) {
			t.Fatalf("Levels(%q) does not round-trip", s)
		}
		pf, err := topic.ParseFilter(s)
		if err != nil {
			return
		}
		again, err := topic.ParseFilter(pf.String())
		if err != nil || again != pf {
			t.Fatalf("ParseFilter(%q) = %+v, printed %q, parsed back %+v, %v", s, pf, pf.String(), again, err)
		}
	})
}

// FuzzMatch checks Match against naiveMatch, and MatchLevels (the storage layers' form, on names as
// strings and as bytes) against Match, for every pair of a valid filter and a valid name.
func FuzzMatch(f *testing.F) {
	seeds := [][2]string{
		{"sport/#", "sport"}, {"sport/+", "sport/"}, {"+/+", "/finance"}, {"+", "/finance"},
		{"#", "$SYS/x"}, {"$SYS/#", "$SYS"}, {"a/+/#", "a"}, {"/#", "/"}, {"a//+", "a//"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		got := topic.Match(filter, name) // must not panic, valid or not
		levels := topic.Levels(filter)
		gotLevels := topic.MatchLevels(levels, []byte(name))
		if topic.ValidateFilter(filter) != nil || topic.ValidateName(name) != nil {
			return
		}
		if want := topictest.NaiveMatch(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, naive %v", filter, name, got, want)
		}
		if gotLevels != got || topic.MatchLevels(levels, name) != got {
			t.Fatalf("MatchLevels(%q, %q) = %v, Match %v", filter, name, gotLevels, got)
		}
	})
}
