package ds

import (
	"fmt"

	"github.com/mqttds/mqttds/mqtt/topic"
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

// maxClientIDLen is MQTT's limit on a UTF-8 string.
const maxClientIDLen = 65535

// validate checks m as Store receives it.
func (m *Message) validate() error {
	if err := checkTopicName(m.Topic); err != nil {
		return err
	}
	if m.QoS > 2 {
		return fmt.Errorf("%w: QoS %d", ErrInvalidMessage, m.QoS)
	}
	if m.Properties.PayloadFormat > 1 {
		return fmt.Errorf("%w: payload format indicator %d", ErrInvalidMessage, m.Properties.PayloadFormat)
	}
	if len(m.ClientID) > maxClientIDLen {
		return fmt.Errorf("%w: client id of %d bytes", ErrInvalidMessage, len(m.ClientID))
	}
	return nil
}

// checkTopicName checks a topic name against the MQTT rules; the error wraps both
// ErrInvalidTopic and the topic package's rule error.
func checkTopicName(name string) error {
	if err := topic.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %.100q: %w", ErrInvalidTopic, name, err)
	}
	return nil
}

// filterLevels checks an MQTT topic filter and splits it into levels, the form layouts take.
func filterLevels(filter string) ([]string, error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, fmt.Errorf("%w: %.100q: %w", ErrInvalidTopic, filter, err)
	}
	return topic.Levels(filter), nil
}
