package topic

import "testing"

func TestParseFilter(t *testing.T) {
	cases := []struct {
		in    string
		group string
		flt   string
		err   error
	}{
		{in: "a/b", flt: "a/b"},
		{in: "#", flt: "#"},
		{in: "$SYS/#", flt: "$SYS/#"},
		{in: "$share", flt: "$share"},
		{in: "$shared/x", flt: "$shared/x"},
		{in: "$queue", flt: "$queue"},
		{in: "$share/g/a/b", group: "g", flt: "a/b"},
		{in: "$share/g/#", group: "g", flt: "#"},
		{in: "$share/g/+", group: "g", flt: "+"},
		{in: "$share/g//", group: "g", flt: "/"},
		{in: "$share/$queue/x", group: "$queue", flt: "x"},
		{in: "$queue/x/+", group: "$queue", flt: "x/+"},
		{in: "$queue/#", group: "$queue", flt: "#"},
		// [MQTT-4.8.2-1] v5: the share name has at least one character.
		{in: "$share/", err: ErrShareNameEmpty},
		{in: "$share//a", err: ErrShareNameEmpty},
		// [MQTT-4.8.2-2] v5: no '+', '#' or '/' in it, and a '/' and a filter after it.
		{in: "$share/g", err: ErrShareNameInvalid},
		{in: "$share/g+/a", err: ErrShareNameInvalid},
		{in: "$share/+/a", err: ErrShareNameInvalid},
		{in: "$share/#/a", err: ErrShareNameInvalid},
		{in: "$share/#", err: ErrShareNameInvalid},
		{in: "$share/g\x00/a", err: ErrNUL},
		// The inner filter follows the usual rules.
		{in: "$share/g/", err: ErrEmpty},
		{in: "$queue/", err: ErrEmpty},
		{in: "$share/g/a#", err: ErrMultiLevelWildcard},
		{in: "$queue/a+", err: ErrSingleLevelWildcard},
		{in: "", err: ErrEmpty},
		{in: "a/#/b", err: ErrMultiLevelWildcard},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.in)
		if err != c.err {
			t.Errorf("ParseFilter(%q) error = %v, want %v", c.in, err, c.err)
			continue
		}
		if f.Group != c.group || f.Filter != c.flt {
			t.Errorf("ParseFilter(%q) = %+v, want group %q filter %q", c.in, f, c.group, c.flt)
		}
		if err == nil && f.Shared() != (c.group != "") {
			t.Errorf("ParseFilter(%q).Shared() = %v", c.in, f.Shared())
		}
	}
}

func TestParseFilterLimits(t *testing.T) {
	o := &Options{MaxLevels: 2, MaxLength: 16}
	cases := []struct {
		in  string
		err error
	}{
		{"$share/g/a/b", nil}, // levels count in the inner filter only
		{"$share/g/a/b/c", ErrTooManyLevels},
		{"$share/group/a/b", nil},         // 16 bytes
		{"$share/groupx/a/b", ErrTooLong}, // 17 bytes: the limit is on the whole string
	}
	for _, c := range cases {
		if _, err := o.ParseFilter(c.in); err != c.err {
			t.Errorf("ParseFilter(%q) = %v, want %v", c.in, err, c.err)
		}
	}
}

func TestFilterString(t *testing.T) {
	for in, want := range map[string]string{
		"a/b":          "a/b",
		"$share/g/a/#": "$share/g/a/#",
		"$queue/a":     "$share/$queue/a",
	} {
		f, err := ParseFilter(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.String(); got != want {
			t.Errorf("ParseFilter(%q).String() = %q, want %q", in, got, want)
		}
		again, err := ParseFilter(f.String())
		if err != nil || again != f {
			t.Errorf("round trip of %q: %+v, %v", in, again, err)
		}
	}
}
