package topic

import "strings"

const (
	// SharePrefix starts a shared subscription: "$share/{group}/{filter}" (MQTT5 §4.8.2).
	SharePrefix = "$share/"
	// QueuePrefix starts the older queue form "$queue/{filter}" that some clients still send. It has no
	// group of its own; this package gives it the group QueueGroup, so "$queue/f" and
	// "$share/$queue/f" are one and the same subscription.
	QueuePrefix = "$queue/"
	// QueueGroup is the group name of a "$queue/" subscription.
	QueueGroup = "$queue"
)

// Filter is a subscription filter split into its share group and the topic filter that is matched.
type Filter struct {
	// Group is the share name; "" for an ordinary (non-shared) subscription, QueueGroup for "$queue/".
	Group string
	// Filter is the topic filter that names are matched against, without any share prefix.
	Filter string
}

// Shared reports whether the subscription is shared.
func (f Filter) Shared() bool { return f.Group != "" }

// String returns the subscription filter as a client would write it. A "$queue/" subscription comes out
// in its canonical form "$share/$queue/...".
func (f Filter) String() string {
	if f.Group == "" {
		return f.Filter
	}
	return SharePrefix + f.Group + "/" + f.Filter
}

// ParseFilter splits and validates a subscription filter with default options. See Options.ParseFilter.
func ParseFilter(s string) (Filter, error) { return (*Options)(nil).ParseFilter(s) }

// ParseFilter splits a subscription filter into share group and topic filter, and validates both. The
// returned strings are substrings of s (nothing is copied).
//
// A string that does not start with "$share/" or "$queue/" is an ordinary filter, even if it starts with
// "$share" ("$shared/x" is a filter on a '$' topic). The share name must be non-empty
// [MQTT-4.8.2-1] v5, free of '/', '+' and '#', and followed by '/' and a valid filter [MQTT-4.8.2-2] v5.
// The length limit applies to the whole string, the level limit to the inner filter.
func (o *Options) ParseFilter(s string) (Filter, error) {
	var f Filter
	switch {
	case strings.HasPrefix(s, SharePrefix):
		rest := s[len(SharePrefix):]
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			if rest == "" {
				return Filter{}, ErrShareNameEmpty // [MQTT-4.8.2-1] v5
			}
			return Filter{}, ErrShareNameInvalid // [MQTT-4.8.2-2] v5: no '/' after the name
		}
		if slash == 0 {
			return Filter{}, ErrShareNameEmpty // [MQTT-4.8.2-1] v5
		}
		f.Group, f.Filter = rest[:slash], rest[slash+1:]
		if strings.ContainsAny(f.Group, "+#") {
			return Filter{}, ErrShareNameInvalid // [MQTT-4.8.2-2] v5
		}
		if err := o.validate(f.Group, false); err != nil {
			return Filter{}, err // NUL or bad UTF-8 in the share name
		}
	case strings.HasPrefix(s, QueuePrefix):
		f.Group, f.Filter = QueueGroup, s[len(QueuePrefix):]
	default:
		f.Filter = s
	}
	if len(s) > o.maxLength() {
		return Filter{}, ErrTooLong // [MQTT-4.7.3-3] v5
	}
	if err := o.validate(f.Filter, true); err != nil {
		return Filter{}, err
	}
	return f, nil
}
