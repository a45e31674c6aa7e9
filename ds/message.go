package ds

import (
	"fmt"
	"unicode/utf8"
)

// Message is one MQTT application message as ds stores it.
//
// Store reads a Message and does not retain it: the caller may reuse the slices once Store
// returns. Messages returned by Next own their slices (nothing is shared with ds).
type Message struct {
	// ClientID is the publisher's client id. It chooses the shard, so one publisher's messages
	// keep their order.
	ClientID string
	// Topic is an MQTT topic name (no wildcards).
	Topic   string
	Payload []byte
	QoS     byte // 0, 1 or 2
	Retain  bool

	// Properties are the MQTT 5 publish properties that must reach subscribers.
	Properties Properties

	// Timestamp is assigned by ds when the message is committed: microseconds since the Unix
	// epoch, strictly increasing within a shard. Store ignores it.
	Timestamp uint64
}

// Properties are the MQTT 5 PUBLISH properties a durable message carries to its subscribers.
// The zero value means "none present".
type Properties struct {
	ContentType     string
	CorrelationData []byte
	ResponseTopic   string
	UserProperties  []UserProperty
	// PayloadFormat is the payload format indicator: 0 (bytes, also the meaning of "absent")
	// or 1 (UTF-8).
	PayloadFormat byte
	// MessageExpiry is the message expiry interval in seconds; it means something only when
	// HasMessageExpiry is set (an absent interval means "never expires").
	MessageExpiry    uint32
	HasMessageExpiry bool
}

// UserProperty is one MQTT 5 user property (a name/value pair; names may repeat).
type UserProperty struct {
	Key, Value string
}

// StoredMessage is a message read back by Next. Everything in it is owned by the caller.
type StoredMessage struct {
	// Key identifies the message in its stream (stable across restarts).
	Key []byte
	// After is the iterator positioned right after this message: a consumer that has handled
	// the message persists After to resume exactly behind it.
	After Iterator
	Message
}

// maxTopicLen is MQTT's limit on a UTF-8 string.
const maxTopicLen = 65535

// validate checks m as Store receives it.
func (m *Message) validate() error {
	if err := validateTopicName(m.Topic); err != nil {
		return err
	}
	if m.QoS > 2 {
		return fmt.Errorf("%w: QoS %d", ErrInvalidMessage, m.QoS)
	}
	if m.Properties.PayloadFormat > 1 {
		return fmt.Errorf("%w: payload format indicator %d", ErrInvalidMessage, m.Properties.PayloadFormat)
	}
	if len(m.ClientID) > maxTopicLen {
		return fmt.Errorf("%w: client id of %d bytes", ErrInvalidMessage, len(m.ClientID))
	}
	return nil
}

// validateTopicName checks an MQTT topic name: 1..65535 bytes of UTF-8, no NUL, no wildcard.
func validateTopicName(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%w: empty topic name", ErrInvalidTopic)
	case len(topic) > maxTopicLen:
		return fmt.Errorf("%w: topic of %d bytes", ErrInvalidTopic, len(topic))
	case !utf8.ValidString(topic):
		return fmt.Errorf("%w: %q is not UTF-8", ErrInvalidTopic, topic)
	}
	for i := 0; i < len(topic); i++ {
		switch topic[i] {
		case 0:
			return fmt.Errorf("%w: %q contains NUL", ErrInvalidTopic, topic)
		case '+', '#':
			return fmt.Errorf("%w: topic name %q contains a wildcard", ErrInvalidTopic, topic)
		}
	}
	return nil
}

// parseFilter checks an MQTT topic filter and splits it into levels, the form layouts take.
func parseFilter(filter string) ([]string, error) {
	switch {
	case filter == "":
		return nil, fmt.Errorf("%w: empty topic filter", ErrInvalidTopic)
	case len(filter) > maxTopicLen:
		return nil, fmt.Errorf("%w: filter of %d bytes", ErrInvalidTopic, len(filter))
	case !utf8.ValidString(filter):
		return nil, fmt.Errorf("%w: %q is not UTF-8", ErrInvalidTopic, filter)
	}
	levels := splitLevels(filter)
	for i, l := range levels {
		if len(l) > 1 && (containsByte(l, '+') || containsByte(l, '#')) {
			return nil, fmt.Errorf("%w: wildcard inside level %q of %q", ErrInvalidTopic, l, filter)
		}
		if l == "#" && i != len(levels)-1 {
			return nil, fmt.Errorf("%w: '#' is not the last level of %q", ErrInvalidTopic, filter)
		}
		if containsByte(l, 0) {
			return nil, fmt.Errorf("%w: %q contains NUL", ErrInvalidTopic, filter)
		}
	}
	return levels, nil
}

func splitLevels(s string) []string {
	levels := make([]string, 0, 8)
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			levels = append(levels, s[start:i])
			start = i + 1
		}
	}
	return append(levels, s[start:])
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}
