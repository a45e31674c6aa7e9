package mqtt_test

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	"github.com/mqttds/mqttds/mqtt"
)

// The benchmarks run our codec and paho.golang's side by side on the same bytes: a 64-byte
// MQTT 5 QoS 1 PUBLISH (the size of a typical sensor reading) and a PUBACK. Compare with
//
//	go test -run '^$' -bench . -benchmem ./mqtt

// benchPublish is 64 bytes on the wire: 2 fixed header, 22 topic name, 2 packet id, 1 property length,
// 37 payload.
var benchPublish = mqtt.Packet{Type: mqtt.TypePublish, QoS: 1, PacketID: 42, Topic: "sensors/room1/temp/c",
	Payload: []byte(`{"t":21.5,"h":40.1,"ts":173224000000}`)}

var benchPuback = mqtt.Packet{Type: mqtt.TypePuback, PacketID: 42}

// loopReader returns data over and over, so a benchmark reads a stream of identical packets.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func mustEncode(b *testing.B, p *mqtt.Packet) []byte {
	raw, err := mqtt.Encode(nil, p, mqtt.V5)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func benchRead(b *testing.B, p *mqtt.Packet) {
	raw := mustEncode(b, p)
	b.Run("mqttds", func(b *testing.B) {
		r := mqtt.NewReader(bufio.NewReaderSize(&loopReader{data: raw}, 4096), 1<<20)
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.ReadPacket(mqtt.V5); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho", func(b *testing.B) {
		r := bufio.NewReaderSize(&loopReader{data: raw}, 4096)
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := paho5.ReadPacket(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchWrite(b *testing.B, p *mqtt.Packet, paho paho5.Packet) {
	size, _ := mqtt.Size(p, mqtt.V5)
	b.Run("mqttds", func(b *testing.B) {
		w := mqtt.NewWriter(bufio.NewWriterSize(io.Discard, 4096), 0)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if err := w.WritePacket(p, mqtt.V5); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho", func(b *testing.B) {
		w := bufio.NewWriterSize(io.Discard, 4096)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := paho.WriteTo(w); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReadPublish64: decode a 64-byte QoS 1 PUBLISH from a buffered stream.
func BenchmarkReadPublish64(b *testing.B) { benchRead(b, &benchPublish) }

// BenchmarkReadPuback: decode a PUBACK from a buffered stream.
func BenchmarkReadPuback(b *testing.B) { benchRead(b, &benchPuback) }

// BenchmarkWritePublish64: encode a 64-byte QoS 1 PUBLISH onto a buffered stream.
func BenchmarkWritePublish64(b *testing.B) {
	benchWrite(b, &benchPublish, &paho5.Publish{Topic: benchPublish.Topic, Payload: benchPublish.Payload,
		QoS: 1, PacketID: 42, Properties: &paho5.Properties{}})
}

// BenchmarkWritePuback: encode a PUBACK onto a buffered stream.
func BenchmarkWritePuback(b *testing.B) {
	benchWrite(b, &benchPuback, &paho5.Puback{PacketID: 42, Properties: &paho5.Properties{}})
}

// BenchmarkDecodePublish64 decodes from a byte slice (no stream, packet aliases the input).
func BenchmarkDecodePublish64(b *testing.B) {
	raw := mustEncode(b, &benchPublish)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := mqtt.Decode(raw, mqtt.V5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePublish64 encodes into a reused byte slice.
func BenchmarkEncodePublish64(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = mqtt.Encode(buf[:0], &benchPublish, mqtt.V5); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchPacketIs64Bytes(t *testing.T) {
	raw, err := mqtt.Encode(nil, &benchPublish, mqtt.V5)
	if err != nil || len(raw) != 64 || !bytes.Equal(raw[:2], []byte{0x32, 62}) {
		t.Fatalf("benchmark PUBLISH is % x (%v)", raw, err)
	}
}
