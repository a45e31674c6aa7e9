// Package mqtttest holds the codec's golden table: raw bytes next to the Packet they decode to,
// every byte commented by field, and the malformed inputs next to the reason code and rule id they
// must be refused with. The same table drives the mqtt package's encode and decode tests, the
// server's tests over net.Pipe and the seed corpus of fuzz/mqtt.
package mqtttest

import (
	"github.com/mqttds/mqttds/mqtt"
)

// Case is one row of the golden table.
//
// A valid case has Packet and Raw: decoding Raw at Version gives Packet, and encoding Packet at
// Version gives Raw (or Canonical, when Raw is a legal but longer spelling that the encoder never
// writes). A failing case has Rule set: decoding Raw (or, when Raw is nil, encoding Packet) must fail
// with Code and Rule. MaxPacketSize, when set, is the Reader's limit.
type Case struct {
	Desc      string
	Version   mqtt.Version // the connection's protocol version
	Raw       []byte
	Packet    mqtt.Packet
	Canonical []byte // what Encode writes when it differs from Raw

	Code          mqtt.ReasonCode // failing cases: the reason code to send
	Rule          string          // failing cases: the rule id in the error
	MaxPacketSize int
}

// Fails reports whether the case is an error case.
func (c *Case) Fails() bool { return c.Rule != "" }

// ReadVersion is the version to decode Raw at: 0 for a CONNECT (it announces its own level).
func (c *Case) ReadVersion() mqtt.Version {
	if len(c.Raw) > 0 && mqtt.Type(c.Raw[0]>>4) == mqtt.TypeConnect {
		return 0
	}
	return c.Version
}

// Encoded is the byte string Encode must produce for a valid case.
func (c *Case) Encoded() []byte {
	if c.Canonical != nil {
		return c.Canonical
	}
	return c.Raw
}
