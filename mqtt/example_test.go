package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/mqttds/mqttds/mqtt"
)

// A broker's view of a connection: read CONNECT at version 0, answer at the version it announced,
// then read the session's packets at that version.
func Example() {
	// What a client sends: CONNECT (MQTT 5) then a QoS 1 PUBLISH.
	var wire bytes.Buffer
	client := mqtt.NewWriter(bufio.NewWriter(&wire), 0)
	_ = client.WritePacket(&mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ClientID: "probe",
		CleanStart: true, KeepAlive: 30}}, mqtt.V5)
	_ = client.WritePacket(&mqtt.Packet{Type: mqtt.TypePublish, QoS: mqtt.QoS1, PacketID: 1,
		Topic: "a/b", Payload: []byte("hello")}, mqtt.V5)
	_ = client.Flush()

	r := mqtt.NewReader(bufio.NewReader(&wire), 1<<20)
	connect, err := r.ReadPacket(0)
	if err != nil {
		panic(err)
	}
	v := connect.Connect.ProtocolVersion
	fmt.Println(connect.String())

	publish, err := r.ReadPacket(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(publish.String(), string(publish.Payload))
	// Output:
	// CONNECT v5.0 client="probe" keepalive=30 clean
	// PUBLISH qos1 id=1 topic="a/b" payload=5B hello
}

// A protocol violation carries the reason code to send back and the rule it breaks.
func ExampleError() {
	raw := []byte{0x36, 0x03, 0x00, 0x01, 't'} // PUBLISH with QoS 3
	_, _, err := mqtt.Decode(raw, mqtt.V311)
	var e *mqtt.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Rule)
	}
	fmt.Println(errors.Is(err, mqtt.MalformedPacket))
	fmt.Println(err)
	// Output:
	// Malformed Packet MQTT-3.3.1-4
	// true
	// mqtt: PUBLISH: QoS 3 [MQTT-3.3.1-4 v3.1.1]: Malformed Packet (0x81)
}

// A 3.1.1 client gets the 3.1.1 CONNACK return code for a v5 reason code.
func ExampleV3ConnackCode() {
	code, ok := mqtt.V3ConnackCode(mqtt.BadUserNameOrPassword)
	fmt.Println(code, ok)
	_, ok = mqtt.V3ConnackCode(mqtt.MalformedPacket)
	fmt.Println(ok) // close without CONNACK
	// Output:
	// 4 true
	// false
}
