package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/config"
)

// logLines collects a broker's log output, safe for the broker's goroutines.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var apiListening = regexp.MustCompile(`msg="api listening" address=(\S+)`)

// serveInProcess runs `mqttds serve` in this process with its data in dir, MQTT and API on free
// loopback ports, and the extra environment; it returns the API's address and a stop function
// that waits for serve to return.
func serveInProcess(t *testing.T, dir string, env ...string) (api string, stop func()) {
	t.Helper()
	logs := &logLines{}
	sig := make(chan os.Signal, 1)
	done := make(chan error, 1)
	environ := append([]string{"MQTTDS_API_BIND=127.0.0.1:0", "MQTTDS_SYS_INTERVAL=0s"}, env...)
	go func() { done <- serve([]string{"--bind", "127.0.0.1:0", "--data-dir", dir}, environ, logs, sig) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := apiListening.FindStringSubmatch(logs.String()); m != nil {
			api = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before its API listened: %v\n%s", err, logs)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API did not start:\n%s", logs)
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sig <- os.Interrupt
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return api, stop
}

// Ensure that `mqttds serve` requires a credential on its API, that ctl on the same host
// authenticates with the local token the broker writes to its data directory (and removes at
// stop), and that API keys made with `ctl api-key create` outlive a restart.
func TestServe_APIAuthentication(t *testing.T) {
	t.Setenv("MQTTDS_API_KEY", "")
	dir := t.TempDir()
	api, stop := serveInProcess(t, dir)
	tokenFile := filepath.Join(dir, server.LocalTokenFile)
	fi, err := os.Stat(tokenFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, err = ctl(t, "--api", api, "--data-dir", t.TempDir(), "clients")
	require.ErrorContains(t, err, "401 Unauthorized: UNAUTHORIZED")
	require.ErrorContains(t, err, "pass --key")
	_, err = ctl(t, "--api", api, "--data-dir", dir, "--key", "mqttds_000000000000_nope", "clients")
	require.ErrorContains(t, err, "401 Unauthorized")

	out, err := ctl(t, "--api", api, "--data-dir", dir, "clients")
	require.NoError(t, err)
	require.Equal(t, "no clients\n", out)
	t.Setenv("MQTTDS_DATA_DIR", dir)
	out, err = ctl(t, "--api", api, "api-key", "list")
	require.NoError(t, err)
	require.Equal(t, "no API keys\n", out)

	out, err = ctl(t, "--api", api, "api-key", "create", "ops", "--expires-in", "720h")
	require.NoError(t, err)
	token := regexp.MustCompile(`mqttds_[0-9a-f]{12}_\S+`).FindString(out)
	require.NotEmpty(t, token, out)
	require.Contains(t, out, "only time the token is shown")
	out, err = ctl(t, "--api", api, "api-key", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^ops\s+[0-9a-f]{12}\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z$`, out)
	_, err = ctl(t, "--api", api, "api-key", "create", "ops")
	require.ErrorContains(t, err, "409 Conflict: CONFLICT")

	// The local token is sent to a loopback API only.
	t.Setenv("MQTTDS_DATA_DIR", "")
	stop()
	_, err = os.Stat(tokenFile)
	require.ErrorIs(t, err, os.ErrNotExist, "the local token is removed at stop")

	api, _ = serveInProcess(t, dir, "MQTTDS_API_LOCAL_TOKEN=false")
	_, err = os.Stat(tokenFile)
	require.ErrorIs(t, err, os.ErrNotExist, "api.local_token: false writes none")
	out, err = ctl(t, "--api", api, "--key", token, "api-key", "list")
	require.NoError(t, err, "the key outlived the restart")
	require.Contains(t, out, "ops")
	out, err = ctl(t, "--api", api, "--key", token, "api-key", "delete", "ops")
	require.NoError(t, err)
	require.Equal(t, "deleted API key ops\n", out)
	_, err = ctl(t, "--api", api, "--key", token, "clients")
	require.ErrorContains(t, err, "401 Unauthorized")
}

// Ensure that an API other hosts can reach needs an API key or api.token, and that the local
// token does not count.
func TestServe_PublicAPINeedsCredential(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.API.Bind = "0.0.0.0:0"
	_, _, err := apiAuth(cfg)
	require.ErrorContains(t, err, "api.bind 0.0.0.0:0 is not a loopback address")
	require.ErrorContains(t, err, "api.token")

	cfg.API.Token = "a-long-enough-token"
	o, local, err := apiAuth(cfg)
	require.NoError(t, err)
	require.True(t, o.Authenticate)
	require.Contains(t, o.Tokens, "a-long-enough-token")
	require.Contains(t, o.Tokens, local)

	cfg.API.Token = ""
	_, _, err = o.Keys.Create("remote-ops", time.Time{})
	require.NoError(t, err)
	_, _, err = apiAuth(cfg)
	require.NoError(t, err, "an API key is enough")

	cfg.API.Bind = "[::1]:0"
	require.False(t, cfg.APIPublic())

	err = serve([]string{"--data-dir", t.TempDir(), "--bind", "127.0.0.1:0"}, []string{"MQTTDS_API_BIND=0.0.0.0:0"},
		&logLines{}, make(chan os.Signal))
	require.ErrorContains(t, err, "is not a loopback address")
}
