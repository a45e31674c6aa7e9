package server

import (
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// Message is one application message as the broker routes it. A Message is
// immutable once published: every matching session shares the same value,
// and what differs per subscriber (QoS, RETAIN, subscription identifiers,
// packet id) lives in the delivery, not here.
type Message struct {
	Topic   string
	Payload []byte
	QoS     mqtt.QoS
	Retain  bool

	// Publisher is the client id of the sender; "" for messages the broker
	// makes itself ($SYS). No Local compares against it [MQTT-3.8.3-3] v5.
	Publisher string
	// Created is when the broker took ownership of the message.
	Created time.Time
	// Expires is when the message stops being deliverable; zero never
	// [MQTT-3.3.2-5] v5.
	Expires time.Time

	// The MQTT 5 properties forwarded unchanged to every subscriber
	// [MQTT-3.3.2-4], [MQTT-3.3.2-15..18], [MQTT-3.3.2-20] v5.
	PayloadFormat   byte
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	User            []mqtt.UserProperty
}

// expired reports whether m can no longer be delivered at now.
func (m *Message) expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// remainingExpiry is the Message Expiry Interval to send on: what was
// received minus the time the message waited here, rounded up so that a
// message with time left never goes out as 0 (absent) [MQTT-3.3.2-6] v5.
func (m *Message) remainingExpiry(now time.Time) uint32 {
	if m.Expires.IsZero() {
		return 0
	}
	left := m.Expires.Sub(now)
	if left <= 0 {
		return 0
	}
	return uint32((left + time.Second - 1) / time.Second)
}

// messageFromPublish takes ownership of a decoded PUBLISH.
func messageFromPublish(p *mqtt.Packet, publisher string, now time.Time) *Message {
	m := &Message{
		Topic:           p.Topic,
		Payload:         p.Payload,
		QoS:             p.QoS,
		Retain:          p.Retain,
		Publisher:       publisher,
		Created:         now,
		PayloadFormat:   p.Properties.PayloadFormat,
		ContentType:     p.Properties.ContentType,
		ResponseTopic:   p.Properties.ResponseTopic,
		CorrelationData: p.Properties.CorrelationData,
		User:            p.Properties.User,
	}
	if e := p.Properties.MessageExpiry; e > 0 {
		m.Expires = now.Add(time.Duration(e) * time.Second)
	}
	return m
}

// messageFromWill builds the message a Will turns into.
func messageFromWill(w *mqtt.Will, publisher string, now time.Time) *Message {
	m := &Message{
		Topic:           w.Topic,
		Payload:         w.Payload,
		QoS:             w.QoS,
		Retain:          w.Retain, // [MQTT-3.1.2-14], [MQTT-3.1.2-15] v5
		Publisher:       publisher,
		Created:         now,
		PayloadFormat:   w.Properties.PayloadFormat,
		ContentType:     w.Properties.ContentType,
		ResponseTopic:   w.Properties.ResponseTopic,
		CorrelationData: w.Properties.CorrelationData,
		User:            w.Properties.User, // order kept [MQTT-3.1.3-10] v5
	}
	if e := w.Properties.MessageExpiry; e > 0 {
		m.Expires = now.Add(time.Duration(e) * time.Second)
	}
	return m
}
