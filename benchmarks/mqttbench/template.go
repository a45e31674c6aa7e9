package mqttbench

import (
	"fmt"
	"strconv"
	"strings"
)

// Template is a client-id or topic pattern in which "%i" stands for the client index and "%%" for a
// literal percent sign. Any other "%" sequence is an error, caught when the template is parsed, so a
// typo such as "%d" fails before a single client connects.
type Template struct {
	src   string
	parts []string // literal pieces; an index goes between consecutive pieces
}

// ParseTemplate checks s and prepares it for Expand.
func ParseTemplate(s string) (Template, error) {
	t := Template{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return Template{}, fmt.Errorf("bench: template %q ends with a lone %%", s)
		}
		i++
		switch s[i] {
		case '%':
			lit.WriteByte('%')
		case 'i':
			t.parts = append(t.parts, lit.String())
			lit.Reset()
		default:
			return Template{}, fmt.Errorf("bench: template %q: unknown %%%c (only %%i and %%%% are known)", s, s[i])
		}
	}
	t.parts = append(t.parts, lit.String())
	return t, nil
}

// Expand returns the template with every %i replaced by index.
func (t Template) Expand(index int) string {
	if len(t.parts) == 1 {
		return t.parts[0]
	}
	n := strconv.Itoa(index)
	var b strings.Builder
	for k, p := range t.parts {
		if k > 0 {
			b.WriteString(n)
		}
		b.WriteString(p)
	}
	return b.String()
}

// PerClient reports whether the template contains %i, that is whether clients get different values.
func (t Template) PerClient() bool { return len(t.parts) > 1 }

// String returns the template as written.
func (t Template) String() string { return t.src }
