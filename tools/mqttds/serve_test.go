package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttds/mqttds/ds"
	"github.com/stretchr/testify/require"
)

// buildBinary compiles the mqttds command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "mqttds")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// The built binary serves MQTT, and on SIGTERM tells a v5 client
// DISCONNECT 0x8B (Server shutting down) and exits 0.
func TestServe_SmokeAndShutdown(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--bind", addr, "--data-dir", filepath.Join(dir, "data"))
	// Storage options from the configuration must reach the store (checked after the exit).
	cmd.Env = append(os.Environ(), "MQTTDS_API_BIND="+freeAddr(t),
		"MQTTDS_DURABLE_STORAGE_MESSAGES_N_SHARDS=4",
		"MQTTDS_DURABLE_STORAGE_MESSAGES_LAYOUT_TYPE=reference")
	logs := startServe(t, cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	disconnected := roundTrip(ctx, t, nc, "smoke")
	require.DirExists(t, filepath.Join(dir, "data"))

	stopServe(ctx, t, cmd, logs, disconnected)

	db, err := ds.Open(filepath.Join(dir, "data", "ds"), nil)
	require.NoError(t, err)
	defer db.Close()
	gens, err := db.ListGenerations(0, 0)
	require.NoError(t, err)
	require.Len(t, gens, 4, "one generation per shard")
	for _, g := range gens {
		require.Equal(t, "reference", g.Layout)
	}
}

// The TLS listener of the built binary, configured by file: a paho client
// connects over TLS (verifying the server against the test CA), publishes
// and receives; SIGTERM ends it with exit status 0.
func TestServe_TLS(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "github.com/mqttds/mqttds/internal/testcert/gencert", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "mqttds.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %q
listeners:
  tcp: {enabled: false}
  tls: {enabled: true, bind: %q, cert_file: %q, key_file: %q}
api: {bind: %q}
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"),
		freeAddr(t))), 0o600))
	cmd := exec.Command(bin, "serve", "--config", cfg)
	logs := startServe(t, cmd)

	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	require.True(t, nc.(*tls.Conn).ConnectionState().HandshakeComplete)
	disconnected := roundTrip(ctx, t, nc, "tls-smoke")

	stopServe(ctx, t, cmd, logs, disconnected)
}

// startServe starts cmd and waits for its "mqttds started" log line; it
// returns the rest of its log lines, and kills it if the test ends first.
func startServe(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	waitLog(t, logs, "mqttds started")
	return logs
}

// stopServe sends cmd SIGTERM and checks the shutdown: the v5 client gets
// DISCONNECT 0x8B (Server shutting down), and the process exits 0.
func stopServe(ctx context.Context, t *testing.T, cmd *exec.Cmd, logs <-chan string, disconnected <-chan *paho.Disconnect) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case d := <-disconnected:
		require.EqualValues(t, 0x8B, d.ReasonCode)
	case <-ctx.Done():
		t.Fatal("no DISCONNECT on shutdown")
	}
	waitLog(t, logs, "stopped")
	require.NoError(t, cmd.Wait(), "exit status 0")
}

// roundTrip connects a paho v5 client over nc, subscribes to its own topic
// at QoS 1, publishes to it and checks the message comes back. The
// returned channel gets the broker's DISCONNECT.
func roundTrip(ctx context.Context, t *testing.T, nc net.Conn, id string) <-chan *paho.Disconnect {
	t.Helper()
	got := make(chan *paho.Publish, 1)
	disconnected := make(chan *paho.Disconnect, 1)
	c := paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			got <- r.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { disconnected <- d },
	})
	_, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: id + "/#", QoS: 1}}})
	require.NoError(t, err)
	_, err = c.Publish(ctx, &paho.Publish{Topic: id + "/test", QoS: 1, Payload: []byte("hello")})
	require.NoError(t, err)
	select {
	case m := <-got:
		require.Equal(t, "hello", string(m.Payload))
	case <-ctx.Done():
		t.Fatal("no message")
	}
	return disconnected
}

func TestServe_BadFlags(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "serve", "extra").CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "serve takes no arguments")

	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("mqtt:\n  no_such_key: 1\n"), 0o600))
	out, err = exec.Command(bin, "serve", "--config", cfg).CombinedOutput()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), "no_such_key")
}

func waitLog(t *testing.T, logs <-chan string, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-logs:
			require.True(t, ok, "process ended before %q", want)
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line %q", want)
		}
	}
}
