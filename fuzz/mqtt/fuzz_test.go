package mqttfuzz

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// versions maps the fuzzer's version byte to a protocol version; 0 reads a first packet.
var versions = [4]mqtt.Version{0, mqtt.V31, mqtt.V311, mqtt.V5}

func versionOf(b byte) mqtt.Version { return versions[b%4] }

// selector is the inverse of versionOf for seeds.
func selector(v mqtt.Version) byte {
	for i, x := range versions {
		if x == v {
			return byte(i)
		}
	}
	panic("unknown version")
}

// checkReencode encodes an accepted packet and checks that the bytes decode to the same packet.
func checkReencode(t *testing.T, p *mqtt.Packet, v mqtt.Version) {
	at := v
	if p.Type == mqtt.TypeConnect {
		at = p.Connect.ProtocolVersion
	}
	b, err := mqtt.Encode(nil, p, at)
	require.NoError(t, err, "accepted %s but cannot encode it", p)
	readAt := at
	if p.Type == mqtt.TypeConnect {
		readAt = 0
	}
	q, n, err := mqtt.Decode(b, readAt)
	require.NoError(t, err, "re-encoded %s does not decode: % x", p, b)
	require.Equal(t, len(b), n)
	require.Equal(t, *p, q, "re-encoded bytes % x", b)
}

// checkError checks the shape of a refusal: an I/O shortfall or a protocol *Error with a rule.
func checkError(t *testing.T, err error) {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	var e *mqtt.Error
	require.ErrorAs(t, err, &e)
	require.NotEmpty(t, e.Rule, "%v", err)
	require.True(t, e.Code.IsError(), "%v", err)
}

// FuzzDecode: Decode never panics; whatever it accepts re-encodes to bytes that decode to the same
// packet; whatever it refuses carries a failure reason code and a rule id; the Reader agrees with it.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, vb byte, data []byte) {
		v := versionOf(vb)
		p, n, err := mqtt.Decode(data, v)
		if err != nil {
			checkError(t, err)
			return
		}
		checkReencode(t, &p, v)
		r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(data[:n])), 0)
		q, err := r.ReadPacket(v)
		require.NoError(t, err)
		require.Equal(t, p, q)
	})
}

// readerLimit is the maximum packet size FuzzReader reads with.
const readerLimit = 512

// allocBound is what decoding a packet of at most readerLimit bytes may allocate: the body, and
// slices of decoded structures a few times the body's size (a 3-byte SUBSCRIBE entry becomes a
// 48-byte Subscription, doubled by append growth), plus fixed overhead.
const allocBound = 64*readerLimit + 16<<10

// FuzzReader reads packets one after another from a stream with a small maximum packet size:
// oversized packets are refused with PacketTooLarge, and reading never allocates beyond allocBound
// per packet, whatever the announced Remaining Length.
func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, vb byte, data []byte) {
		v := versionOf(vb)
		r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(data)), readerLimit)
		var before, after runtime.MemStats
		for i := 0; i < 8; i++ {
			runtime.ReadMemStats(&before)
			p, err := r.ReadPacket(v)
			runtime.ReadMemStats(&after)
			require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(allocBound))
			if err == io.EOF {
				return
			}
			if err != nil {
				checkError(t, err)
				return
			}
			size, serr := mqtt.Size(&p, v)
			if p.Type == mqtt.TypeConnect {
				size, serr = mqtt.Size(&p, 0)
			}
			require.NoError(t, serr)
			require.LessOrEqual(t, size, readerLimit+4, "an accepted packet re-encodes near its size")
			checkReencode(t, &p, v)
			if p.Type == mqtt.TypeConnect {
				v = p.Connect.ProtocolVersion
			}
		}
	})
}
