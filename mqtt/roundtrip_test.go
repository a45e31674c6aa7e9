package mqtt_test

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/stretchr/testify/require"
)

// roundTripSeed returns MQTTDS_SEED if set, else a seed from the clock; the test logs it so a
// failure can be replayed.
func roundTripSeed(t *testing.T) uint64 {
	if s := os.Getenv("MQTTDS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// TestRoundTrip checks decode(encode(p)) == p for generated packets of every type at every version,
// through Encode/Decode and through Writer/Reader on one stream. MQTTDS_ROUNDTRIP_N raises the
// count for long runs.
func TestRoundTrip(t *testing.T) {
	seed := roundTripSeed(t)
	t.Logf("seed %d (rerun with MQTTDS_SEED=%d)", seed, seed)
	n := 3000
	if s := os.Getenv("MQTTDS_ROUNDTRIP_N"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			g := mqtttest.NewGenerator(seed+uint64(v), v)
			var stream bytes.Buffer
			w := mqtt.NewWriter(bufio.NewWriter(&stream), 0)
			sent := make([]mqtt.Packet, 0, n)
			seen := map[mqtt.Type]bool{}
			for i := 0; i < n; i++ {
				p := g.Packet()
				seen[p.Type] = true
				b, err := mqtt.Encode(nil, &p, v)
				require.NoError(t, err, "packet %d: %s", i, p.String())
				size, err := mqtt.Size(&p, v)
				require.NoError(t, err)
				require.Equal(t, len(b), size)
				readAt := v
				if p.Type == mqtt.TypeConnect {
					readAt = 0
				}
				got, m, err := mqtt.Decode(b, readAt)
				require.NoError(t, err, "packet %d: %s\n% x", i, p.String(), b)
				require.Equal(t, len(b), m)
				require.Equal(t, p, got, "packet %d\n% x", i, b)
				require.NoError(t, w.WritePacket(&p, v))
				sent = append(sent, p)
			}
			require.NoError(t, w.Flush())
			r := mqtt.NewReader(bufio.NewReaderSize(&stream, 64), 0)
			for i, want := range sent {
				readAt := v
				if want.Type == mqtt.TypeConnect {
					readAt = 0
				}
				got, err := r.ReadPacket(readAt)
				require.NoError(t, err, "packet %d", i)
				require.Equal(t, want, got, "packet %d", i)
			}
			wantTypes := 14
			if v == mqtt.V5 {
				wantTypes = 15
			}
			require.Len(t, seen, wantTypes, "every packet type generated")
		})
	}
}
