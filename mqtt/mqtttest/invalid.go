package mqtttest

import "github.com/mqttds/mqttds/mqtt"

const (
	malformed = mqtt.MalformedPacket
	protoErr  = mqtt.ProtocolError
)

// Invalid holds the golden cases that must be refused, each with the reason code and rule id the
// error must carry. Cases with Raw are decoded; cases without Raw are encoded from Packet.
var Invalid = []Case{
	// Fixed header.
	{
		Desc: "reserved packet type 0", Version: v5, Code: malformed, Rule: "MQTT5 §2.1.2",
		Raw: []byte{0x00, 0x00}, // fixed header: type 0 (reserved), remaining length 0
	},
	{
		Desc: "AUTH does not exist in 3.1.1", Version: v311, Code: malformed, Rule: "MQTT311 §2.2.1",
		Raw: []byte{0xF0, 0x00}, // fixed header: type 15 (AUTH), remaining length 0
	},
	{
		Desc: "first packet is not CONNECT", Version: 0, Code: protoErr, Rule: "MQTT-3.1.0-1",
		Raw: []byte{0xC0, 0x00}, // fixed header: PINGREQ before CONNECT
	},
	{
		Desc: "PUBACK reserved flags 5.0", Version: v5, Code: malformed, Rule: "MQTT-2.1.3-1",
		Raw: []byte{
			0x41, 0x02, // fixed header: PUBACK with flags 0001, remaining length 2
			0x00, 0x01, // packet identifier 1
		},
	},
	{
		Desc: "PUBACK reserved flags 3.1.1", Version: v311, Code: malformed, Rule: "MQTT-2.2.2-1",
		Raw: []byte{
			0x48, 0x02, // fixed header: PUBACK with flags 1000, remaining length 2
			0x00, 0x01, // packet identifier 1
		},
	},
	{
		Desc: "PUBREL flags 0000", Version: v311, Code: malformed, Rule: "MQTT-3.6.1-1",
		Raw: []byte{
			0x60, 0x02, // fixed header: PUBREL with flags 0000, remaining length 2
			0x00, 0x01, // packet identifier 1
		},
	},
	{
		Desc: "SUBSCRIBE flags 0000", Version: v5, Code: malformed, Rule: "MQTT-3.8.1-1",
		Raw: []byte{
			0x80, 0x07, // fixed header: SUBSCRIBE with flags 0000, remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // topic filter "a"
			0x00, // options
		},
	},
	{
		Desc: "UNSUBSCRIBE flags 0011", Version: v311, Code: malformed, Rule: "MQTT-3.10.1-1",
		Raw: []byte{
			0xA3, 0x05, // fixed header: UNSUBSCRIBE with flags 0011, remaining length 5
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, 'a', // topic filter "a"
		},
	},
	{
		Desc: "DISCONNECT flags 0001", Version: v5, Code: malformed, Rule: "MQTT-3.14.1-1",
		Raw: []byte{0xE1, 0x00}, // fixed header: DISCONNECT with flags 0001
	},
	{
		Desc: "AUTH flags 0010", Version: v5, Code: malformed, Rule: "MQTT-3.15.1-1",
		Raw: []byte{0xF2, 0x00}, // fixed header: AUTH with flags 0010
	},
	{
		Desc: "PUBLISH QoS 3", Version: v5, Code: malformed, Rule: "MQTT-3.3.1-4",
		Raw: []byte{
			0x36, 0x06, // fixed header: PUBLISH qos3, remaining length 6
			0x00, 0x01, 't', // topic name "t"
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0
		},
	},
	{
		Desc: "PUBLISH DUP on QoS 0", Version: v311, Code: malformed, Rule: "MQTT-3.3.1-2",
		Raw: []byte{
			0x38, 0x03, // fixed header: PUBLISH dup qos0, remaining length 3
			0x00, 0x01, 't', // topic name "t"
		},
	},
	{
		Desc: "remaining length of 5 bytes", Version: v5, Code: malformed, Rule: "MQTT5 §1.5.5",
		Raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, // fixed header: PUBLISH, 5 length bytes
	},
	{
		Desc: "remaining length not minimal", Version: v311, Code: malformed, Rule: "MQTT-1.5.5-1",
		Raw: []byte{0xC0, 0x80, 0x00}, // fixed header: PINGREQ, remaining length 0 in two bytes
	},
	{
		Desc: "packet over the maximum size", Version: v5, Code: mqtt.PacketTooLarge,
		Rule: "MQTT5 §3.2.2.3.6", MaxPacketSize: 8,
		Raw: []byte{
			0x30, 0x07, // fixed header: PUBLISH qos0, remaining length 7: 9 bytes in all
			0x00, 0x01, 't', // topic name "t"
			0x00,          // property length 0
			'a', 'b', 'c', // payload "abc"
		},
	},
	{
		Desc: "hostile 256 MB remaining length", Version: v5, Code: mqtt.PacketTooLarge,
		Rule: "MQTT5 §3.2.2.3.6", MaxPacketSize: 1 << 20,
		Raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, // fixed header: PUBLISH, remaining length 268,435,455; no body
	},
	{
		Desc: "PINGREQ with a body", Version: v311, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{0xC0, 0x01, 0x00}, // fixed header: PINGREQ, remaining length 1; a stray byte
	},
	{
		Desc: "PINGRESP with a long body", Version: v5, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{
			0xD0, 0x06, // fixed header: PINGRESP, remaining length 6
			1, 2, 3, 4, 5, 6, // six stray bytes (longer than any short acknowledgement)
		},
	},
	{
		Desc: "PUBACK 3.1.1 with a reason code", Version: v311, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{
			0x40, 0x03, // fixed header: PUBACK, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x10, // a 5.0 reason code, not part of 3.1.1
		},
	},
	{
		Desc: "string runs past the packet", Version: v311, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{
			0x30, 0x03, // fixed header: PUBLISH qos0, remaining length 3
			0x00, 0x05, 't', // topic name claims 5 bytes, 1 follows
		},
	},

	// CONNECT.
	{
		Desc: "CONNECT unknown protocol name", Version: 0, Code: mqtt.UnsupportedProtocolVersion, Rule: "MQTT-3.1.2-1",
		Raw: []byte{
			0x10, 0x0C, // fixed header: CONNECT, remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'X', // protocol name "MQTX"
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT unsupported protocol level", Version: 0, Code: mqtt.UnsupportedProtocolVersion, Rule: "MQTT-3.1.2-2",
		Raw: []byte{
			0x10, 0x0C, // fixed header: CONNECT, remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x06,       // protocol level 6
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT reserved flag", Version: 0, Code: malformed, Rule: "MQTT-3.1.2-3",
		Raw: []byte{
			0x10, 0x0D, // fixed header: CONNECT, remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x03,       // connect flags: clean start and the reserved bit
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT will QoS 3 5.0", Version: 0, Code: malformed, Rule: "MQTT-3.1.2-12",
		Raw: []byte{
			0x10, 0x14, // fixed header: CONNECT, remaining length 20
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x1E,       // connect flags: will qos 3, will, clean start
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // client id ""
			0x00,            // will property length 0
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x01, 'x', // will payload "x"
		},
	},
	{
		Desc: "CONNECT will QoS 3 3.1.1", Version: 0, Code: malformed, Rule: "MQTT-3.1.2-14",
		Raw: []byte{
			0x10, 0x12, // fixed header: CONNECT, remaining length 18
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x1E,       // connect flags: will qos 3, will, clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client id ""
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x01, 'x', // will payload "x"
		},
	},
	{
		Desc: "CONNECT will QoS without will flag", Version: 0, Code: malformed, Rule: "MQTT-3.1.2-11",
		Raw: []byte{
			0x10, 0x0D, // fixed header: CONNECT, remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x0A,       // connect flags: will qos 1 without will, clean start
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT will retain without will flag", Version: 0, Code: malformed, Rule: "MQTT-3.1.2-15",
		Raw: []byte{
			0x10, 0x0C, // fixed header: CONNECT, remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x22,       // connect flags: will retain without will, clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT 3.1.1 password without user name", Version: 0, Code: malformed, Rule: "MQTT-3.1.2-22",
		Raw: []byte{
			0x10, 0x0F, // fixed header: CONNECT, remaining length 15
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x42,       // connect flags: password, clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client id ""
			0x00, 0x01, 'p', // password "p"
		},
	},
	{
		Desc: "CONNECT 3.1.1 empty client id, persistent session", Version: 0,
		Code: mqtt.ClientIdentifierNotValid, Rule: "MQTT-3.1.3-8",
		Raw: []byte{
			0x10, 0x0C, // fixed header: CONNECT, remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x00,       // connect flags: clean session 0
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT client id not UTF-8 3.1.1", Version: 0, Code: malformed, Rule: "MQTT-1.5.3-1",
		Raw: []byte{
			0x10, 0x0E, // fixed header: CONNECT, remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x02, 0xC3, 0x28, // client id: C3 28 is not UTF-8
		},
	},
	{
		Desc: "CONNECT receive maximum 0", Version: 0, Code: protoErr, Rule: "MQTT5 §3.1.2.11",
		Raw: []byte{
			0x10, 0x10, // fixed header: CONNECT, remaining length 16
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x03,             // property length 3
			0x21, 0x00, 0x00, // receive maximum 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT maximum packet size 0", Version: 0, Code: protoErr, Rule: "MQTT5 §3.1.2.11",
		Raw: []byte{
			0x10, 0x12, // fixed header: CONNECT, remaining length 18
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x05,                         // property length 5
			0x27, 0x00, 0x00, 0x00, 0x00, // maximum packet size 0
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT request problem information 2", Version: 0, Code: protoErr, Rule: "MQTT5 §3.1.2.11",
		Raw: []byte{
			0x10, 0x0F, // fixed header: CONNECT, remaining length 15
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x02,       // property length 2
			0x17, 0x02, // request problem information 2
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT authentication data without method", Version: 0, Code: protoErr, Rule: "MQTT5 §3.1.2.11",
		Raw: []byte{
			0x10, 0x11, // fixed header: CONNECT, remaining length 17
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x04,                   // property length 4
			0x16, 0x00, 0x01, 0x09, // authentication data 09
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT session expiry twice", Version: 0, Code: protoErr, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x10, 0x17, // fixed header: CONNECT, remaining length 23
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x0A,                         // property length 10
			0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval 1
			0x11, 0x00, 0x00, 0x00, 0x02, // session expiry interval 2: duplicate
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT topic alias is not a CONNECT property", Version: 0, Code: malformed, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x10, 0x10, // fixed header: CONNECT, remaining length 16
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x03,             // property length 3
			0x23, 0x00, 0x01, // topic alias 1: not allowed in CONNECT
			0x00, 0x00, // client id ""
		},
	},
	{
		Desc: "CONNECT session expiry is not a Will property", Version: 0, Code: malformed, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x10, 0x19, // fixed header: CONNECT, remaining length 25
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x06,       // connect flags: will (qos0), clean start
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // client id ""
			0x05,                         // will property length 5
			0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval: not allowed in Will Properties
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x01, 'x', // will payload "x"
		},
	},

	// CONNACK.
	{
		Desc: "CONNACK reserved acknowledge flags", Version: v5, Code: malformed, Rule: "MQTT-3.2.2-1",
		Raw: []byte{
			0x20, 0x03, // fixed header: CONNACK, remaining length 3
			0x02, // acknowledge flags: reserved bit 1
			0x00, // reason code success
			0x00, // property length 0
		},
	},
	{
		Desc: "CONNACK 3.1.1 return code 6", Version: v311, Code: malformed, Rule: "MQTT311 §3.2.2.3",
		Raw: []byte{
			0x20, 0x02, // fixed header: CONNACK, remaining length 2
			0x00, // acknowledge flags
			0x06, // return code 6: reserved
		},
	},
	{
		Desc: "CONNACK session present with a failure", Version: v5, Code: protoErr, Rule: "MQTT-3.2.2-6",
		Raw: []byte{
			0x20, 0x03, // fixed header: CONNACK, remaining length 3
			0x01, // acknowledge flags: session present
			0x87, // reason code not authorized
			0x00, // property length 0
		},
	},
	{
		Desc: "CONNACK reason code not for CONNACK", Version: v5, Code: protoErr, Rule: "MQTT-3.2.2-8",
		Raw: []byte{
			0x20, 0x03, // fixed header: CONNACK, remaining length 3
			0x00, // acknowledge flags
			0x10, // reason code no matching subscribers: a PUBACK code
			0x00, // property length 0
		},
	},
	{
		Desc: "CONNACK maximum QoS 2", Version: v5, Code: protoErr, Rule: "MQTT5 §3.2.2.3",
		Raw: []byte{
			0x20, 0x05, // fixed header: CONNACK, remaining length 5
			0x00,       // acknowledge flags
			0x00,       // reason code success
			0x02,       // property length 2
			0x24, 0x02, // maximum qos 2: only 0 or 1 may be sent
		},
	},

	// PUBLISH.
	{
		Desc: "PUBLISH topic with a surrogate", Version: v5, Code: malformed, Rule: "MQTT-1.5.4-1",
		Raw: []byte{
			0x30, 0x06, // fixed header: PUBLISH qos0, remaining length 6
			0x00, 0x03, 0xED, 0xA0, 0x80, // topic name: U+D800 encoded
			0x00, // property length 0
		},
	},
	{
		Desc: "PUBLISH topic with U+0000 5.0", Version: v5, Code: malformed, Rule: "MQTT-1.5.4-2",
		Raw: []byte{
			0x30, 0x06, // fixed header: PUBLISH qos0, remaining length 6
			0x00, 0x03, 'a', 0x00, 'b', // topic name "a\x00b"
			0x00, // property length 0
		},
	},
	{
		Desc: "PUBLISH topic with U+0000 3.1.1", Version: v311, Code: malformed, Rule: "MQTT-1.5.3-2",
		Raw: []byte{
			0x30, 0x04, // fixed header: PUBLISH qos0, remaining length 4
			0x00, 0x02, 0x00, 'b', // topic name "\x00b"
		},
	},
	{
		Desc: "PUBLISH QoS 1 packet identifier 0 5.0", Version: v5, Code: protoErr, Rule: "MQTT-2.2.1-3",
		Raw: []byte{
			0x32, 0x06, // fixed header: PUBLISH qos1, remaining length 6
			0x00, 0x01, 't', // topic name "t"
			0x00, 0x00, // packet identifier 0
			0x00, // property length 0
		},
	},
	{
		Desc: "PUBLISH QoS 2 packet identifier 0 3.1.1", Version: v311, Code: protoErr, Rule: "MQTT-2.3.1-1",
		Raw: []byte{
			0x34, 0x05, // fixed header: PUBLISH qos2, remaining length 5
			0x00, 0x01, 't', // topic name "t"
			0x00, 0x00, // packet identifier 0
		},
	},
	{
		Desc: "PUBLISH topic alias 0", Version: v5, Code: mqtt.TopicAliasInvalid, Rule: "MQTT5 §3.3.4",
		Raw: []byte{
			0x30, 0x07, // fixed header: PUBLISH qos0, remaining length 7
			0x00, 0x01, 't', // topic name "t"
			0x03,             // property length 3
			0x23, 0x00, 0x00, // topic alias 0
		},
	},
	{
		Desc: "PUBLISH empty topic without alias 5.0", Version: v5, Code: protoErr, Rule: "MQTT5 §3.3.2.1",
		Raw: []byte{
			0x30, 0x03, // fixed header: PUBLISH qos0, remaining length 3
			0x00, 0x00, // topic name ""
			0x00, // property length 0
		},
	},
	{
		Desc: "PUBLISH empty topic 3.1.1", Version: v311, Code: protoErr, Rule: "MQTT-4.7.3-1",
		Raw: []byte{
			0x30, 0x03, // fixed header: PUBLISH qos0, remaining length 3
			0x00, 0x00, // topic name ""
			'x', // payload "x"
		},
	},
	{
		Desc: "PUBLISH subscription identifier 0", Version: v5, Code: protoErr, Rule: "MQTT5 §3.3.2.3.8",
		Raw: []byte{
			0x30, 0x06, // fixed header: PUBLISH qos0, remaining length 6
			0x00, 0x01, 't', // topic name "t"
			0x02,       // property length 2
			0x0B, 0x00, // subscription identifier 0
		},
	},
	{
		Desc: "PUBLISH payload format indicator 2", Version: v5, Code: protoErr, Rule: "MQTT5 §3.3.2.3.2",
		Raw: []byte{
			0x30, 0x06, // fixed header: PUBLISH qos0, remaining length 6
			0x00, 0x01, 't', // topic name "t"
			0x02,       // property length 2
			0x01, 0x02, // payload format indicator 2
		},
	},
	{
		Desc: "PUBLISH topic alias twice", Version: v5, Code: protoErr, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x30, 0x0A, // fixed header: PUBLISH qos0, remaining length 10
			0x00, 0x01, 't', // topic name "t"
			0x06,             // property length 6
			0x23, 0x00, 0x01, // topic alias 1
			0x23, 0x00, 0x02, // topic alias 2: duplicate
		},
	},
	{
		Desc: "PUBLISH reason string is not a PUBLISH property", Version: v5, Code: malformed, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x30, 0x08, // fixed header: PUBLISH qos0, remaining length 8
			0x00, 0x01, 't', // topic name "t"
			0x04,                  // property length 4
			0x1F, 0x00, 0x01, 'r', // reason string "r": not allowed in PUBLISH
		},
	},
	{
		Desc: "PUBLISH unknown property", Version: v5, Code: malformed, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x30, 0x06, // fixed header: PUBLISH qos0, remaining length 6
			0x00, 0x01, 't', // topic name "t"
			0x02,       // property length 2
			0x7F, 0x00, // property 0x7F: not defined
		},
	},
	{
		Desc: "PUBLISH property overruns its length", Version: v5, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{
			0x30, 0x08, // fixed header: PUBLISH qos0, remaining length 8
			0x00, 0x01, 't', // topic name "t"
			0x02,             // property length 2, but the property takes 3
			0x23, 0x00, 0x01, // topic alias 1
			'x', // payload "x"
		},
	},
	{
		Desc: "PUBLISH user property not UTF-8", Version: v5, Code: malformed, Rule: "MQTT-1.5.7-1",
		Raw: []byte{
			0x30, 0x0B, // fixed header: PUBLISH qos0, remaining length 11
			0x00, 0x01, 't', // topic name "t"
			0x07,                                    // property length 7
			0x26, 0x00, 0x01, 0xFF, 0x00, 0x01, 'v', // user property: name FF is not UTF-8
		},
	},

	// Acknowledgements.
	{
		Desc: "PUBACK packet identifier 0", Version: v5, Code: protoErr, Rule: "MQTT-2.2.1-5",
		Raw: []byte{
			0x40, 0x02, // fixed header: PUBACK, remaining length 2
			0x00, 0x00, // packet identifier 0
		},
	},
	{
		Desc: "PUBACK reason code not for PUBACK", Version: v5, Code: protoErr, Rule: "MQTT-3.4.2-1",
		Raw: []byte{
			0x40, 0x03, // fixed header: PUBACK, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x92, // reason code packet identifier not found: a PUBREL/PUBCOMP code
		},
	},
	{
		Desc: "PUBREC reason code not for PUBREC", Version: v5, Code: protoErr, Rule: "MQTT-3.5.2-1",
		Raw: []byte{
			0x50, 0x03, // fixed header: PUBREC, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x04, // reason code disconnect with will
		},
	},
	{
		Desc: "PUBREL reason code not for PUBREL", Version: v5, Code: protoErr, Rule: "MQTT-3.6.2-1",
		Raw: []byte{
			0x62, 0x03, // fixed header: PUBREL, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x10, // reason code no matching subscribers
		},
	},
	{
		Desc: "PUBCOMP reason code not for PUBCOMP", Version: v5, Code: protoErr, Rule: "MQTT-3.7.2-1",
		Raw: []byte{
			0x70, 0x03, // fixed header: PUBCOMP, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x80, // reason code unspecified error
		},
	},

	// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
	{
		Desc: "SUBSCRIBE no filters 5.0", Version: v5, Code: protoErr, Rule: "MQTT-3.8.3-2",
		Raw: []byte{
			0x82, 0x03, // fixed header: SUBSCRIBE, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0
		},
	},
	{
		Desc: "SUBSCRIBE no filters 3.1.1", Version: v311, Code: protoErr, Rule: "MQTT-3.8.3-3",
		Raw: []byte{
			0x82, 0x02, // fixed header: SUBSCRIBE, remaining length 2
			0x00, 0x01, // packet identifier 1
		},
	},
	{
		Desc: "SUBSCRIBE packet identifier 0", Version: v311, Code: protoErr, Rule: "MQTT-2.3.1-1",
		Raw: []byte{
			0x82, 0x06, // fixed header: SUBSCRIBE, remaining length 6
			0x00, 0x00, // packet identifier 0
			0x00, 0x01, 'a', // topic filter "a"
			0x00, // requested qos 0
		},
	},
	{
		Desc: "SUBSCRIBE reserved option bits 5.0", Version: v5, Code: malformed, Rule: "MQTT-3.8.3-5",
		Raw: []byte{
			0x82, 0x07, // fixed header: SUBSCRIBE, remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // topic filter "a"
			0x40, // options: reserved bit 6
		},
	},
	{
		Desc: "SUBSCRIBE maximum QoS 3 5.0", Version: v5, Code: protoErr, Rule: "MQTT5 §3.8.3.1",
		Raw: []byte{
			0x82, 0x07, // fixed header: SUBSCRIBE, remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // topic filter "a"
			0x03, // options: qos 3
		},
	},
	{
		Desc: "SUBSCRIBE retain handling 3", Version: v5, Code: protoErr, Rule: "MQTT5 §3.8.3.1",
		Raw: []byte{
			0x82, 0x07, // fixed header: SUBSCRIBE, remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // topic filter "a"
			0x30, // options: retain handling 3
		},
	},
	{
		Desc: "SUBSCRIBE no local on a shared subscription", Version: v5, Code: protoErr, Rule: "MQTT-3.8.3-4",
		Raw: []byte{
			0x82, 0x10, // fixed header: SUBSCRIBE, remaining length 16
			0x00, 0x01, // packet identifier 1
			0x00,                                                         // property length 0
			0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', // topic filter "$share/g/t"
			0x04, // options: no local
		},
	},
	{
		Desc: "SUBSCRIBE 3.1.1 reserved bits", Version: v311, Code: malformed, Rule: "MQTT-3.8.3-4",
		Raw: []byte{
			0x82, 0x06, // fixed header: SUBSCRIBE, remaining length 6
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, 'a', // topic filter "a"
			0x04, // requested qos byte with reserved bit 2
		},
	},
	{
		Desc: "SUBSCRIBE two subscription identifiers", Version: v5, Code: protoErr, Rule: "MQTT5 §2.2.2.2",
		Raw: []byte{
			0x82, 0x0B, // fixed header: SUBSCRIBE, remaining length 11
			0x00, 0x01, // packet identifier 1
			0x04,       // property length 4
			0x0B, 0x01, // subscription identifier 1
			0x0B, 0x02, // subscription identifier 2: duplicate
			0x00, 0x01, 'a', // topic filter "a"
			0x00, // options
		},
	},
	{
		Desc: "SUBSCRIBE filter not UTF-8", Version: v311, Code: malformed, Rule: "MQTT-1.5.3-1",
		Raw: []byte{
			0x82, 0x06, // fixed header: SUBSCRIBE, remaining length 6
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, 0x80, // topic filter: lone continuation byte
			0x00, // requested qos 0
		},
	},
	{
		Desc: "SUBACK 3.1.1 reason code 0x87", Version: v311, Code: protoErr, Rule: "MQTT-3.9.3-2",
		Raw: []byte{
			0x90, 0x03, // fixed header: SUBACK, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x87, // not a 3.1.1 return code
		},
	},
	{
		Desc: "SUBACK no reason codes", Version: v5, Code: protoErr, Rule: "MQTT-3.8.4-6",
		Raw: []byte{
			0x90, 0x03, // fixed header: SUBACK, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0
		},
	},
	{
		Desc: "UNSUBSCRIBE no filters", Version: v5, Code: protoErr, Rule: "MQTT-3.10.3-2",
		Raw: []byte{
			0xA2, 0x03, // fixed header: UNSUBSCRIBE, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0
		},
	},
	{
		Desc: "UNSUBACK reason code not for UNSUBACK", Version: v5, Code: protoErr, Rule: "MQTT-3.11.3-2",
		Raw: []byte{
			0xB0, 0x04, // fixed header: UNSUBACK, remaining length 4
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0
			0x02, // reason code granted qos 2: a SUBACK code
		},
	},
	{
		Desc: "UNSUBACK 3.1.1 with a payload", Version: v311, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{
			0xB0, 0x03, // fixed header: UNSUBACK, remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // 3.1.1 UNSUBACK has no payload
		},
	},

	// DISCONNECT, AUTH.
	{
		Desc: "DISCONNECT reason code not for DISCONNECT", Version: v5, Code: protoErr, Rule: "MQTT-3.14.2-1",
		Raw: []byte{
			0xE0, 0x01, // fixed header: DISCONNECT, remaining length 1
			0x10, // reason code no matching subscribers
		},
	},
	{
		Desc: "DISCONNECT 3.1.1 with a body", Version: v311, Code: malformed, Rule: "MQTT5 §2.1.4",
		Raw: []byte{
			0xE0, 0x01, // fixed header: DISCONNECT, remaining length 1
			0x00, // 3.1.1 DISCONNECT has no variable header
		},
	},
	{
		Desc: "AUTH without authentication method", Version: v5, Code: protoErr, Rule: "MQTT5 §3.15.2.2.2",
		Raw: []byte{
			0xF0, 0x02, // fixed header: AUTH, remaining length 2
			0x19, // reason code re-authenticate
			0x00, // property length 0: no authentication method
		},
	},
	{
		Desc: "encode AUTH without authentication method", Version: v5, Code: protoErr, Rule: "MQTT5 §3.15.2.2.2",
		Packet: mqtt.Packet{Type: mqtt.TypeAuth, ReasonCode: mqtt.ContinueAuthentication},
	},
	{
		Desc: "AUTH reason code not for AUTH", Version: v5, Code: protoErr, Rule: "MQTT-3.15.2-1",
		Raw: []byte{
			0xF0, 0x01, // fixed header: AUTH, remaining length 1
			0x80, // reason code unspecified error
		},
	},

	// Encoding refuses what would break a sender's rule.
	{
		Desc: "encode PUBLISH DUP on QoS 0", Version: v311, Code: malformed, Rule: "MQTT-3.3.1-2",
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Dup: true, Topic: "t"},
	},
	{
		Desc: "encode PUBLISH QoS 3", Version: v5, Code: malformed, Rule: "MQTT-3.3.1-4",
		Packet: mqtt.Packet{Type: mqtt.TypePublish, QoS: 3, PacketID: 1, Topic: "t"},
	},
	{
		Desc: "encode PUBLISH QoS 1 without packet identifier", Version: v5, Code: protoErr, Rule: "MQTT-2.2.1-3",
		Packet: mqtt.Packet{Type: mqtt.TypePublish, QoS: 1, Topic: "t"},
	},
	{
		Desc: "encode PUBLISH with a CONNACK property", Version: v5, Code: malformed, Rule: "MQTT5 §2.2.2.2",
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Topic: "t", Properties: mqtt.Properties{ServerKeepAlive: 5}},
	},
	{
		Desc: "encode PUBLISH explicit topic alias 0", Version: v5, Code: mqtt.TopicAliasInvalid, Rule: "MQTT5 §3.3.4",
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Topic: "t",
			Properties: mqtt.Properties{Present: present(mqtt.PropTopicAlias)}},
	},
	{
		Desc: "encode PUBACK with a SUBACK reason code", Version: v5, Code: protoErr, Rule: "MQTT-3.4.2-1",
		Packet: mqtt.Packet{Type: mqtt.TypePuback, PacketID: 1, ReasonCode: mqtt.GrantedQoS2},
	},
	{
		Desc: "encode SUBSCRIBE without filters", Version: v311, Code: protoErr, Rule: "MQTT-3.8.3-3",
		Packet: mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: 1},
	},
	{
		Desc: "encode UNSUBSCRIBE without filters", Version: v5, Code: protoErr, Rule: "MQTT-3.10.3-2",
		Packet: mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 1},
	},
	{
		Desc: "encode 3.1.1 CONNACK for a malformed CONNECT", Version: v311, Code: protoErr, Rule: "MQTT-3.2.2-6",
		Packet: mqtt.Packet{Type: mqtt.TypeConnack, ReasonCode: mqtt.MalformedPacket},
	},
	{
		Desc: "encode AUTH at 3.1.1", Version: v311, Code: malformed, Rule: "MQTT311 §2.2.1",
		Packet: mqtt.Packet{Type: mqtt.TypeAuth},
	},
}

// All returns the valid cases followed by the invalid ones.
func All() []Case {
	return append(append([]Case(nil), Valid...), Invalid...)
}
