package mqttbench

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/listeners"
)

// startBroker runs mqttds's broker in this process on a free loopback port and returns the port.
func startBroker(t *testing.T) string {
	t.Helper()
	s, addr := newBroker(t, &server.Options{}, "127.0.0.1:0")
	t.Cleanup(func() { closeBroker(t, s) })
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// newBroker starts a broker with opts listening on addr and returns it with its address.
func newBroker(t *testing.T, opts *server.Options, addr string) (*server.Server, string) {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP("tcp", addr)
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s, l.Address()
}

func closeBroker(t *testing.T, s *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("closing the broker: %v", err)
	}
}

// TestRunDurableAgainstServer runs durable mode against the in-process broker with durable
// sessions in a temporary store, restarting the broker (a new Server on the same port and store)
// between publishing and reconnecting: every acknowledged message must reach the session, once.
func TestRunDurableAgainstServer(t *testing.T) {
	dir := t.TempDir()
	opts := func() *server.Options {
		return &server.Options{Durable: server.DurableOptions{Enable: true, Dir: dir, Storage: &ds.Options{NumShards: 2}}}
	}
	s, addr := newBroker(t, opts(), "127.0.0.1:0")
	defer func() { closeBroker(t, s) }()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"5", "3"} {
		cfg, err := ParseFlags("durable", []string{"-p", port, "-V", v, "--messages", "500", "--drain", "3s"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		restarts := 0
		cfg.restart = func(context.Context) error {
			closeBroker(t, s)
			s, _ = newBroker(t, opts(), addr)
			restarts++
			return nil
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := Run(ctx, cfg, &out)
		cancel()
		if err != nil {
			t.Fatalf("v%s: %v\n%s", v, err, out.String())
		}
		if d := res.Durable; restarts != 1 || d == nil || !d.Restarted || d.Acked != 500 || d.Delivered != 500 ||
			d.Duplicates != 0 || !d.SessionPresent {
			t.Errorf("v%s: unexpected result\n%s", v, out.String())
		}
	}
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
