package topic

import "errors"

// RuleError is a violation of one MQTT rule. Each distinct violation is one package-level sentinel, so
// errors.Is(err, topic.ErrWildcardInName) works; Rule names the statement that was broken so a broker can
// put it in a reason string or a log line.
type RuleError struct {
	// Rule is the digest id with its version, e.g. "[MQTT-4.7.1-1] v5". Rules the specification states
	// without an id cite their section; limits that are ours (MaxLevels) say so.
	Rule string
	// Msg says what was wrong, in a few words.
	Msg string
}

// Error implements error.
func (e *RuleError) Error() string { return "topic: " + e.Msg + " " + e.Rule }

// The sentinels, grouped by what they apply to. Names and filters share the first group.
var (
	// ErrEmpty: a topic name or filter must be at least one character long.
	ErrEmpty = &RuleError{Rule: "[MQTT-4.7.3-1] v5", Msg: "empty topic"}
	// ErrTooLong: a topic name or filter encodes to at most 65,535 bytes (or Options.MaxLength).
	ErrTooLong = &RuleError{Rule: "[MQTT-4.7.3-3] v5", Msg: "topic longer than the maximum length"}
	// ErrNUL: U+0000 may not appear in a topic name or filter.
	ErrNUL = &RuleError{Rule: "[MQTT-4.7.3-2] v5", Msg: "topic contains U+0000"}
	// ErrInvalidUTF8: topics are UTF-8 encoded strings and must be well formed.
	ErrInvalidUTF8 = &RuleError{Rule: "[MQTT-1.5.4-1] v5", Msg: "topic is not well-formed UTF-8"}
	// ErrTooManyLevels: the topic has more levels than Options.MaxLevels allows. This limit is the
	// broker's, not the specification's.
	ErrTooManyLevels = &RuleError{Rule: "(mqttds limit: max topic levels)", Msg: "topic has too many levels"}

	// ErrWildcardInName: '+' and '#' may appear in filters only, never in topic names.
	ErrWildcardInName = &RuleError{Rule: "[MQTT-4.7.0-1] v5", Msg: "wildcard in topic name"}

	// ErrMultiLevelWildcard: '#' must be a whole level and the last one.
	ErrMultiLevelWildcard = &RuleError{Rule: "[MQTT-4.7.1-1] v5", Msg: "'#' not alone in the last level"}
	// ErrSingleLevelWildcard: '+' must fill a whole level.
	ErrSingleLevelWildcard = &RuleError{Rule: "[MQTT-4.7.1-2] v5", Msg: "'+' not alone in its level"}

	// ErrShareNameEmpty: "$share/" must be followed by a share name of at least one character.
	ErrShareNameEmpty = &RuleError{Rule: "[MQTT-4.8.2-1] v5", Msg: "empty share name"}
	// ErrShareNameInvalid: the share name may not contain '+' or '#', and must be followed by '/'.
	ErrShareNameInvalid = &RuleError{Rule: "[MQTT-4.8.2-2] v5", Msg: "share name contains a wildcard or is not followed by '/'"}
)

// Rule returns the rule id cited by err, or "" if err is not (and does not wrap) a *RuleError.
func Rule(err error) string {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Rule
	}
	return ""
}
