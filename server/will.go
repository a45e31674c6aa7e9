package server

import (
	"errors"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// finish runs when a connection's read loop has ended: it says goodbye if
// the protocol asks for one, closes the socket, lets go of the session, and
// publishes the Will when the connection ended without a normal DISCONNECT
// (MQTT5 §3.1.2.5).
func (c *conn) finish(err error) {
	s := c.srv
	defer close(c.finished)

	// 1. The reason, and a DISCONNECT to a v5 client for protocol errors
	// [MQTT-4.13.1-1] v5.
	cause := causeOf(err)
	if errors.Is(err, errNormalDisconnect) {
		cause = CauseNormal
	}
	c.setCause(cause)
	cause = DisconnectCause(c.cause.Load())
	code := mqtt.Reason(err)
	if cause == CauseKeepAlive {
		code = mqtt.KeepAliveTimeout
	}
	if c.connected && code.IsError() && code != mqtt.UnspecifiedError {
		c.disconnect(cause, code)
	}
	// 2. Let a goodbye packet (failed CONNACK, DISCONNECT) reach the wire,
	// briefly, then close.
	c.waitWriter(2 * time.Second)
	c.close(cause)
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
	s.stats.disconnects[cause].Add(1)
	if !c.connected {
		if cause != CauseNormal {
			s.stats.connectionsRefused.Add(1)
		}
		return
	}

	// 3. The session outlives the connection, or ends with it. A Will
	// still held is published now unless it has a delay: a normal
	// DISCONNECT (0x00) took it away, one with 0x04 or an error code kept
	// it [MQTT-3.1.2-8] v5. Both are decided as the connection lets go of
	// the session, in one step: a CONNECT that resumes the session at once
	// brings its own Will, which this connection's end must not take.
	sess := c.sess
	will, end := sess.detach(c)
	if will != nil {
		s.publishWill(will)
	}
	if end {
		s.releaseSession(sess, "disconnected")
	}
	var reason error
	if cause != CauseNormal {
		reason = err
		if reason == nil {
			reason = errors.New(cause.String())
		}
	}
	s.hooks.clientDisconnected(c.info(), reason)
	s.log.Debug("client disconnected", "client", c.clientID, "cause", cause.String(), "err", err)
}

// waitWriter waits up to d for the writer to drain and stop (or the
// connection to close).
func (c *conn) waitWriter(d time.Duration) {
	c.out.Lock()
	if !c.out.running || c.out.closed {
		c.out.Unlock()
		return
	}
	if c.out.idle == nil {
		c.out.idle = make(chan struct{})
	}
	idle := c.out.idle
	c.out.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

// waitFinished waits up to d for finish to complete (used by take-over).
func (c *conn) waitFinished(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.finished:
	case <-t.C:
		c.close(CauseTakeover)
		<-c.finished
	}
}

// publishWill sends a Will on its way, if the ACL lets its client publish
// there.
func (s *Server) publishWill(m *Message) {
	m.Created = time.Now()
	s.stats.messagesReceived.Add(1)
	s.publishStored(m)
}
