package serverfuzz

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/listeners"
	"github.com/stretchr/testify/require"
)

// One broker serves every fuzz input: restarting it per input would spend
// the fuzzing time on setup, and a broker that survives thousands of bad
// clients in a row is the property we want anyway.
var (
	brokerOnce sync.Once
	broker     *listeners.Mock
	clientSeq  atomic.Int64
)

func mock(t testing.TB) *listeners.Mock {
	brokerOnce.Do(func() {
		s, err := server.New(&server.Options{
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
			IdleTimeout:   time.Second,
			MaxPacketSize: 64 << 10,
		})
		if err != nil {
			panic(err)
		}
		broker = listeners.NewMock("fuzz")
		if err := s.AddListener(broker); err != nil {
			panic(err)
		}
		if err := s.Start(); err != nil {
			panic(err)
		}
	})
	return broker
}

func versionOf(sel byte) mqtt.Version {
	if sel%2 == 0 {
		return mqtt.V311
	}
	return mqtt.V5
}

// session connects a client at v and returns the connection and a reader.
func session(t testing.TB, l *listeners.Mock, v mqtt.Version) (net.Conn, *mqtt.Reader) {
	nc, err := l.Dial()
	require.NoError(t, err)
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	id := fmt.Sprintf("fuzz-%d", clientSeq.Add(1))
	raw, err := mqtt.Encode(nil, &mqtt.Packet{Type: mqtt.TypeConnect,
		Connect: &mqtt.Connect{ProtocolVersion: v, ClientID: id, CleanStart: true}}, v)
	require.NoError(t, err)
	r := mqtt.NewReader(bufio.NewReader(nc), 0)
	go func() { _, _ = nc.Write(raw) }()
	ack, err := r.ReadPacket(v)
	require.NoError(t, err)
	require.Equal(t, mqtt.TypeConnack, ack.Type)
	require.Equal(t, mqtt.Success, ack.ReasonCode)
	return nc, r
}

// FuzzBrokerSession sends data after a successful CONNECT. Whatever the
// broker answers, it must keep serving: a fresh client connects and gets
// its PINGRESP.
func FuzzBrokerSession(f *testing.F) {
	for _, c := range mqtttest.All() {
		if c.Raw != nil && c.Version != 0 {
			f.Add(selector(c.Version), c.Raw)
		}
	}
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		l := mock(t)
		v := versionOf(sel)
		nc, r := session(t, l, v)
		// Drain whatever the broker sends back so its writer never blocks
		// on the synchronous pipe.
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for {
				if _, err := r.ReadPacket(v); err != nil {
					var me *mqtt.Error
					if errors.As(err, &me) {
						continue // the broker's reply may not decode as the client's version expects
					}
					return
				}
			}
		}()
		_, _ = nc.Write(data)
		_ = nc.SetDeadline(time.Now().Add(20 * time.Millisecond))
		<-drained
		nc.Close()

		ok, r2 := session(t, l, mqtt.V5)
		defer ok.Close()
		raw, _ := mqtt.Encode(nil, &mqtt.Packet{Type: mqtt.TypePingreq}, mqtt.V5)
		go func() { _, _ = ok.Write(raw) }()
		p, err := r2.ReadPacket(mqtt.V5)
		require.NoError(t, err)
		require.Equal(t, mqtt.TypePingresp, p.Type)
	})
}

func selector(v mqtt.Version) byte {
	if v == mqtt.V5 {
		return 1
	}
	return 0
}

// TestSeedCorpus writes the seed files when MQTTDS_WRITE_SEEDS=1, and
// otherwise checks that the committed corpus is there. It does not demand
// one file per golden case: the fuzz target adds the table's cases itself,
// so a case added to the table after the corpus was written is still run.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzBrokerSession")
	if os.Getenv("MQTTDS_WRITE_SEEDS") == "1" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, c := range mqtttest.All() {
			if c.Raw == nil || c.Version == 0 {
				continue
			}
			seed := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", selector(c.Version), c.Raw)
			require.NoError(t, os.WriteFile(filepath.Join(dir, seedName(c.Desc)), []byte(seed), 0o644))
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Greater(t, len(entries), 50, "seed corpus missing: run MQTTDS_WRITE_SEEDS=1 go test ./fuzz/server")
}

func seedName(desc string) string {
	return "golden-" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, desc)
}
