package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/apikey"
	"github.com/mqttds/mqttds/server/listeners"
)

// ctlBroker runs an in-process broker with an MQTT listener and its REST API, both on free
// loopback ports, and returns the API's URL and the MQTT address.
func ctlBroker(t *testing.T) (api, mqttAddr string) {
	return ctlBrokerWith(t, &server.Options{})
}

// ctlBrokerWith is ctlBroker with options. Its API requires authentication, with one API key
// that the test's ctl commands use (MQTTDS_API_KEY).
func ctlBrokerWith(t *testing.T, opts *server.Options) (api, mqttAddr string) {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := apikey.Open(filepath.Join(t.TempDir(), apikey.FileName))
	require.NoError(t, err)
	_, token, err := keys.Create("test", time.Time{})
	require.NoError(t, err)
	t.Setenv("MQTTDS_API_KEY", token)
	opts.API = server.APIOptions{Authenticate: true, Keys: keys}
	srv, err := server.New(opts)
	require.NoError(t, err)
	l := listeners.NewTCP("tcp", "127.0.0.1:0")
	require.NoError(t, srv.AddListener(l))
	require.NoError(t, srv.Start())
	hs := httptest.NewServer(srv.APIHandler())
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Close(ctx))
	})
	return hs.URL, l.Address()
}

// ctlClient connects a v5 client that keeps its session for expiry after it goes away.
func ctlClient(t *testing.T, addr, id, user string, expiry uint32) *paho.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30, Username: user,
		UsernameFlag: user != "", Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func ctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := runCtl(ctx, args, &out, io.Discard)
	return out.String(), err
}

// Ensure that kick disconnects a connected v5 client with Administrative
// action and reports a client that is not connected.
func TestCtl_Kick(t *testing.T) {
	api, addr := ctlBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	reasons := make(chan byte, 1)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnServerDisconnect: func(d *paho.Disconnect) { reasons <- d.ReasonCode }})
	_, err = c.Connect(ctx, &paho.Connect{ClientID: "carol", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	// No wait: a client that has its CONNACK is listed and kickable.
	out, err := ctl(t, "--api", api, "kick", "carol")
	require.NoError(t, err)
	require.Equal(t, "kicked carol\n", out)
	select {
	case code := <-reasons:
		require.Equal(t, byte(0x98), code, "DISCONNECT reason")
	case <-ctx.Done():
		t.Fatal("carol was not disconnected")
	}

	// Once carol's connection has closed, she is no longer there to kick.
	require.Eventually(t, func() bool {
		_, err = ctl(t, "--api", api, "kick", "carol")
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	require.ErrorContains(t, err, `404 Not Found: CLIENT_NOT_CONNECTED: client "carol" is not connected`)
}

// Ensure that every ctl command shows what the running broker reports, as a table and as the
// API's JSON.
func TestCtl_AgainstBroker(t *testing.T) {
	api, addr := ctlBroker(t)
	out, err := ctl(t, "--api", api, "clients")
	require.NoError(t, err)
	require.Equal(t, "no clients\n", out)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alice := ctlClient(t, addr, "alice", "dora", 3600)
	id := 7
	_, err = alice.Subscribe(ctx, &paho.Subscribe{
		Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &id},
		Subscriptions: []paho.SubscribeOptions{
			{Topic: "site/+/temp", QoS: 1, NoLocal: true, RetainHandling: 2},
			{Topic: "alerts/#", QoS: 2, RetainAsPublished: true},
		}})
	require.NoError(t, err)
	bob := ctlClient(t, addr, "bob", "", 0)
	_, err = bob.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/bob"}}})
	require.NoError(t, err)
	_, err = bob.Publish(ctx, &paho.Publish{Topic: "site/1/temp", QoS: 1, Payload: []byte("21.5")})
	require.NoError(t, err)

	out, err = ctl(t, "clients", "--api", api)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Regexp(t, `^CLIENT ID\s+STATE\s+DURABLE\s+USERNAME\s+PROTOCOL\s+KEEPALIVE\s+INFLIGHT\s+QUEUED\s+EXPIRY\s+REMOTE$`, lines[0])
	require.Regexp(t, `^alice\s+connected\s+no\s+dora\s+5\.0\s+30s\s+[01]\s+0\s+1h0m0s\s+127\.0\.0\.1:\d+$`, lines[1])
	require.Regexp(t, `^bob\s+connected\s+no\s+-\s+5\.0\s+30s\s+0\s+0\s+0s\s+127\.0\.0\.1:\d+$`, lines[2])
	require.Equal(t, "2 clients, 2 connected, 0 durable", lines[3])

	out, err = ctl(t, "--api", api, "sessions")
	require.NoError(t, err)
	// alice may still hold bob's message in flight: paho acknowledges on its own schedule.
	require.Regexp(t, `(?m)^alice\s+yes\s+no\s+1h0m0s\s+[01]\s+0\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, out)
	require.Regexp(t, `(?m)^bob\s+yes\s+no\s+0s\s+`, out)
	require.Contains(t, out, "2 sessions, 2 online, 0 durable")

	out, err = ctl(t, "--api", api, "subscriptions")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^alice\s+alerts/#\s+2\s+retain_as_published,id=7$`, out)
	require.Regexp(t, `(?m)^alice\s+site/\+/temp\s+1\s+no_local,retain_handling=2,id=7$`, out)
	require.Regexp(t, `(?m)^bob\s+cmd/bob\s+0\s+-$`, out)

	out, err = ctl(t, "--api", api, "subscriptions", "bob")
	require.NoError(t, err)
	require.NotContains(t, out, "alice")
	require.Contains(t, out, "cmd/bob")
	out, err = ctl(t, "--api", api, "subscriptions", "nobody")
	require.NoError(t, err)
	require.Equal(t, "no subscriptions\n", out)

	out, err = ctl(t, "--api", api, "metrics")
	require.NoError(t, err)
	require.Contains(t, out, "connections: current=2")
	require.Contains(t, out, "subscriptions=3")
	require.Regexp(t, `messages:\s+received=1 `, out)

	// --json is the API's answer, unchanged.
	for _, tc := range []struct {
		cmd  []string
		into any
	}{
		{[]string{"clients"}, &[]server.ClientView{}},
		{[]string{"sessions"}, &[]server.SessionInfo{}},
		{[]string{"subscriptions", "alice"}, &[]server.SubscriptionView{}},
		{[]string{"metrics"}, &server.Metrics{}},
	} {
		out, err := ctl(t, append([]string{"--api", api, "--json"}, tc.cmd...)...)
		require.NoError(t, err)
		req, err := http.NewRequest("GET", api+ctlCommands[tc.cmd[0]].path+map[bool]string{true: "?client=alice"}[len(tc.cmd) > 1], nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+os.Getenv("MQTTDS_API_KEY"))
		direct, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, direct.StatusCode)
		want, _ := io.ReadAll(direct.Body)
		direct.Body.Close()
		require.NoError(t, json.Unmarshal([]byte(out), tc.into), out)
		if tc.cmd[0] != "metrics" { // counters move between the two reads
			require.Equal(t, string(want), out)
		}
	}
	var subs []server.SubscriptionView
	out, err = ctl(t, "--api", api, "--json", "subscriptions", "alice")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &subs))
	require.Len(t, subs, 2)

	// Sessions outlive their connections: alice's has an expiry, bob's ends with it.
	require.NoError(t, alice.Disconnect(&paho.Disconnect{}))
	require.NoError(t, bob.Disconnect(&paho.Disconnect{}))
	require.Eventually(t, func() bool {
		out, err = ctl(t, "--api", api, "sessions")
		return err == nil && strings.Contains(out, "1 session, 0 online")
	}, 5*time.Second, 20*time.Millisecond, out)
	require.Regexp(t, `(?m)^alice\s+no\s+no\s+1h0m0s`, out)
}

func TestCtl_Errors(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/clients":
			http.Error(w, "storage\nunavailable", http.StatusServiceUnavailable)
		default:
			io.WriteString(w, "<html>not json</html>")
		}
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{nil, true, "ctl needs a command: api-key create, api-key delete, api-key list, clients, clients kick, clients list, clients show, ds forget, ds info, ds join, ds leave, ds set_replicas,"},
		{[]string{"clients", "show"}, true, "clients show needs 1 argument(s)"},
		{[]string{"retained", "frob"}, true, `unknown ctl command "retained frob"`},
		{[]string{"clients", "--connected", "--disconnected"}, true, "exclude each other"},
		{[]string{"sessions", "--durable", "--in-memory"}, true, "exclude each other"},
		{[]string{"frobnicate"}, true, `unknown ctl command "frobnicate"`},
		{[]string{"kick"}, true, "kick needs 1 argument(s)"},
		{[]string{"kick", "a", "b"}, true, `kick takes at most 1 argument(s), got "a b"`},
		{[]string{"clients", "extra"}, true, `clients takes at most 0 argument(s), got "extra"`},
		{[]string{"subscriptions", "a", "b"}, true, "at most 1 argument(s)"},
		{[]string{"--api", "ftp://x", "clients"}, true, "want http://HOST:PORT"},
		{[]string{"--timeout", "0s", "clients"}, true, "--timeout must be positive"},
		{[]string{"--api", closed.URL, "clients"}, false, "cannot reach the broker's API at " + closed.URL},
		{[]string{"--api", failing.URL, "clients"}, false, "503 Service Unavailable: storage unavailable"},
		{[]string{"--api", failing.URL, "sessions"}, false, "the API answered something that is not a list of sessions"},
		{[]string{"--api", failing.URL, "metrics"}, false, "not the broker's metrics"},
	} {
		_, err := ctl(t, tc.args...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
		var ue usageError
		require.Equal(t, tc.usage, errors.As(err, &ue), "usage error for %v: %v", tc.args, err)
	}
}

// Ensure that --api takes a bare host:port, as api.bind is written.
func TestCtl_APIAddress(t *testing.T) {
	api, _ := ctlBroker(t)
	out, err := ctl(t, "--api", strings.TrimPrefix(api, "http://"), "sessions")
	require.NoError(t, err)
	require.Equal(t, "no sessions\n", out)

	u, err := apiURL("127.0.0.1:18083")
	require.NoError(t, err)
	require.Equal(t, defaultAPI, u.String())
}

// Ensure that a durable session (a broker with durable sessions on, answer recorded from the
// API) is shown as such.
func TestCtl_DurableSession(t *testing.T) {
	const recorded = `[
  {
    "client_id": "meter-17",
    "online": false,
    "expiry_ns": 86400000000000,
    "inflight": 2,
    "queued": 40,
    "created": "2026-11-22T03:01:16.123456789Z",
    "durable": true
  }
]
`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/api/v1/sessions", r.URL.Path)
		io.WriteString(w, recorded)
	}))
	defer api.Close()
	out, err := ctl(t, "--api", api.URL, "sessions")
	require.NoError(t, err)
	require.Equal(t, `CLIENT ID  ONLINE  DURABLE  EXPIRY   INFLIGHT  QUEUED  CREATED
meter-17   no      yes      24h0m0s  2         40      2026-11-22T03:01:16Z
1 session, 0 online, 1 durable
`, out)
	out, err = ctl(t, "--api", api.URL, "--json", "sessions")
	require.NoError(t, err)
	require.Equal(t, recorded, out)
}

// Ensure that a broker with durable sessions shows which sessions are durable, and keeps
// showing a durable session after its client left.
func TestCtl_DurableBroker(t *testing.T) {
	api, addr := ctlBrokerWith(t, &server.Options{Durable: server.DurableOptions{Enable: true, Dir: t.TempDir()}})
	meter := ctlClient(t, addr, "meter-17", "", 3600)
	ctlClient(t, addr, "viewer", "", 0)
	out, err := ctl(t, "--api", api, "sessions")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^meter-17\s+yes\s+yes\s+1h0m0s\s`, out)
	require.Regexp(t, `(?m)^viewer\s+yes\s+no\s+0s\s`, out)
	require.Contains(t, out, "2 sessions, 2 online, 1 durable")

	require.NoError(t, meter.Disconnect(&paho.Disconnect{}))
	require.Eventually(t, func() bool {
		out, err = ctl(t, "--api", api, "sessions")
		return err == nil && regexp.MustCompile(`(?m)^meter-17\s+no\s+yes\s+1h0m0s\s`).MatchString(out)
	}, 5*time.Second, 20*time.Millisecond, out)
}

// Ensure that a listing is fetched page by page (X-Next-Cursor), keeping the API's path
// prefix and the query, and shown as one.
func TestCtl_FollowsPages(t *testing.T) {
	var queries []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/prefix/api/v1/subscriptions", r.URL.Path)
		queries = append(queries, r.URL.RawQuery)
		switch r.URL.Query().Get("after") {
		case "":
			w.Header().Set("X-Next-Cursor", "Yw")
			io.WriteString(w, `[{"client_id": "a", "filter": "x", "qos": 0}]`)
		case "Yw":
			io.WriteString(w, `[{"client_id": "b", "filter": "y", "qos": 1}]`)
		default:
			t.Errorf("unexpected query %q", r.URL.RawQuery)
		}
	}))
	defer api.Close()
	out, err := ctl(t, "--api", api.URL+"/prefix", "subscriptions", "list", "b")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^a\s+x\s+0\s+-\n^b\s+y\s+1\s+-$`, out)
	require.Equal(t, []string{"client=b&limit=1000", "after=Yw&client=b&limit=1000"}, queries)
	out, err = ctl(t, "--api", api.URL+"/prefix", "--json", "subscriptions")
	require.NoError(t, err)
	var subs []server.SubscriptionView
	require.NoError(t, json.Unmarshal([]byte(out), &subs))
	require.Len(t, subs, 2)
}

// Ensure that the operations commands (status, clients list filters, clients show, clients kick
// --session, retained list|show|delete, ds info) show what a running durable broker reports, as
// tables and with --json.
func TestCtl_Operations(t *testing.T) {
	api, addr := ctlBrokerWith(t, &server.Options{NodeName: "n1",
		Durable: server.DurableOptions{Enable: true, Dir: t.TempDir(), Storage: &ds.Options{NumShards: 2}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	meter := ctlClient(t, addr, "meter-1", "dora", 3600)
	_, err := meter.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/meter-1", QoS: 1}}})
	require.NoError(t, err)
	viewer := ctlClient(t, addr, "viewer", "", 0)
	_, err = viewer.Publish(ctx, &paho.Publish{Topic: "site/1/temp", QoS: 1, Retain: true, Payload: []byte("21.5")})
	require.NoError(t, err)
	_, err = viewer.Publish(ctx, &paho.Publish{Topic: "site/2/raw", QoS: 0, Retain: true, Payload: []byte{0, 1, 2}})
	require.NoError(t, err)

	out, err := ctl(t, "--api", api, "status")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^node\s+n1$`, out)
	require.Regexp(t, `(?m)^durable sessions\s+yes$`, out)
	require.Regexp(t, `(?m)^listeners\s+tcp tcp 127\.0\.0\.1:\d+$`, out)
	require.Regexp(t, `(?m)^connections\s+2$`, out)

	out, err = ctl(t, "--api", api, "publish", "cmd/meter-1", "on", "--qos", "1")
	require.NoError(t, err)
	require.Equal(t, "published to 1 session\n", out)
	_, err = ctl(t, "--api", api, "publish", "cmd/+", "on")
	require.ErrorContains(t, err, "400 Bad Request: BAD_REQUEST")
	require.Eventually(t, func() bool {
		out, err = ctl(t, "--api", api, "retained", "list")
		return err == nil && strings.Contains(out, "2 retained messages")
	}, 5*time.Second, 10*time.Millisecond, out)
	require.Regexp(t, `(?m)^site/1/temp\s+1\s+4\s+viewer\s+\S+Z\s+never$`, out)
	out, err = ctl(t, "--api", api, "retained", "list", "site/+/raw")
	require.NoError(t, err)
	require.Contains(t, out, "1 retained message\n")
	out, err = ctl(t, "--api", api, "retained", "show", "site/1/temp")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^payload\s+21\.5$`, out)
	out, err = ctl(t, "--api", api, "retained", "show", "site/2/raw")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^payload \(base64\)\s+AAEC$`, out)
	out, err = ctl(t, "--api", api, "retained", "delete", "site/2/raw")
	require.NoError(t, err)
	require.Equal(t, "deleted the retained message of site/2/raw\n", out)
	_, err = ctl(t, "--api", api, "retained", "show", "site/2/raw")
	require.ErrorContains(t, err, "404 Not Found: TOPIC_NOT_FOUND")

	// meter-1 leaves once it has acknowledged cmd/meter-1 (paho acknowledges on its own
	// schedule; a DISCONNECT sent before the PUBACK rightly leaves the message in flight);
	// its durable session stays.
	require.Eventually(t, func() bool {
		out, err = ctl(t, "--api", api, "clients", "show", "meter-1")
		return err == nil && regexp.MustCompile(`(?m)^in flight\s+0$`).MatchString(out)
	}, 5*time.Second, 10*time.Millisecond, out)
	require.NoError(t, meter.Disconnect(&paho.Disconnect{}))
	require.Eventually(t, func() bool {
		out, err = ctl(t, "--api", api, "clients", "list", "--disconnected")
		return err == nil && strings.Contains(out, "meter-1")
	}, 5*time.Second, 10*time.Millisecond, out)
	require.Regexp(t, `(?m)^meter-1\s+disconnected\s+yes\s+-\s+-\s+-\s+\S+\s+0\s+1h0m0s\s+-$`, out)
	require.Contains(t, out, "1 client, 0 connected, 1 durable")
	out, err = ctl(t, "--api", api, "clients", "list", "--connected", "--prefix", "v")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^viewer\s+connected\s+no\s`, out)
	require.NotContains(t, out, "meter-1")
	out, err = ctl(t, "--api", api, "clients", "--username", "nobody")
	require.NoError(t, err)
	require.Equal(t, "no clients\n", out)
	out, err = ctl(t, "--api", api, "sessions", "--durable")
	require.NoError(t, err)
	require.Contains(t, out, "1 session, 0 online, 1 durable")

	out, err = ctl(t, "--api", api, "clients", "show", "meter-1")
	require.NoError(t, err)
	for _, re := range []string{`(?m)^state\s+disconnected$`, `(?m)^durable\s+yes$`, `(?m)^in flight\s+0$`,
		`(?m)^subscriptions\s+1$`, `(?m)^cmd/meter-1\s+1\s+-$`} {
		require.Regexp(t, re, out)
	}
	out, err = ctl(t, "--api", api, "--json", "clients", "show", "meter-1")
	require.NoError(t, err)
	var d server.ClientDetail
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	require.Equal(t, "meter-1", d.ClientID)
	_, err = ctl(t, "--api", api, "clients", "show", "nobody")
	require.ErrorContains(t, err, "404 Not Found: CLIENT_NOT_FOUND")

	out, err = ctl(t, "--api", api, "clients", "kick", "meter-1", "--session")
	require.NoError(t, err)
	require.Equal(t, "kicked meter-1\n", out)
	out, err = ctl(t, "--api", api, "clients")
	require.NoError(t, err)
	require.NotContains(t, out, "meter-1", "the session is gone")

	out, err = ctl(t, "--api", api, "ds", "info")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^storage default: 2 shards, 2 generations, [\d.]+ [KMG]?i?B on disk, sites n1$`, out)
	require.Regexp(t, `(?m)^0\s+n1 \(up\)\s+1\s+wildcard_optimized$`, out)
	require.Regexp(t, `(?m)^n1\s+n1\s+up\s+2$`, out)
	out, err = ctl(t, "--api", api, "--json", "ds", "info")
	require.NoError(t, err)
	var info DSInfo
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	require.Len(t, info.Storages, 1)
	require.Len(t, info.Storages[0].ShardList, 2)
	require.Equal(t, []server.SiteView{{Site: "n1", Node: "n1", Up: true, Shards: 2}}, info.Sites)
}

// Ensure that trace start|list|log|stop|delete drive a trace of a running broker.
func TestCtl_Trace(t *testing.T) {
	api, addr := ctlBroker(t)
	out, err := ctl(t, "--api", api, "trace", "list")
	require.NoError(t, err)
	require.Equal(t, "no traces\n", out)
	out, err = ctl(t, "--api", api, "trace", "start", "m", "--client", "meter-1", "--duration", "1h", "--max-bytes", "65536")
	require.NoError(t, err)
	require.Regexp(t, `^started trace m until \S+Z \(at most 64\.0 KiB\); read it with: mqttds ctl trace log m\n$`, out)
	_, err = ctl(t, "--api", api, "trace", "start", "bad")
	require.ErrorContains(t, err, "400 Bad Request: BAD_REQUEST: give exactly one of client_id and topic")

	ctlClient(t, addr, "meter-1", "", 0)
	require.Eventually(t, func() bool {
		out, err = ctl(t, "--api", api, "trace", "log", "m")
		return err == nil && strings.Contains(out, `out client="meter-1" CONNACK`)
	}, 5*time.Second, 10*time.Millisecond, out)
	require.Contains(t, out, `in client="meter-1" CONNECT v5.0`)

	out, err = ctl(t, "--api", api, "trace", "stop", "m")
	require.NoError(t, err)
	require.Equal(t, "stopped trace m\n", out)
	out, err = ctl(t, "--api", api, "trace", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^m\s+client meter-1\s+stopped \(stopped\)\s+\d+\s+\d+\s+\S+Z\s+\S+Z$`, out)
	out, err = ctl(t, "--api", api, "trace", "delete", "m")
	require.NoError(t, err)
	require.Equal(t, "deleted trace m\n", out)
	_, err = ctl(t, "--api", api, "trace", "log", "m")
	require.ErrorContains(t, err, "404 Not Found: TRACE_NOT_FOUND")
}
