package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/listeners"
)

// startBroker runs mqttds's broker in this process on a free loopback port and returns the port.
func startBroker(t *testing.T) string {
	t.Helper()
	s, err := server.New(&server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP("tcp", "127.0.0.1:0")
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("closing the broker: %v", err)
		}
	})
	_, port, err := net.SplitHostPort(l.Address())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestRunAgainstServer runs short benches against the in-process mqttds broker: exact accounting at
// QoS 0, 1 and 2 in both protocol versions, fan-in through a wildcard, and an offline session.
func TestRunAgainstServer(t *testing.T) {
	port := "-p " + startBroker(t) + " "
	for _, tc := range []struct {
		args           string
		sent, received int64
	}{
		{"-q 0 -V 5 -c 2 --subscribers 2 -L 200 --rate 2000", 400, 400}, // paced: QoS 0 must not drop
		{"-q 1 -V 5 -c 2 --subscribers 2 -L 300", 600, 600},
		{"-q 2 -V 3 -c 2 --subscribers 2 -L 300", 600, 600},
		{"-q 1 -V 3 -c 3 --subscribers 1 --sub-topic bench/# -L 200", 600, 600},
	} {
		res, out := runArgs(t, "pub", port+tc.args+" -d 20s --quiet")
		if res.Sent != tc.sent || res.Received != tc.received || res.Lost != 0 || res.Duplicates != 0 ||
			res.Latency.Count != tc.received {
			t.Errorf("%s: unexpected result\n%s", tc.args, out)
		}
	}
	res, out := runArgs(t, "durable", port+"--messages 300 --drain 2s")
	if d := res.Durable; d == nil || d.Acked != 300 || d.Delivered != 300 || !d.SessionPresent {
		t.Errorf("durable without restart: unexpected result\n%s", out)
	}
	res, out = runArgs(t, "conn", port+"-c 100 -d 500ms")
	if res.Connected != 100 || res.ConnectFailed != 0 {
		t.Errorf("conn: unexpected result\n%s", out)
	}
}
