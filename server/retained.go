package server

import (
	"time"

	"github.com/mqttds/mqttds/server/subscriptions"
)

// RetainedStore keeps the retained message of each topic (MQTT5 §3.3.1.3).
// It is the persistence seam for retained messages: the broker only talks to
// this interface, so a store backed by durable storage can replace the
// in-memory one without touching the router.
//
// Implementations are safe for concurrent use. Messages are immutable once
// stored; callers must not modify what they get back.
type RetainedStore interface {
	// Set makes m the retained message of m.Topic, replacing any other
	// [MQTT-3.3.1-5] v5. m has a non-empty payload.
	Set(m *Message) error
	// Delete removes the retained message of topic, if any [MQTT-3.3.1-6] v5.
	Delete(topic string) error
	// Match appends to dst the unexpired retained messages whose topics
	// match filter, honouring the '$' rule [MQTT-4.7.2-1] v5.
	Match(filter string, now time.Time, dst []*Message) ([]*Message, error)
	// Len is the number of retained topics.
	Len() int
}

// MemRetained is the in-memory RetainedStore: a topic trie from
// server/subscriptions holding *Message values. Expired messages are removed
// when a Match meets them.
type MemRetained struct {
	ix *subscriptions.Retained[*Message]
}

var _ RetainedStore = (*MemRetained)(nil)

// NewMemRetained returns an empty in-memory retained store.
func NewMemRetained() *MemRetained {
	return &MemRetained{ix: subscriptions.NewRetained[*Message]()}
}

// Set implements RetainedStore.
func (r *MemRetained) Set(m *Message) error {
	_, err := r.ix.Set(m.Topic, m)
	return err
}

// Delete implements RetainedStore.
func (r *MemRetained) Delete(topic string) error {
	r.ix.Delete(topic)
	return nil
}

// Match implements RetainedStore.
func (r *MemRetained) Match(filter string, now time.Time, dst []*Message) ([]*Message, error) {
	for _, e := range r.ix.Match(filter, nil) {
		if e.Value.expired(now) {
			// Only drop it if no newer message replaced it meanwhile.
			if cur, ok := r.ix.Get(e.Topic); ok && cur == e.Value {
				r.ix.Delete(e.Topic)
			}
			continue
		}
		dst = append(dst, e.Value)
	}
	return dst, nil
}

// Len implements RetainedStore.
func (r *MemRetained) Len() int { return r.ix.Len() }

// All appends every unexpired retained message to dst, '$' topics included (the API's list).
func (r *MemRetained) All(now time.Time, dst []*Message) []*Message {
	for _, e := range r.ix.All(nil) {
		if !e.Value.expired(now) {
			dst = append(dst, e.Value)
		}
	}
	return dst
}

// retainedLister is a RetainedStore that can list every message, '$' topics included; a store
// that cannot is listed through Match("#"), without them.
type retainedLister interface {
	All(now time.Time, dst []*Message) []*Message
}

// retain applies the RETAIN flag of a published message to the store
// [MQTT-3.3.1-5..8] v5: an empty payload deletes [MQTT-3.3.1-6], and is
// never stored itself [MQTT-3.3.1-7].
func (s *Server) retain(m *Message) {
	var err error
	if len(m.Payload) == 0 {
		err = s.opts.Retained.Delete(m.Topic)
	} else {
		err = s.opts.Retained.Set(m)
	}
	if err != nil {
		s.log.Error("retained store failed", "topic", m.Topic, "err", err)
	}
}
