package dsbench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Template is a topic pattern whose levels may hold one integer range each:
// "site/{0..99}/dev/{0..999}/temp" names 100 × 1000 topics. A range is inclusive and may sit
// between literal text inside its level ("dev-{1..8}-x"). Topics are numbered in mixed radix,
// the last range varying fastest, so topic 0 is "site/0/dev/0/temp" and topic 1 is
// "site/0/dev/1/temp".
type Template struct {
	src    string
	levels []templateLevel
	// ranged holds the indexes of the levels with a range, in order.
	ranged []int
	topics int
}

type templateLevel struct {
	prefix, suffix string // literal text around the range; prefix is the whole level without one
	lo, hi         int
	hasRange       bool
}

// MaxTopics bounds the number of topics a template may name.
const MaxTopics = 1 << 28

// ParseTemplate checks s and returns its template. Every topic it names must be a valid MQTT
// topic name.
func ParseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, errors.New("dsbench: empty topic template")
	}
	t := &Template{src: s, topics: 1}
	for i, lvl := range strings.Split(s, "/") {
		l, err := parseLevel(lvl)
		if err != nil {
			return nil, fmt.Errorf("dsbench: template %q, level %d: %w", s, i+1, err)
		}
		if l.hasRange {
			t.ranged = append(t.ranged, i)
			n := l.hi - l.lo + 1
			if t.topics > MaxTopics/n {
				return nil, fmt.Errorf("dsbench: template %q names more than %d topics", s, MaxTopics)
			}
			t.topics *= n
		}
		t.levels = append(t.levels, l)
	}
	// The first and last topics have the longest numbers, so checking them covers the length.
	for _, i := range []int{0, t.topics - 1} {
		if err := topic.ValidateName(t.Topic(i)); err != nil {
			return nil, fmt.Errorf("dsbench: template %q: topic %q: %w", s, t.Topic(i), err)
		}
	}
	return t, nil
}

func parseLevel(s string) (templateLevel, error) {
	if strings.ContainsAny(s, "+#") {
		return templateLevel{}, fmt.Errorf("%q holds a wildcard; a template names topics", s)
	}
	open := strings.IndexByte(s, '{')
	if open < 0 {
		if strings.IndexByte(s, '}') >= 0 {
			return templateLevel{}, fmt.Errorf("%q has '}' without '{'", s)
		}
		return templateLevel{prefix: s}, nil
	}
	end := strings.IndexByte(s[open:], '}')
	if end < 0 {
		return templateLevel{}, fmt.Errorf("%q has '{' without '}'", s)
	}
	end += open
	prefix, body, suffix := s[:open], s[open+1:end], s[end+1:]
	if strings.ContainsAny(suffix, "{}") {
		return templateLevel{}, fmt.Errorf("%q has more than one range", s)
	}
	los, his, ok := strings.Cut(body, "..")
	lo, err1 := strconv.Atoi(los)
	hi, err2 := strconv.Atoi(his)
	if !ok || err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return templateLevel{}, fmt.Errorf("range {%s} is not {LO..HI} with 0 <= LO <= HI", body)
	}
	if hi-lo >= MaxTopics {
		return templateLevel{}, fmt.Errorf("range {%s} has more than %d values", body, MaxTopics)
	}
	return templateLevel{prefix: prefix, suffix: suffix, lo: lo, hi: hi, hasRange: true}, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// NumTopics returns how many topics the template names.
func (t *Template) NumTopics() int { return t.topics }

// Topic returns topic number i, 0 <= i < NumTopics.
func (t *Template) Topic(i int) string {
	return t.render(t.values(i), -1)
}

// values returns the range values of topic i, one per ranged level.
func (t *Template) values(i int) []int {
	v := make([]int, len(t.ranged))
	for k := len(t.ranged) - 1; k >= 0; k-- {
		l := &t.levels[t.ranged[k]]
		n := l.hi - l.lo + 1
		v[k] = l.lo + i%n
		i /= n
	}
	return v
}

// render writes the levels with the given range values; the ranged level at index wild
// becomes '+' (wild < 0: none).
func (t *Template) render(values []int, wild int) string {
	var b strings.Builder
	k := 0
	for i, l := range t.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		if !l.hasRange {
			b.WriteString(l.prefix)
			continue
		}
		if i == wild {
			b.WriteByte('+')
		} else {
			b.WriteString(l.prefix)
			b.WriteString(strconv.Itoa(values[k]))
			b.WriteString(l.suffix)
		}
		k++
	}
	return b.String()
}

// DefaultFilters returns the filters replayed when none are given: one topic (each range at
// the value a third of the way through it), then that topic with one ranged level replaced by
// '+', for each ranged level from the last to the first, then the first level followed by '#'.
// For site/{0..99}/dev/{0..999}/temp: site/33/dev/333/temp, site/33/dev/+/temp,
// site/+/dev/333/temp, site/#.
func (t *Template) DefaultFilters() []string {
	values := make([]int, len(t.ranged))
	for k, i := range t.ranged {
		l := &t.levels[i]
		values[k] = l.lo + (l.hi-l.lo)/3
	}
	device := t.render(values, -1)
	out := []string{device}
	for k := len(t.ranged) - 1; k >= 0; k-- {
		out = append(out, t.render(values, t.ranged[k]))
	}
	if len(t.levels) == 1 {
		out = append(out, "#")
	} else {
		first, _, _ := strings.Cut(device, "/")
		out = append(out, first+"/#")
	}
	return out
}
