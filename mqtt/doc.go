// Package mqtt is the MQTT 3.1, 3.1.1 and 5.0 packet codec: bytes in, packets out, and back. It
// imports nothing of mqttds and nothing of the network. Topic name and filter rules (wildcards,
// matching, shared subscriptions) live in package mqtt/topic; the codec checks only what a codec
// must (UTF-8, lengths, flags, identifiers, property placement and ranges).
//
// # Packets
//
// Every control packet is one Packet value whose Type says which it is; each field's comment names
// the types that use it. We chose one struct over fifteen types behind an interface because:
//
//   - a Packet is returned by value, so decoding needs no allocation for the packet itself (an
//     interface would box a pointer per packet), which is what makes a one-allocation PUBLISH
//     possible;
//   - one golden table, one random generator and one equality cover every type;
//   - the broker forwards and rewrites packets (a PUBLISH in, a PUBLISH out at another version)
//     by changing a few fields, not by converting between types.
//
// The cost is a 400-byte struct with fields that do not apply to every type. The
// encoder ignores fields that a type or version does not carry.
//
// Version: the same Packet is encoded and decoded at the protocol version negotiated by CONNECT
// (V31, V311, V5). CONNECT itself is read at version 0 and announces its own level
// (Connect.ProtocolVersion). Reason codes are always MQTT 5 values (ReasonCode); 3.x return codes
// are mapped on the wire (V3ConnackCode, V3SubackCode).
//
// # Errors
//
// A protocol violation is an *Error carrying the MQTT 5 reason code to send (MalformedPacket,
// ProtocolError, PacketTooLarge, TopicAliasInvalid, UnsupportedProtocolVersion, …) and the id of
// the broken statement, "[MQTT-x.y.z-n]" for the version read, or "MQTT5 §x.y.z" for unnumbered
// rules (ids as in the spec texts and our MQTT rules digest). ReasonCode itself implements error, and
// errors.Is(err, mqtt.MalformedPacket) works on an *Error.
//
// # Reading and writing
//
//	r := mqtt.NewReader(bufio.NewReader(conn), 1<<20)
//	p, err := r.ReadPacket(0) // CONNECT
//	v := p.Connect.ProtocolVersion
//	w := mqtt.NewWriter(bufio.NewWriter(conn), 0)
//	err = w.WritePacket(&mqtt.Packet{Type: mqtt.TypeConnack}, v)
//	err = w.Flush()
//	for {
//		p, err := r.ReadPacket(v)
//		...
//	}
//
// The Reader checks the maximum packet size before reading a body and copies each packet's bytes
// into one allocation of its own, so a decoded packet never aliases reader memory (see Reader).
// Decode decodes from a caller's buffer without copying; its packets alias that buffer. Encode
// appends to a caller's buffer; Writer keeps a reused one.
//
// # Concurrency
//
// A Reader or Writer belongs to one goroutine. Packets are plain values; decoded strings and byte
// slices must be treated as read-only (strings share memory with the slices of the same packet).
//
// # Wire format (MQTT 5.0 §2; 3.1.1 §2)
//
//	byte 1        | type (4 bits) | flags (4 bits: DUP, QoS×2, RETAIN for PUBLISH) |
//	bytes 2..5    | Remaining Length: Variable Byte Integer, 1–4 bytes, minimal      |
//	variable hdr  | packet identifier, reason code, (v5) Property Length + properties |
//	payload       | per type                                                         |
package mqtt
