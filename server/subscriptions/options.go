package subscriptions

import (
	"errors"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// MaxSubscriptionID is the largest Subscription Identifier: the property is a Variable Byte Integer
// (MQTT5 §3.8.2.1.2).
const MaxSubscriptionID = 268435455

// Options are the subscription options of one filter in a SUBSCRIBE (MQTT5 §3.8.3.1). The zero value is a
// QoS 0 subscription as MQTT 3.1.1 knows it.
type Options struct {
	// QoS is the maximum QoS granted, 0 to 2.
	QoS byte
	// NoLocal: do not deliver messages published by this same client [MQTT-3.8.3-3] v5.
	NoLocal bool
	// RetainAsPublished: keep the RETAIN flag of forwarded messages [MQTT-3.3.1-13] v5.
	RetainAsPublished bool
	// RetainHandling is 0, 1 or 2 [MQTT-3.3.1-9..11] v5. The index only stores it; the broker acts on it
	// with the replaced result of Add.
	RetainHandling byte
	// SubscriptionID is the Subscription Identifier, 1 to MaxSubscriptionID; 0 means none.
	SubscriptionID uint32
}

// Subscription is one stored subscription, as listed by Index.ClientSubscriptions.
type Subscription struct {
	// Filter is the subscription filter in canonical form, including any "$share/{group}/" prefix.
	Filter string
	// Group is the share group parsed from the filter; "" for a non-shared subscription.
	Group string
	// Options are the options of the latest SUBSCRIBE for this filter.
	Options Options
}

// Errors returned by Index.Add, besides the *topic.RuleError values of an invalid filter.
var (
	// ErrInvalidQoS: a requested QoS above 2 is a Protocol Error (MQTT5 §3.8.3.1).
	ErrInvalidQoS = errors.New("subscriptions: QoS above 2 (MQTT5 §3.8.3.1)")
	// ErrInvalidRetainHandling: Retain Handling 3 is a Protocol Error (MQTT5 §3.8.3.1).
	ErrInvalidRetainHandling = errors.New("subscriptions: retain handling above 2 (MQTT5 §3.8.3.1)")
	// ErrInvalidSubscriptionID: identifiers above MaxSubscriptionID do not fit the property.
	ErrInvalidSubscriptionID = errors.New("subscriptions: subscription identifier above 268435455 (MQTT5 §3.8.2.1.2)")
	// ErrNoLocalShared: No Local on a shared subscription is a Protocol Error.
	ErrNoLocalShared = errors.New("subscriptions: no local on a shared subscription [MQTT-3.8.3-4] v5")
	// ErrEmptyClientID: every subscription belongs to a client; the broker assigns ids before this point.
	ErrEmptyClientID = errors.New("subscriptions: empty client id")
)

// validate checks the options against the filter they come with.
func (o Options) validate(f topic.Filter) error {
	switch {
	case o.QoS > 2:
		return ErrInvalidQoS
	case o.RetainHandling > 2:
		return ErrInvalidRetainHandling
	case o.SubscriptionID > MaxSubscriptionID:
		return ErrInvalidSubscriptionID
	case o.NoLocal && f.Shared():
		return ErrNoLocalShared // [MQTT-3.8.3-4] v5
	}
	return nil
}
