package topic

import "unicode/utf8"

// MaxLength is the longest topic name or filter the protocol can carry: its length is a two-byte prefix
// [MQTT-4.7.3-3] v5.
const MaxLength = 65535

// Options tunes validation. A nil *Options means the defaults, and a zero field means that field's
// default, so a broker only sets what its configuration changes.
type Options struct {
	// MaxLength bounds the encoded length in bytes. Zero means MaxLength (65535); larger values are
	// clamped to it, since the wire cannot carry more.
	MaxLength int
	// MaxLevels bounds the number of levels ("a/b/c" has 3). Zero means no bound. Deep topics cost the
	// subscription index and the storage layout one step per level, so brokers usually set it.
	MaxLevels int
}

func (o *Options) maxLength() int {
	if o == nil || o.MaxLength <= 0 || o.MaxLength > MaxLength {
		return MaxLength
	}
	return o.MaxLength
}

func (o *Options) maxLevels() int {
	if o == nil {
		return 0
	}
	return o.MaxLevels
}

// ValidateName checks a topic name from a PUBLISH (or a Will, or a Response Topic) with default options.
func ValidateName(name string) error { return (*Options)(nil).ValidateName(name) }

// ValidateFilter checks a topic filter from a SUBSCRIBE or UNSUBSCRIBE with default options. It does
// not understand the "$share/" prefix: use ParseFilter for filters that may be shared.
func ValidateFilter(filter string) error { return (*Options)(nil).ValidateFilter(filter) }

// ValidateName checks a topic name: non-empty, within the length and level bounds, well-formed UTF-8
// without U+0000, and free of wildcards. It returns one of the package's *RuleError sentinels, and never
// allocates.
//
// Other control characters (U+0001–U+001F, U+007F–U+009F) are accepted: the specification says they
// should not be sent and lets a receiver refuse them, but does not require it (MQTT5 §1.5.4), and
// refusing them would break clients that use them. A leading U+FEFF is an ordinary character, kept and
// matched as it is [MQTT-1.5.4-3] v5.
func (o *Options) ValidateName(name string) error {
	return o.validate(name, false)
}

// ValidateFilter checks a topic filter: the rules of ValidateName, except that '+' may fill any level and
// '#' may fill the last one. Empty levels are valid ("a//b", "/#").
func (o *Options) ValidateFilter(filter string) error {
	return o.validate(filter, true)
}

// validate is the one pass behind both checks. It looks at every byte once; only a topic that has
// non-ASCII bytes pays for the UTF-8 check.
func (o *Options) validate(s string, filter bool) error {
	if len(s) == 0 {
		return ErrEmpty // [MQTT-4.7.3-1] v5
	}
	if len(s) > o.maxLength() {
		return ErrTooLong // [MQTT-4.7.3-3] v5
	}
	levels := 1
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '/':
			levels++
		case 0:
			return ErrNUL // [MQTT-4.7.3-2] v5
		case '+':
			if !filter {
				return ErrWildcardInName // [MQTT-4.7.0-1] v5
			}
			if (i > 0 && s[i-1] != '/') || (i+1 < len(s) && s[i+1] != '/') {
				return ErrSingleLevelWildcard // [MQTT-4.7.1-2] v5
			}
		case '#':
			if !filter {
				return ErrWildcardInName // [MQTT-4.7.0-1] v5
			}
			if (i > 0 && s[i-1] != '/') || i != len(s)-1 {
				return ErrMultiLevelWildcard // [MQTT-4.7.1-1] v5
			}
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
		}
	}
	if max := o.maxLevels(); max > 0 && levels > max {
		return ErrTooManyLevels
	}
	if !ascii && !utf8.ValidString(s) {
		return ErrInvalidUTF8 // [MQTT-1.5.4-1] v5; Go's decoder also rejects surrogates
	}
	return nil
}

// HasWildcard reports whether a filter contains '+' or '#'. For a valid filter that is the same as
// asking whether it can match more than one topic name.
func HasWildcard(filter string) bool {
	for i := 0; i < len(filter); i++ {
		if filter[i] == '+' || filter[i] == '#' {
			return true
		}
	}
	return false
}
