package config

import (
	"fmt"
	"strings"
)

// Error is one problem with the configuration. Key is the dotted option name (listeners.tcp.bind),
// always set, so that an operator can find the line to fix.
type Error struct {
	Source string // file name, "env MQTTDS_…", or "" for a problem found by Validate
	Line   int    // line in Source, 0 when unknown
	Key    string
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Source != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.Source, e.Line)
	case e.Source != "":
		fmt.Fprintf(&b, "%s: ", e.Source)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Key)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one pass; Parse, ApplyEnv and Validate return it (never empty)
// so that an operator fixes a file in one round instead of one error per start.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As reach the individual *Error values.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Keys returns the key of each problem, in order.
func (es Errors) Keys() []string {
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Key
	}
	return keys
}

// errOrNil returns es as an error, or nil when there is no problem; returning a nil Errors as an
// error would make a non-nil interface.
func (es Errors) errOrNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
