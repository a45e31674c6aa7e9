package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/stretchr/testify/require"
)

// allocatedBy returns the bytes allocated while f runs.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A hostile client announcing a 256 MB packet is refused from the fixed header alone, before any
// body byte is read or allocated (MQTT5 §3.2.2.3.6).
func TestReaderRefusesLargePacketBeforeAllocating(t *testing.T) {
	raw := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F} // PUBLISH, remaining length 268,435,455
	br := bufio.NewReader(bytes.NewReader(raw))
	r := mqtt.NewReader(br, 1<<20)
	var err error
	n := allocatedBy(func() { _, err = r.ReadPacket(mqtt.V5) })
	require.ErrorIs(t, err, mqtt.PacketTooLarge)
	// The error itself takes a few hundred bytes; the margin absorbs what the runtime allocates
	// meanwhile. Reading the body would take 256 MB.
	require.Less(t, n, uint64(64<<10), "allocated %d bytes", n)
}

// Without a configured limit the protocol maximum applies, but a peer that announces a huge body
// and sends little costs only about what it sent: the body buffer grows with the data.
func TestReaderGrowsLargeBodiesWithTheData(t *testing.T) {
	raw := append([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 't'}, make([]byte, 100_000)...)
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(raw)), 0)
	var err error
	n := allocatedBy(func() { _, err = r.ReadPacket(mqtt.V311) })
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, n, uint64(1<<20), "allocated %d bytes for 100 kB sent", n)
}

// A large packet that does arrive whole decodes normally through the chunked path.
func TestReaderLargePublish(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 kB
	p := mqtt.Packet{Type: mqtt.TypePublish, QoS: 1, PacketID: 3, Topic: "big", Payload: payload}
	raw, err := mqtt.Encode(nil, &p, mqtt.V5)
	require.NoError(t, err)
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(raw)), len(raw))
	got, err := r.ReadPacket(mqtt.V5)
	require.NoError(t, err)
	require.Equal(t, p, got)

	r = mqtt.NewReader(bufio.NewReader(bytes.NewReader(raw)), len(raw)-1)
	_, err = r.ReadPacket(mqtt.V5)
	require.ErrorIs(t, err, mqtt.PacketTooLarge)
}

// Decoded packets own their bytes: reading the next packet, which reuses the Reader's buffers,
// leaves earlier packets intact.
func TestReaderPacketsDoNotAliasReaderMemory(t *testing.T) {
	var stream bytes.Buffer
	var want []mqtt.Packet
	for _, c := range mqtttest.Valid {
		if c.Version == mqtt.V5 && c.Packet.Type != mqtt.TypeConnect {
			want = append(want, c.Packet)
			stream.Write(c.Encoded())
		}
	}
	r := mqtt.NewReader(bufio.NewReaderSize(&stream, 16), 0)
	var got []mqtt.Packet
	for {
		p, err := r.ReadPacket(mqtt.V5)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, p)
	}
	require.Equal(t, want, got)
}

// Every proper prefix of a valid packet ends in io.ErrUnexpectedEOF (io.EOF when empty), never in a
// protocol error or a panic.
func TestReaderTruncated(t *testing.T) {
	for _, c := range mqtttest.Valid {
		for n := 0; n < len(c.Raw); n++ {
			r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(c.Raw[:n])), 0)
			_, err := r.ReadPacket(c.ReadVersion())
			want := io.ErrUnexpectedEOF
			if n == 0 {
				want = io.EOF
			}
			require.ErrorIs(t, err, want, "%s cut at %d", c.Desc, n)
			_, _, err = mqtt.Decode(c.Raw[:n], c.ReadVersion())
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s cut at %d", c.Desc, n)
		}
	}
}

func TestReaderSetMaxPacketSize(t *testing.T) {
	raw := mqtttest.Valid[0].Raw // a 20-byte CONNECT
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(append(append([]byte{}, raw...), raw...))), 0)
	r.SetMaxPacketSize(len(raw))
	require.Equal(t, len(raw), r.MaxPacketSize())
	_, err := r.ReadPacket(0)
	require.NoError(t, err)
	r.SetMaxPacketSize(len(raw) - 1)
	_, err = r.ReadPacket(0)
	require.ErrorIs(t, err, mqtt.PacketTooLarge)
}

// The Writer refuses a packet larger than the peer's Maximum Packet Size ([MQTT-3.1.2-24] v5) and
// writes nothing for it.
func TestWriterMaxPacketSize(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w := mqtt.NewWriter(bw, 10)
	p := mqtt.Packet{Type: mqtt.TypePublish, Topic: "a/b", Payload: []byte("12345")} // 13 bytes at 5.0
	err := w.WritePacket(&p, mqtt.V5)
	var e *mqtt.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, mqtt.PacketTooLarge, e.Code)
	require.Equal(t, "MQTT-3.1.2-24", e.Rule)
	w.SetMaxPacketSize(13)
	require.NoError(t, w.WritePacket(&p, mqtt.V5))
	require.NoError(t, w.Flush())
	require.Equal(t, 13, out.Len())
}

// Writing the hot packets allocates nothing once the Writer is warm, nor does Encode into a buffer
// with room.
func TestWriterZeroAllocs(t *testing.T) {
	w := mqtt.NewWriter(bufio.NewWriter(io.Discard), 0)
	for _, p := range []*mqtt.Packet{&benchPublish, &benchPuback} {
		allocs := testing.AllocsPerRun(100, func() {
			if err := w.WritePacket(p, mqtt.V5); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "%s", p)
		buf := make([]byte, 0, 128)
		allocs = testing.AllocsPerRun(100, func() {
			var err error
			if buf, err = mqtt.Encode(buf[:0], p, mqtt.V5); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "Encode %s", p)
	}
}

// Reading a QoS 1 PUBLISH costs one allocation (topic and payload together), a PUBACK none.
func TestReaderAllocs(t *testing.T) {
	for _, c := range []struct {
		p      *mqtt.Packet
		allocs float64
	}{{&benchPublish, 1}, {&benchPuback, 0}} {
		raw, err := mqtt.Encode(nil, c.p, mqtt.V5)
		require.NoError(t, err)
		r := mqtt.NewReader(bufio.NewReader(&loopReader{data: raw}), 0)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := r.ReadPacket(mqtt.V5); err != nil {
				t.Fatal(err)
			}
		})
		require.Equal(t, c.allocs, allocs, "%s", c.p)
	}
}

// A DISCONNECT (or an acknowledgement) too large for the peer loses its Reason String, then its
// User Properties, before it is refused ([MQTT-3.14.2-3], [MQTT-3.14.2-4] v5); a PUBLISH never
// loses properties.
func TestWriterTrimsDiagnostics(t *testing.T) {
	p := mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.ServerShuttingDown,
		Properties: mqtt.Properties{ReasonString: "maintenance window until 06:00 UTC",
			User: []mqtt.UserProperty{{Key: "node", Value: "b"}}, ServerReference: "srv"}}
	orig := p
	write := func(max int) ([]byte, error) {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		err := mqtt.NewWriter(bw, max).WritePacket(&p, mqtt.V5)
		require.NoError(t, bw.Flush())
		return out.Bytes(), err
	}
	full, err := write(0)
	require.NoError(t, err)

	got, err := write(len(full) - 1)
	require.NoError(t, err)
	q, _, err := mqtt.Decode(got, mqtt.V5)
	require.NoError(t, err)
	require.Empty(t, q.Properties.ReasonString)
	require.Equal(t, orig.Properties.User, q.Properties.User)

	got, err = write(12)
	require.NoError(t, err)
	q, _, err = mqtt.Decode(got, mqtt.V5)
	require.NoError(t, err)
	require.Equal(t, mqtt.Packet{Type: mqtt.TypeDisconnect, ReasonCode: mqtt.ServerShuttingDown,
		Properties: mqtt.Properties{ServerReference: "srv"}}, q)

	_, err = write(8)
	require.ErrorIs(t, err, mqtt.PacketTooLarge)
	require.Equal(t, orig, p, "the caller's packet is not modified")

	pub := mqtt.Packet{Type: mqtt.TypePublish, Topic: "t", Properties: mqtt.Properties{User: orig.Properties.User}}
	size, err := mqtt.Size(&pub, mqtt.V5)
	require.NoError(t, err)
	err = mqtt.NewWriter(bufio.NewWriter(io.Discard), size-1).WritePacket(&pub, mqtt.V5)
	require.ErrorIs(t, err, mqtt.PacketTooLarge)
}
