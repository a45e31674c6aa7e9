package mqtttest

import "github.com/mqttds/mqttds/mqtt"

const (
	v31  = mqtt.V31
	v311 = mqtt.V311
	v5   = mqtt.V5
)

// present builds a Properties.Present set.
func present(ids ...mqtt.PropID) mqtt.PropSet {
	var s mqtt.PropSet
	for _, id := range ids {
		s.Add(id)
	}
	return s
}

// userKV is the User Property k=v used by many cases.
var userKV = []mqtt.UserProperty{{Key: "k", Value: "v"}}

// Valid holds the golden cases that decode and encode: every packet type at 3.1.1 and 5.0, CONNECT
// at 3.1, and every MQTT 5 property at least once.
var Valid = []Case{
	// CONNECT
	{
		Desc:    "CONNECT 3.1 minimal",
		Version: v31,
		Raw: []byte{
			0x10, 0x12, // fixed header: CONNECT, remaining length 18
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
			0x03,       // protocol level 3
			0x02,       // connect flags: clean session
			0x00, 0x3C, // keep alive 60
			0x00, 0x04, 'c', 'l', 'i', '1', // client id "cli1"
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{
			ProtocolVersion: v31, CleanStart: true, KeepAlive: 60, ClientID: "cli1"}},
	},
	{
		Desc:    "CONNECT 3.1.1 will, user name, password",
		Version: v311,
		Raw: []byte{
			0x10, 0x22, // fixed header: CONNECT, remaining length 34
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0xEE,       // connect flags: user name, password, will retain, will qos1, will, clean session
			0x00, 0x1E, // keep alive 30
			0x00, 0x02, 'i', 'd', // client id "id"
			0x00, 0x03, 'w', '/', 't', // will topic "w/t"
			0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
			0x00, 0x04, 'u', 's', 'e', 'r', // user name "user"
			0x00, 0x02, 'p', 'w', // password "pw"
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{
			ProtocolVersion: v311, CleanStart: true, KeepAlive: 30, ClientID: "id",
			Will:         &mqtt.Will{QoS: 1, Retain: true, Topic: "w/t", Payload: []byte("bye")},
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pw")}},
	},
	{
		Desc:    "CONNECT 3.1.1 persistent session, empty user name",
		Version: v311,
		Raw: []byte{
			0x10, 0x10, // fixed header: CONNECT, remaining length 16
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x80,       // connect flags: user name (clean session 0)
			0x00, 0x00, // keep alive 0
			0x00, 0x02, 'c', '2', // client id "c2"
			0x00, 0x00, // user name ""
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{
			ProtocolVersion: v311, ClientID: "c2", UsernameFlag: true}},
	},
	{
		Desc:    "CONNECT 5.0 minimal, empty client id",
		Version: v5,
		Raw: []byte{
			0x10, 0x0D, // fixed header: CONNECT, remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // client id ""
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: v5, CleanStart: true}},
	},
	{
		Desc:    "CONNECT 5.0 every CONNECT and Will property",
		Version: v5,
		Raw: []byte{
			0x10, 0x71, // fixed header: CONNECT, remaining length 113
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0xC6,       // connect flags: user name, password, will (qos0), clean start
			0x00, 0x0A, // keep alive 10
			0x28,                         // property length 40
			0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method "SCRAM"
			0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
			0x17, 0x00, // request problem information 0 (explicit)
			0x19, 0x01, // request response information 1
			0x21, 0x00, 0x14, // receive maximum 20
			0x22, 0x00, 0x05, // topic alias maximum 5
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x27, 0x00, 0x00, 0x10, 0x00, // maximum packet size 4096
			0x00, 0x03, 'c', '5', 'a', // client id "c5a"
			0x27,       // will property length 39
			0x01, 0x01, // payload format indicator 1 (UTF-8)
			0x02, 0x00, 0x00, 0x00, 0x78, // message expiry interval 120
			0x03, 0x00, 0x04, 't', 'e', 'x', 't', // content type "text"
			0x08, 0x00, 0x05, 'r', 'e', 'p', 'l', 'y', // response topic "reply"
			0x09, 0x00, 0x02, 0xCA, 0xFE, // correlation data CA FE
			0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
			0x00, 0x04, 'l', 'a', 's', 't', // will topic "last"
			0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
			0x00, 0x01, 'u', // user name "u"
			0x00, 0x01, 'p', // password "p"
		},
		Packet: mqtt.Packet{
			Type: mqtt.TypeConnect,
			Connect: &mqtt.Connect{
				ProtocolVersion: v5, CleanStart: true, KeepAlive: 10, ClientID: "c5a",
				Will: &mqtt.Will{Topic: "last", Payload: []byte("bye"), Properties: mqtt.Properties{
					PayloadFormat: 1, MessageExpiry: 120, ContentType: "text", ResponseTopic: "reply",
					CorrelationData: []byte{0xCA, 0xFE}, WillDelay: 5,
					User: []mqtt.UserProperty{{Key: "a", Value: "b"}}}},
				UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")},
			Properties: mqtt.Properties{
				Present:       present(mqtt.PropRequestProblemInfo),
				SessionExpiry: 3600, AuthMethod: "SCRAM", AuthData: []byte{1, 2},
				RequestResponseInfo: 1, ReceiveMaximum: 20, TopicAliasMaximum: 5, User: userKV,
				MaximumPacketSize: 4096},
		},
	},

	// CONNACK
	{
		Desc:    "CONNACK 3.1.1 accepted, session present",
		Version: v311,
		Raw: []byte{
			0x20, 0x02, // fixed header: CONNACK, remaining length 2
			0x01, // acknowledge flags: session present
			0x00, // return code 0 accepted
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnack, SessionPresent: true},
	},
	{
		Desc:    "CONNACK 3.1.1 not authorized",
		Version: v311,
		Raw: []byte{
			0x20, 0x02, // fixed header: CONNACK, remaining length 2
			0x00, // acknowledge flags
			0x05, // return code 5 not authorized
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnack, ReasonCode: mqtt.NotAuthorized},
	},
	{
		Desc:    "CONNACK 3.1 identifier rejected",
		Version: v31,
		Raw: []byte{
			0x20, 0x02, // fixed header: CONNACK, remaining length 2
			0x00, // reserved
			0x02, // return code 2 identifier rejected
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnack, ReasonCode: mqtt.ClientIdentifierNotValid},
	},
	{
		Desc:    "CONNACK 3.1 reserved byte ignored",
		Version: v31,
		Raw: []byte{
			0x20, 0x02, // fixed header: CONNACK, remaining length 2
			0x01, // reserved in 3.1: no Session Present flag
			0x00, // return code 0 accepted
		},
		Packet:    mqtt.Packet{Type: mqtt.TypeConnack},
		Canonical: []byte{0x20, 0x02, 0x00, 0x00},
	},
	{
		Desc:    "CONNACK 5.0 every CONNACK property",
		Version: v5,
		Raw: []byte{
			0x20, 0x4C, // fixed header: CONNACK, remaining length 76
			0x00,                         // acknowledge flags
			0x00,                         // reason code success
			0x49,                         // property length 73
			0x11, 0x00, 0x00, 0x00, 0x3C, // session expiry interval 60
			0x12, 0x00, 0x04, 'a', 'u', 't', 'o', // assigned client identifier "auto"
			0x13, 0x00, 0x1E, // server keep alive 30
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method "SCRAM"
			0x16, 0x00, 0x01, 0x07, // authentication data 07
			0x1A, 0x00, 0x04, 'r', 'e', 's', 'p', // response information "resp"
			0x1C, 0x00, 0x03, 's', 'r', 'v', // server reference "srv"
			0x1F, 0x00, 0x02, 'o', 'k', // reason string "ok"
			0x21, 0x00, 0x0A, // receive maximum 10
			0x22, 0x00, 0x08, // topic alias maximum 8
			0x24, 0x01, // maximum qos 1
			0x25, 0x00, // retain available 0 (explicit)
			0x26, 0x00, 0x01, 'x', 0x00, 0x01, 'y', // user property x=y
			0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
			0x28, 0x00, // wildcard subscription available 0 (explicit)
			0x29, 0x00, // subscription identifier available 0 (explicit)
			0x2A, 0x01, // shared subscription available 1
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnack, Properties: mqtt.Properties{
			Present:       present(mqtt.PropRetainAvailable, mqtt.PropWildcardSubAvailable, mqtt.PropSubIDAvailable),
			SessionExpiry: 60, AssignedClientID: "auto", ServerKeepAlive: 30, AuthMethod: "SCRAM",
			AuthData: []byte{7}, ResponseInfo: "resp", ServerReference: "srv", ReasonString: "ok",
			ReceiveMaximum: 10, TopicAliasMaximum: 8, MaximumQoS: 1,
			User:              []mqtt.UserProperty{{Key: "x", Value: "y"}},
			MaximumPacketSize: 65536, SharedSubAvailable: 1}},
	},
	{
		Desc:    "CONNACK 5.0 not authorized",
		Version: v5,
		Raw: []byte{
			0x20, 0x03, // fixed header: CONNACK, remaining length 3
			0x00, // acknowledge flags
			0x87, // reason code not authorized
			0x00, // property length 0
		},
		Packet: mqtt.Packet{Type: mqtt.TypeConnack, ReasonCode: mqtt.NotAuthorized},
	},

	// PUBLISH
	{
		Desc:    "PUBLISH 3.1.1 qos0",
		Version: v311,
		Raw: []byte{
			0x30, 0x0A, // fixed header: PUBLISH qos0, remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic name "a/b"
			'h', 'e', 'l', 'l', 'o', // payload "hello"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Topic: "a/b", Payload: []byte("hello")},
	},
	{
		Desc:    "PUBLISH 3.1.1 qos1 dup retain",
		Version: v311,
		Raw: []byte{
			0x3B, 0x07, // fixed header: PUBLISH dup qos1 retain, remaining length 7
			0x00, 0x01, 't', // topic name "t"
			0x00, 0x0A, // packet identifier 10
			'x', 'y', // payload "xy"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Dup: true, QoS: 1, Retain: true, Topic: "t",
			PacketID: 10, Payload: []byte("xy")},
	},
	{
		Desc:    "PUBLISH 3.1.1 qos2 empty payload",
		Version: v311,
		Raw: []byte{
			0x34, 0x05, // fixed header: PUBLISH qos2, remaining length 5
			0x00, 0x01, 't', // topic name "t"
			0x12, 0x34, // packet identifier 0x1234
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, QoS: 2, Topic: "t", PacketID: 0x1234},
	},
	{
		Desc:    "PUBLISH 3.1.1 topic with BOM kept",
		Version: v311,
		Raw: []byte{
			0x30, 0x06, // fixed header: PUBLISH qos0, remaining length 6
			0x00, 0x04, 0xEF, 0xBB, 0xBF, 'a', // topic name U+FEFF "a" ([MQTT-1.5.3-3])
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Topic: "\uFEFFa"},
	},
	{
		Desc:    "PUBLISH 3.1 qos0",
		Version: v31,
		Raw: []byte{
			0x30, 0x04, // fixed header: PUBLISH qos0, remaining length 4
			0x00, 0x01, 'q', // topic name "q"
			'!', // payload "!"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Topic: "q", Payload: []byte("!")},
	},
	{
		Desc:    "PUBLISH 5.0 qos0 no properties",
		Version: v5,
		Raw: []byte{
			0x30, 0x08, // fixed header: PUBLISH qos0, remaining length 8
			0x00, 0x03, 'a', '/', 'b', // topic name "a/b"
			0x00,     // property length 0
			'h', 'i', // payload "hi"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Topic: "a/b", Payload: []byte("hi")},
	},
	{
		Desc:    "PUBLISH 5.0 qos1 every PUBLISH property",
		Version: v5,
		Raw: []byte{
			0x32, 0x3A, // fixed header: PUBLISH qos1, remaining length 58
			0x00, 0x03, 'a', '/', 'b', // topic name "a/b"
			0x00, 0x01, // packet identifier 1
			0x30,       // property length 48
			0x01, 0x01, // payload format indicator 1
			0x02, 0x00, 0x00, 0x00, 0x00, // message expiry interval 0 (explicit)
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // content type "json"
			0x08, 0x00, 0x03, 'r', '/', '1', // response topic "r/1"
			0x09, 0x00, 0x01, 0x2A, // correlation data 2A
			0x0B, 0x05, // subscription identifier 5
			0x0B, 0x80, 0x01, // subscription identifier 128
			0x23, 0x00, 0x03, // topic alias 3
			0x26, 0x00, 0x02, 'i', 'd', 0x00, 0x01, '7', // user property id=7
			0x26, 0x00, 0x02, 'i', 'd', 0x00, 0x01, '8', // user property id=8 (repeat, order kept)
			'{', '}', // payload "{}"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, QoS: 1, Topic: "a/b", PacketID: 1, Payload: []byte("{}"),
			Properties: mqtt.Properties{
				Present:       present(mqtt.PropMessageExpiry),
				PayloadFormat: 1, ContentType: "json", ResponseTopic: "r/1", CorrelationData: []byte{0x2A},
				SubscriptionIDs: []uint32{5, 128}, TopicAlias: 3,
				User: []mqtt.UserProperty{{Key: "id", Value: "7"}, {Key: "id", Value: "8"}}}},
	},
	{
		Desc:    "PUBLISH 5.0 empty topic with topic alias",
		Version: v5,
		Raw: []byte{
			0x30, 0x07, // fixed header: PUBLISH qos0, remaining length 7
			0x00, 0x00, // topic name "" (the alias names it)
			0x03,             // property length 3
			0x23, 0x00, 0x01, // topic alias 1
			'x', // payload "x"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePublish, Payload: []byte("x"),
			Properties: mqtt.Properties{TopicAlias: 1}},
	},

	// PUBACK, PUBREC, PUBREL, PUBCOMP
	{
		Desc:    "PUBACK 3.1.1",
		Version: v311,
		Raw: []byte{
			0x40, 0x02, // fixed header: PUBACK, remaining length 2
			0x00, 0x07, // packet identifier 7
		},
		Packet: mqtt.Packet{Type: mqtt.TypePuback, PacketID: 7},
	},
	{
		Desc:    "PUBREC 3.1.1",
		Version: v311,
		Raw: []byte{
			0x50, 0x02, // fixed header: PUBREC, remaining length 2
			0x00, 0x08, // packet identifier 8
		},
		Packet: mqtt.Packet{Type: mqtt.TypePubrec, PacketID: 8},
	},
	{
		Desc:    "PUBREL 3.1.1",
		Version: v311,
		Raw: []byte{
			0x62, 0x02, // fixed header: PUBREL (flags 0010), remaining length 2
			0x00, 0x09, // packet identifier 9
		},
		Packet: mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 9},
	},
	{
		Desc:    "PUBCOMP 3.1.1",
		Version: v311,
		Raw: []byte{
			0x70, 0x02, // fixed header: PUBCOMP, remaining length 2
			0x00, 0x0A, // packet identifier 10
		},
		Packet: mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: 10},
	},
	{
		Desc:    "PUBACK 5.0 short form",
		Version: v5,
		Raw: []byte{
			0x40, 0x02, // fixed header: PUBACK, remaining length 2 (reason 0x00, no properties)
			0x00, 0x07, // packet identifier 7
		},
		Packet: mqtt.Packet{Type: mqtt.TypePuback, PacketID: 7},
	},
	{
		Desc:    "PUBACK 5.0 reason code, no properties",
		Version: v5,
		Raw: []byte{
			0x40, 0x03, // fixed header: PUBACK, remaining length 3
			0x00, 0x07, // packet identifier 7
			0x10, // reason code no matching subscribers
		},
		Packet: mqtt.Packet{Type: mqtt.TypePuback, PacketID: 7, ReasonCode: mqtt.NoMatchingSubscribers},
	},
	{
		Desc:    "PUBACK 5.0 success spelled out",
		Version: v5,
		Raw: []byte{
			0x40, 0x04, // fixed header: PUBACK, remaining length 4
			0x00, 0x07, // packet identifier 7
			0x00, // reason code success
			0x00, // property length 0
		},
		Packet:    mqtt.Packet{Type: mqtt.TypePuback, PacketID: 7},
		Canonical: []byte{0x40, 0x02, 0x00, 0x07},
	},
	{
		Desc:    "PUBREC 5.0 reason string and user property",
		Version: v5,
		Raw: []byte{
			0x50, 0x11, // fixed header: PUBREC, remaining length 17
			0x00, 0x08, // packet identifier 8
			0x80,                            // reason code unspecified error
			0x0D,                            // property length 13
			0x1F, 0x00, 0x03, 'b', 'a', 'd', // reason string "bad"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		},
		Packet: mqtt.Packet{Type: mqtt.TypePubrec, PacketID: 8, ReasonCode: mqtt.UnspecifiedError,
			Properties: mqtt.Properties{ReasonString: "bad", User: userKV}},
	},
	{
		Desc:    "PUBREL 5.0 packet identifier not found",
		Version: v5,
		Raw: []byte{
			0x62, 0x03, // fixed header: PUBREL (flags 0010), remaining length 3
			0x00, 0x09, // packet identifier 9
			0x92, // reason code packet identifier not found
		},
		Packet: mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 9, ReasonCode: mqtt.PacketIdentifierNotFound},
	},
	{
		Desc:    "PUBCOMP 5.0 reason string",
		Version: v5,
		Raw: []byte{
			0x70, 0x09, // fixed header: PUBCOMP, remaining length 9
			0x00, 0x0A, // packet identifier 10
			0x00,                       // reason code success
			0x05,                       // property length 5
			0x1F, 0x00, 0x02, 'o', 'k', // reason string "ok"
		},
		Packet: mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: 10, Properties: mqtt.Properties{ReasonString: "ok"}},
	},

	// SUBSCRIBE, SUBACK
	{
		Desc:    "SUBSCRIBE 3.1.1 two filters",
		Version: v311,
		Raw: []byte{
			0x82, 0x0C, // fixed header: SUBSCRIBE (flags 0010), remaining length 12
			0x00, 0x0B, // packet identifier 11
			0x00, 0x03, 'a', '/', '#', // topic filter "a/#"
			0x01,            // requested qos 1
			0x00, 0x01, 'b', // topic filter "b"
			0x02, // requested qos 2
		},
		Packet: mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: 11, Subscriptions: []mqtt.Subscription{
			{Filter: "a/#", QoS: 1}, {Filter: "b", QoS: 2}}},
	},
	{
		Desc:    "SUBSCRIBE 5.0 subscription identifier and every option",
		Version: v5,
		Raw: []byte{
			0x82, 0x1F, // fixed header: SUBSCRIBE (flags 0010), remaining length 31
			0x00, 0x0C, // packet identifier 12
			0x09,       // property length 9
			0x0B, 0x2A, // subscription identifier 42
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x03, 'a', '/', '+', // topic filter "a/+"
			0x2D,                                                         // options: retain handling 2, retain as published, no local, qos1
			0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', // topic filter "$share/g/t"
			0x12, // options: retain handling 1, qos2
		},
		Packet: mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: 12,
			Properties: mqtt.Properties{SubscriptionIDs: []uint32{42}, User: userKV},
			Subscriptions: []mqtt.Subscription{
				{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/t", QoS: 2, RetainHandling: 1}}},
	},
	{
		Desc:    "SUBACK 3.1.1 granted and failure",
		Version: v311,
		Raw: []byte{
			0x90, 0x05, // fixed header: SUBACK, remaining length 5
			0x00, 0x0B, // packet identifier 11
			0x01, // return code granted qos1
			0x02, // return code granted qos2
			0x80, // return code failure
		},
		Packet: mqtt.Packet{Type: mqtt.TypeSuback, PacketID: 11, ReasonCodes: []mqtt.ReasonCode{
			mqtt.GrantedQoS1, mqtt.GrantedQoS2, mqtt.UnspecifiedError}},
	},
	{
		Desc:    "SUBACK 5.0 reason string and failure codes",
		Version: v5,
		Raw: []byte{
			0x90, 0x12, // fixed header: SUBACK, remaining length 18
			0x00, 0x0C, // packet identifier 12
			0x0C,                       // property length 12
			0x1F, 0x00, 0x02, 'n', 'o', // reason string "no"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x01, // reason code granted qos1
			0xA2, // reason code wildcard subscriptions not supported
			0x87, // reason code not authorized
		},
		Packet: mqtt.Packet{Type: mqtt.TypeSuback, PacketID: 12,
			Properties: mqtt.Properties{ReasonString: "no", User: userKV},
			ReasonCodes: []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.WildcardSubscriptionsNotSupported,
				mqtt.NotAuthorized}},
	},

	// UNSUBSCRIBE, UNSUBACK
	{
		Desc:    "UNSUBSCRIBE 3.1.1 two filters",
		Version: v311,
		Raw: []byte{
			0xA2, 0x0A, // fixed header: UNSUBSCRIBE (flags 0010), remaining length 10
			0x00, 0x0D, // packet identifier 13
			0x00, 0x03, 'a', '/', '#', // topic filter "a/#"
			0x00, 0x01, 'b', // topic filter "b"
		},
		Packet: mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 13, Filters: []string{"a/#", "b"}},
	},
	{
		Desc:    "UNSUBSCRIBE 5.0 user property",
		Version: v5,
		Raw: []byte{
			0xA2, 0x0D, // fixed header: UNSUBSCRIBE (flags 0010), remaining length 13
			0x00, 0x0E, // packet identifier 14
			0x07,                                   // property length 7
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x01, 'c', // topic filter "c"
		},
		Packet: mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: 14, Filters: []string{"c"},
			Properties: mqtt.Properties{User: userKV}},
	},
	{
		Desc:    "UNSUBACK 3.1.1",
		Version: v311,
		Raw: []byte{
			0xB0, 0x02, // fixed header: UNSUBACK, remaining length 2
			0x00, 0x0D, // packet identifier 13
		},
		Packet: mqtt.Packet{Type: mqtt.TypeUnsuback, PacketID: 13},
	},
	{
		Desc:    "UNSUBACK 5.0 reason codes",
		Version: v5,
		Raw: []byte{
			0xB0, 0x09, // fixed header: UNSUBACK, remaining length 9
			0x00, 0x0E, // packet identifier 14
			0x04,                  // property length 4
			0x1F, 0x00, 0x01, 'r', // reason string "r"
			0x00, // reason code success
			0x11, // reason code no subscription existed
		},
		Packet: mqtt.Packet{Type: mqtt.TypeUnsuback, PacketID: 14, Properties: mqtt.Properties{ReasonString: "r"},
			ReasonCodes: []mqtt.ReasonCode{mqtt.Success, mqtt.NoSubscriptionExisted}},
	},

	// PINGREQ, PINGRESP
	{
		Desc:    "PINGREQ 3.1.1",
		Version: v311,
		Raw:     []byte{0xC0, 0x00}, // fixed header: PINGREQ, remaining length 0
		Packet:  mqtt.Packet{Type: mqtt.TypePingreq},
	},
	{
		Desc:    "PINGRESP 3.1.1",
		Version: v311,
		Raw:     []byte{0xD0, 0x00}, // fixed header: PINGRESP, remaining length 0
		Packet:  mqtt.Packet{Type: mqtt.TypePingresp},
	},
	{
		Desc:    "PINGREQ 5.0",
		Version: v5,
		Raw:     []byte{0xC0, 0x00}, // fixed header: PINGREQ, remaining length 0
		Packet:  mqtt.Packet{Type: mqtt.TypePingreq},
	},
	{
		Desc:    "PINGRESP 5.0",
		Version: v5,
		Raw:     []byte{0xD0, 0x00}, // fixed header: PINGRESP, remaining length 0
		Packet:  mqtt.Packet{Type: mqtt.TypePingresp},
	},

	// DISCONNECT
	{
		Desc:    "DISCONNECT 3.1.1",
		Version: v311,
		Raw:     []byte{0xE0, 0x00}, // fixed header: DISCONNECT, remaining length 0
		Packet:  mqtt.Packet{Type: mqtt.TypeDisconnect},
	},
	{
		Desc:    "DISCONNECT 5.0 short form",
		Version: v5,
		Raw:     []byte{0xE0, 0x00}, // fixed header: DISCONNECT, remaining length 0 (normal disconnection)
		Packet:  mqtt.Packet{Type: mqtt.TypeDisconnect},
	},
	{
		Desc:    "DISCONNECT 5.0 with will, session expiry 0",
		Version: v5,
		Raw: []byte{
			0xE0, 0x07, // fixed header: DISCONNECT, remaining length 7
			0x04,                         // reason code disconnect with will message
			0x05,                         // property length 5
			0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0 (explicit)
		},
		Packet: mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.DisconnectWithWill,
			Properties: mqtt.Properties{Present: present(mqtt.PropSessionExpiry)}},
	},
	{
		Desc:    "DISCONNECT 5.0 use another server",
		Version: v5,
		Raw: []byte{
			0xE0, 0x16, // fixed header: DISCONNECT, remaining length 22
			0x9C,                            // reason code use another server
			0x14,                            // property length 20
			0x1C, 0x00, 0x03, 's', 'r', 'v', // server reference "srv"
			0x1F, 0x00, 0x04, 'm', 'o', 'v', 'e', // reason string "move"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		},
		Packet: mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.UseAnotherServer,
			Properties: mqtt.Properties{ServerReference: "srv", ReasonString: "move", User: userKV}},
	},
	{
		Desc:    "DISCONNECT 5.0 reason code only",
		Version: v5,
		Raw: []byte{
			0xE0, 0x01, // fixed header: DISCONNECT, remaining length 1
			0x8E, // reason code session taken over
		},
		Packet: mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.SessionTakenOver},
	},

	// AUTH
	{
		Desc:    "AUTH 5.0 short form",
		Version: v5,
		Raw:     []byte{0xF0, 0x00}, // fixed header: AUTH, remaining length 0 (success)
		Packet:  mqtt.Packet{Type: mqtt.TypeAuth},
	},
	{
		Desc:    "AUTH 5.0 continue authentication",
		Version: v5,
		Raw: []byte{
			0xF0, 0x1A, // fixed header: AUTH, remaining length 26
			0x18,                                      // reason code continue authentication
			0x18,                                      // property length 24
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method "SCRAM"
			0x16, 0x00, 0x02, 0xAB, 0xCD, // authentication data AB CD
			0x1F, 0x00, 0x01, 'c', // reason string "c"
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		},
		Packet: mqtt.Packet{Type: mqtt.TypeAuth, ReasonCode: mqtt.ContinueAuthentication,
			Properties: mqtt.Properties{AuthMethod: "SCRAM", AuthData: []byte{0xAB, 0xCD}, ReasonString: "c",
				User: userKV}},
	},
}
