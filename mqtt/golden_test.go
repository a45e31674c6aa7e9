package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/stretchr/testify/require"
)

// readOne decodes raw through a Reader, the way the broker does.
func readOne(raw []byte, v mqtt.Version, max int) (mqtt.Packet, error) {
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(raw)), max)
	p, err := r.ReadPacket(v)
	if err == nil {
		if _, extra := r.ReadPacket(v); extra != io.EOF {
			return p, errors.New("bytes left after the packet")
		}
	}
	return p, err
}

func TestGoldenDecode(t *testing.T) {
	for _, c := range mqtttest.Valid {
		t.Run(c.Desc, func(t *testing.T) {
			p, n, err := mqtt.Decode(c.Raw, c.ReadVersion())
			require.NoError(t, err)
			require.Equal(t, len(c.Raw), n)
			require.Equal(t, c.Packet, p)

			p, err = readOne(c.Raw, c.ReadVersion(), 0)
			require.NoError(t, err)
			require.Equal(t, c.Packet, p)
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, c := range mqtttest.Valid {
		t.Run(c.Desc, func(t *testing.T) {
			prefix := []byte("prefix")
			b, err := mqtt.Encode(append([]byte(nil), prefix...), &c.Packet, c.Version)
			require.NoError(t, err)
			require.Equal(t, prefix, b[:len(prefix)], "Encode appends")
			require.Equal(t, c.Encoded(), b[len(prefix):])

			n, err := mqtt.Size(&c.Packet, c.Version)
			require.NoError(t, err)
			require.Equal(t, len(c.Encoded()), n)

			var out bytes.Buffer
			w := mqtt.NewWriter(bufio.NewWriter(&out), 0)
			require.NoError(t, w.WritePacket(&c.Packet, c.Version))
			require.NoError(t, w.Flush())
			require.Equal(t, c.Encoded(), out.Bytes())
		})
	}
}

func TestGoldenErrors(t *testing.T) {
	for _, c := range mqtttest.Invalid {
		t.Run(c.Desc, func(t *testing.T) {
			var err error
			if c.Raw == nil {
				_, err = mqtt.Encode(nil, &c.Packet, c.Version)
				if err == nil {
					var out bytes.Buffer
					err = mqtt.NewWriter(bufio.NewWriter(&out), 0).WritePacket(&c.Packet, c.Version)
				}
			} else {
				_, err = readOne(c.Raw, c.ReadVersion(), c.MaxPacketSize)
				if c.MaxPacketSize == 0 {
					// Decode must agree with the Reader.
					_, _, derr := mqtt.Decode(c.Raw, c.ReadVersion())
					require.Equal(t, err, derr)
				}
			}
			var e *mqtt.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, c.Code, e.Code, "%v", err)
			require.Equal(t, c.Rule, e.Rule, "%v", err)
			require.ErrorIs(t, err, c.Code)
			require.Equal(t, c.Code, mqtt.Reason(err))
			require.Contains(t, err.Error(), c.Rule)
		})
	}
}
