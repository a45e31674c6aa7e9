package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxLength)
	cases := []struct {
		in                string
		name, filter      error // expected result as a topic name and as a filter
		nameRule, fltRule string
	}{
		// [MQTT-4.7.3-1] v5: at least one character.
		{in: "", name: ErrEmpty, filter: ErrEmpty},
		{in: "a", name: nil, filter: nil},
		{in: "/", name: nil, filter: nil},
		{in: "//", name: nil, filter: nil},
		{in: "a//b/", name: nil, filter: nil},
		{in: "sport/tennis/player1", name: nil, filter: nil},
		{in: "with space/Ünïcødé/ключ", name: nil, filter: nil},
		{in: "$SYS/broker", name: nil, filter: nil},
		{in: "\ufeffa/\x01\x7f", name: nil, filter: nil}, // [MQTT-1.5.4-3] v5; controls are not refused
		// [MQTT-4.7.3-3] v5: at most 65535 bytes.
		{in: long, name: nil, filter: nil},
		{in: long + "a", name: ErrTooLong, filter: ErrTooLong},
		// [MQTT-4.7.3-2] v5: no U+0000.
		{in: "a\x00b", name: ErrNUL, filter: ErrNUL},
		// [MQTT-1.5.4-1] v5: well-formed UTF-8, no surrogates.
		{in: "a/\xff", name: ErrInvalidUTF8, filter: ErrInvalidUTF8},
		{in: "\xed\xa0\x80", name: ErrInvalidUTF8, filter: ErrInvalidUTF8}, // U+D800
		{in: "\xc3", name: ErrInvalidUTF8, filter: ErrInvalidUTF8},         // truncated
		// [MQTT-4.7.0-1] v5: no wildcards in names; [MQTT-4.7.1-2] v5: '+' fills a level.
		{in: "+", name: ErrWildcardInName, filter: nil},
		{in: "+/+", name: ErrWildcardInName, filter: nil},
		{in: "/+", name: ErrWildcardInName, filter: nil},
		{in: "+/", name: ErrWildcardInName, filter: nil},
		{in: "a/+/b", name: ErrWildcardInName, filter: nil},
		{in: "a+", name: ErrWildcardInName, filter: ErrSingleLevelWildcard},
		{in: "+a", name: ErrWildcardInName, filter: ErrSingleLevelWildcard},
		{in: "a/b+/c", name: ErrWildcardInName, filter: ErrSingleLevelWildcard},
		{in: "++", name: ErrWildcardInName, filter: ErrSingleLevelWildcard},
		// [MQTT-4.7.1-1] v5: '#' alone, last.
		{in: "#", name: ErrWildcardInName, filter: nil},
		{in: "/#", name: ErrWildcardInName, filter: nil},
		{in: "a/#", name: ErrWildcardInName, filter: nil},
		{in: "+/#", name: ErrWildcardInName, filter: nil},
		{in: "a#", name: ErrWildcardInName, filter: ErrMultiLevelWildcard},
		{in: "#/", name: ErrWildcardInName, filter: ErrMultiLevelWildcard},
		{in: "a/#/b", name: ErrWildcardInName, filter: ErrMultiLevelWildcard},
		{in: "##", name: ErrWildcardInName, filter: ErrMultiLevelWildcard},
		{in: "a/#b", name: ErrWildcardInName, filter: ErrMultiLevelWildcard},
	}
	for _, c := range cases {
		in := c.in
		if len(in) > 40 {
			in = in[:20] + "..."
		}
		if err := ValidateName(c.in); err != c.name {
			t.Errorf("ValidateName(%q) = %v, want %v", in, err, c.name)
		}
		if err := ValidateFilter(c.in); err != c.filter {
			t.Errorf("ValidateFilter(%q) = %v, want %v", in, err, c.filter)
		}
	}
}

func TestValidateOptions(t *testing.T) {
	o := &Options{MaxLevels: 3, MaxLength: 8}
	cases := []struct {
		in   string
		want error
	}{
		{"a/b/c", nil},
		{"a/b/c/d", ErrTooManyLevels},
		{"//", nil},
		{"///", ErrTooManyLevels},
		{"12345678", nil},
		{"123456789", ErrTooLong},
	}
	for _, c := range cases {
		if err := o.ValidateName(c.in); err != c.want {
			t.Errorf("ValidateName(%q) = %v, want %v", c.in, err, c.want)
		}
		if err := o.ValidateFilter(c.in); err != c.want {
			t.Errorf("ValidateFilter(%q) = %v, want %v", c.in, err, c.want)
		}
	}
	// A MaxLength above the protocol's is clamped to it.
	big := &Options{MaxLength: 1 << 20}
	if err := big.ValidateName(strings.Repeat("x", MaxLength+1)); err != ErrTooLong {
		t.Errorf("clamped MaxLength: got %v", err)
	}
}

func TestRuleError(t *testing.T) {
	err := ValidateName("a/+")
	if !errors.Is(err, ErrWildcardInName) {
		t.Fatalf("errors.Is failed for %v", err)
	}
	if got, want := Rule(err), "[MQTT-4.7.0-1] v5"; got != want {
		t.Errorf("Rule = %q, want %q", got, want)
	}
	if got, want := err.Error(), "topic: wildcard in topic name [MQTT-4.7.0-1] v5"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if Rule(errors.New("other")) != "" {
		t.Error("Rule of a foreign error should be empty")
	}
}

func TestHasWildcard(t *testing.T) {
	for in, want := range map[string]bool{"a/b": false, "a/+": true, "#": true, "$SYS/x": false, "": false} {
		if got := HasWildcard(in); got != want {
			t.Errorf("HasWildcard(%q) = %v", in, got)
		}
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		_ = ValidateFilter("sport/+/ключ/#")
		_ = ValidateName("a/+")
	})
	if n != 0 {
		t.Errorf("validation allocated %v times per run", n)
	}
}
