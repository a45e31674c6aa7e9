package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/config"
	"github.com/stretchr/testify/require"
)

// Ensure that auth.http reaches the broker through FromConfig: the service on loopback decides
// CONNECT and SUBSCRIBE/PUBLISH, its "ignore" leaves them to the password and ACL files (order
// first), and with order last the files decide first.
func TestAuthHTTP_FromConfig(t *testing.T) {
	var asked atomic.Int64
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		var req auth.HTTPRequest
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		res := "ignore"
		switch {
		case req.Action == "connect" && req.Username == "web" && req.Password == "pw":
			res = "allow"
		case req.Action == "connect" && req.Username == "banned":
			res = "deny"
		case req.Action == "subscribe" && req.Topic == "web/#":
			res = "allow"
		case req.Action == "publish" && strings.HasPrefix(req.Topic, "forbidden/"):
			res = "deny"
		}
		_ = json.NewEncoder(w).Encode(auth.HTTPResponse{Result: res})
	}))
	defer svc.Close()
	dir := t.TempDir()
	hash, err := auth.HashPassword([]byte("s3cret"), nil)
	require.NoError(t, err)
	passwd := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(passwd, []byte("banned:"+hash+"\nalice:"+hash+"\n"), 0o600))
	acl := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(acl, []byte("allow all subscribe alice/#\nallow all publish #\n"), 0o600))

	var first *Server
	start := func(order string) string {
		cfg := config.Default()
		cfg.Auth.AllowAnonymous = false
		cfg.Auth.PasswordFile, cfg.Auth.ACLFile, cfg.Auth.ACLNoMatch = passwd, acl, "deny"
		cfg.Auth.FailureDelay = 0
		cfg.DurableSessions.Enable = false
		cfg.Auth.HTTP.URL, cfg.Auth.HTTP.Order = svc.URL+"/mqtt/auth", order
		require.NoError(t, cfg.Validate())
		o, _, err := FromConfig(cfg, testLogger())
		require.NoError(t, err)
		s, addr := startServer(t, o)
		if first == nil {
			first = s
		}
		return addr
	}

	addr := start("first")
	c := dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("w1", true, login("web", "pw")).ReasonCode, "the service allows")
	ack := c.subscribe(1, mqtt.Subscription{Filter: "web/#"}, mqtt.Subscription{Filter: "alice/#"}, mqtt.Subscription{Filter: "other"})
	require.Equal(t, []mqtt.ReasonCode{mqtt.GrantedQoS0, mqtt.GrantedQoS0, mqtt.NotAuthorized}, ack.ReasonCodes,
		"the service, then the ACL file, then acl_nomatch")
	c.publish("forbidden/x", "x", mqtt.QoS1, 1, false)
	require.Equal(t, mqtt.NotAuthorized, c.expect(mqtt.TypePuback).ReasonCode)
	c.publish("fine/x", "x", mqtt.QoS1, 2, false)
	require.Equal(t, mqtt.NoMatchingSubscribers, c.expect(mqtt.TypePuback).ReasonCode, "allowed by the ACL file")

	c = dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.BadUserNameOrPassword, c.connect("b1", true, login("banned", "s3cret")).ReasonCode,
		"order first: the service's deny wins over the file")
	c = dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("a1", true, login("alice", "s3cret")).ReasonCode, "ignored: the file decides")

	before := asked.Load()
	c = dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("w1", true, login("web", "pw")).ReasonCode)
	require.Equal(t, before, asked.Load(), "a cached allow")

	prom := get(t, first.APIHandler(), "/metrics")
	require.Contains(t, prom, "mqttds_auth_http_requests_total ")
	require.Contains(t, prom, "mqttds_auth_http_cache_hits_total 1\n")
	require.Contains(t, prom, "mqttds_auth_http_failures_total 0\n")

	addr = start("last")
	c = dialRaw(t, addr, mqtt.V5)
	require.Equal(t, mqtt.Success, c.connect("b2", true, login("banned", "s3cret")).ReasonCode,
		"order last: the password file decides first")
}
