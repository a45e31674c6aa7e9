package server

import (
	"github.com/mqttds/mqttds/mqtt"
)

// loop reads and handles packets until the connection ends. Nothing from
// the client for 1.5 × keep alive ends it [MQTT-3.1.2-22] v5.
//
// The loop parks in awaitPacket, a shallow call; the packet itself, a large
// struct, lives only in the frame of next.
func (c *conn) loop() error {
	deadline := c.keepAlive * 3 / 2
	for {
		if err := c.awaitPacket(deadline); err != nil {
			return err
		}
		if err := c.next(); err != nil {
			return err
		}
	}
}

// next reads and handles the packet awaitPacket announced.
func (c *conn) next() error {
	p, err := c.readRest()
	if err != nil {
		return err
	}
	return c.handle(&p)
}

// handle dispatches one packet of a connected client.
func (c *conn) handle(p *mqtt.Packet) error {
	switch p.Type {
	case mqtt.TypePublish:
		return c.onPublish(p)
	case mqtt.TypePuback:
		c.sess.puback(p.PacketID, p.ReasonCode)
	case mqtt.TypePubrec:
		c.onPubrec(p)
	case mqtt.TypePubrel:
		c.onPubrel(p)
	case mqtt.TypePubcomp:
		c.sess.pubcomp(p.PacketID)
	case mqtt.TypeSubscribe:
		return c.onSubscribe(p)
	case mqtt.TypeUnsubscribe:
		return c.onUnsubscribe(p)
	case mqtt.TypePingreq:
		c.sendAck(mqtt.TypePingresp, 0, 0)
	case mqtt.TypeDisconnect:
		return c.onDisconnect(p)
	case mqtt.TypeConnect:
		// [MQTT-3.1.0-2] v5: a second CONNECT is a Protocol Error.
		return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT-3.1.0-2", Version: c.version, Type: p.Type,
			Detail: "second CONNECT"}
	case mqtt.TypeAuth:
		// No Authentication Method was accepted at CONNECT, so the client
		// may send no AUTH [MQTT-4.12.0-7] v5.
		return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT-4.12.0-7", Version: c.version, Type: p.Type,
			Detail: "AUTH without an authentication method"}
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP: server-to-client packets.
		return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT5 §2.1.2", Version: c.version, Type: p.Type,
			Detail: p.Type.String() + " sent by a client"}
	}
	return nil
}

// onDisconnect handles the client's DISCONNECT. 0x00 deletes the Will
// [MQTT-3.1.2-10] v5; with any other code it is kept and published. A new Session
// Expiry Interval may be set, but not from zero [MQTT-3.14.2-2]-style
// protocol error (MQTT5 §3.14.2.2.2).
func (c *conn) onDisconnect(p *mqtt.Packet) error {
	if c.version == mqtt.V5 && p.Properties.Has(mqtt.PropSessionExpiry) {
		cur := c.sess.expiry()
		if cur == 0 && p.Properties.SessionExpiry != 0 {
			return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT5 §3.14.2.2.2", Version: c.version,
				Type: p.Type, Detail: "session expiry set on DISCONNECT after CONNECT had 0"}
		}
		c.sess.setExpiry(c.sessionExpiry(false, &p.Properties))
	}
	// Only a normal disconnection (0x00) deletes the Will; with 0x04 or an
	// error code it is published as after a network failure
	// [MQTT-3.1.2-8], [MQTT-3.14.4-3] v5. In 3.x every DISCONNECT deletes it
	// [MQTT-3.14.4-3] v3.1.1.
	if c.version != mqtt.V5 || p.ReasonCode == mqtt.Success {
		c.sess.takeWill()
	}
	c.setCause(CauseNormal)
	return errNormalDisconnect
}
