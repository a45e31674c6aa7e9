package server

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// RetainedView is a retained message in a listing: everything but the payload.
type RetainedView struct {
	Topic         string    `json:"topic"`
	QoS           byte      `json:"qos"`
	PayloadSize   int       `json:"payload_size"`
	PayloadFormat byte      `json:"payload_format,omitempty"`
	ContentType   string    `json:"content_type,omitempty"`
	Publisher     string    `json:"publisher,omitempty"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires,omitzero"`
}

// RetainedMessage is one retained message with its payload (base64 in JSON) and properties.
type RetainedMessage struct {
	RetainedView
	Payload         []byte             `json:"payload"`
	ResponseTopic   string             `json:"response_topic,omitempty"`
	CorrelationData []byte             `json:"correlation_data,omitempty"`
	UserProperties  []UserPropertyView `json:"user_properties,omitempty"`
}

// UserPropertyView is an MQTT 5 User Property.
type UserPropertyView struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func retainedView(m *Message) RetainedView {
	return RetainedView{Topic: m.Topic, QoS: byte(m.QoS), PayloadSize: len(m.Payload), PayloadFormat: m.PayloadFormat,
		ContentType: m.ContentType, Publisher: m.Publisher, Created: m.Created, Expires: m.Expires}
}

// Retained lists the unexpired retained messages whose topics match filter, sorted by topic;
// filter "" lists them all, '$' topics included (a filter follows the '$' rule
// [MQTT-4.7.2-1] v5: "#" leaves out $SYS/...).
func (s *Server) Retained(filter string) ([]*Message, error) {
	var msgs []*Message
	var err error
	if l, ok := s.opts.Retained.(retainedLister); ok && filter == "" {
		msgs = l.All(time.Now(), nil)
	} else {
		if filter == "" {
			filter = "#"
		}
		msgs, err = s.opts.Retained.Match(filter, time.Now(), nil)
	}
	slices.SortFunc(msgs, func(a, b *Message) int { return strings.Compare(a.Topic, b.Topic) })
	return msgs, err
}

// retainedOne returns the retained message of topic name, or nil.
func (s *Server) retainedOne(name string) (*Message, error) {
	if s.topics.ValidateName(name) != nil {
		return nil, nil // no message can be retained under an invalid name
	}
	msgs, err := s.opts.Retained.Match(name, time.Now(), nil)
	for _, m := range msgs {
		if m.Topic == name {
			return m, err
		}
	}
	return nil, err
}

func (s *Server) apiRetainedList(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("filter")
	if filter != "" {
		if _, err := topic.ParseFilter(filter); err != nil {
			apiFail(w, http.StatusBadRequest, codeBadRequest, "filter %q: %v", filter, err)
			return
		}
	}
	msgs, err := s.Retained(filter)
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	views := make([]RetainedView, len(msgs))
	for i, m := range msgs {
		views[i] = retainedView(m)
	}
	writePage(w, r, views, func(v RetainedView) string { return v.Topic })
}

func (s *Server) apiRetainedGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	m, err := s.retainedOne(name)
	switch {
	case err != nil:
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
	case m == nil:
		apiFail(w, http.StatusNotFound, codeTopicNotFound, "no retained message on %q", name)
	default:
		rm := RetainedMessage{RetainedView: retainedView(m), Payload: m.Payload, ResponseTopic: m.ResponseTopic,
			CorrelationData: m.CorrelationData}
		for _, u := range m.User {
			rm.UserProperties = append(rm.UserProperties, UserPropertyView{Key: u.Key, Value: u.Value})
		}
		writeJSON(w, rm)
	}
}

// apiRetainedDelete deletes a retained message, as a retained PUBLISH with an empty payload
// would [MQTT-3.3.1-6] v5, without publishing anything.
func (s *Server) apiRetainedDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	m, err := s.retainedOne(name)
	if err == nil && m != nil {
		if err = s.opts.Retained.Delete(name); err == nil {
			s.forwardRetainedDelete(name)
		}
	}
	switch {
	case err != nil:
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
	case m == nil:
		apiFail(w, http.StatusNotFound, codeTopicNotFound, "no retained message on %q", name)
	default:
		s.log.Info("retained message deleted via the API", "topic", name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// PublishRequest is the body of POST /api/v1/publish.
type PublishRequest struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	// Encoding of Payload: "plain" (default, the UTF-8 text itself) or "base64".
	Encoding string `json:"encoding,omitempty"`
	QoS      byte   `json:"qos"`
	Retain   bool   `json:"retain"`
}

// PublishResult is the answer to POST /api/v1/publish.
type PublishResult struct {
	// Delivered is the number of sessions the message went to.
	Delivered int `json:"delivered"`
}

// apiPublish publishes a message as the broker itself (no publisher client id, so No Local
// excludes no one [MQTT-3.8.3-3] v5). A retained empty payload deletes the topic's retained
// message [MQTT-3.3.1-6] v5.
func (s *Server) apiPublish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	if !decodeBody(w, r, &req) {
		return
	}
	payload := []byte(req.Payload)
	switch req.Encoding {
	case "", "plain":
	case "base64":
		b, err := base64.StdEncoding.DecodeString(req.Payload)
		if err != nil {
			apiFail(w, http.StatusBadRequest, codeBadRequest, "payload: not base64: %v", err)
			return
		}
		payload = b
	default:
		apiFail(w, http.StatusBadRequest, codeBadRequest, "encoding %q: want plain or base64", req.Encoding)
		return
	}
	if req.QoS > 2 {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "qos %d: want 0, 1 or 2", req.QoS)
		return
	}
	if !utf8.ValidString(req.Topic) || strings.HasPrefix(req.Topic, "$") {
		// '$' topics are the broker's own ($SYS) [MQTT-4.7.2-1] v5.
		apiFail(w, http.StatusBadRequest, codeBadRequest, "topic %q: not a topic the API may publish to", req.Topic)
		return
	}
	n, err := s.Publish(req.Topic, payload, mqtt.QoS(req.QoS), req.Retain)
	if err != nil {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "topic %q: %v", req.Topic, err)
		return
	}
	writeJSON(w, PublishResult{Delivered: n})
}
