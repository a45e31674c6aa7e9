package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttds/mqttds/server/apikey"
	"github.com/stretchr/testify/require"
)

// apiCall sends one request to h with an optional bearer token and JSON body, and returns the
// recorded answer.
func apiCall(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	checkOpenAPI(t, h, req, rec)
	checkOpenAPIRequest(t, h, req, rec, body)
	return rec
}

// newKeyStore returns an empty key store in a fresh directory.
func newKeyStore(t *testing.T) *apikey.Store {
	t.Helper()
	keys, err := apikey.Open(filepath.Join(t.TempDir(), apikey.FileName))
	require.NoError(t, err)
	return keys
}

// requireAPIError checks an error answer: its status, JSON content type and code.
func requireAPIError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) APIError {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var e APIError
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	require.Equal(t, code, e.Code, e.Message)
	require.NotEmpty(t, e.Message)
	return e
}

// apiAuthServer starts a broker whose API requires a credential: keys in a fresh file, and the
// bearer token "configured-token-0123".
func apiAuthServer(t *testing.T, metricsAuth bool) (*Server, http.Handler, *apikey.Store) {
	t.Helper()
	keys, err := apikey.Open(filepath.Join(t.TempDir(), apikey.FileName))
	require.NoError(t, err)
	s, _ := startServer(t, &Options{API: APIOptions{Authenticate: true, Keys: keys,
		Tokens: []string{"configured-token-0123"}, MetricsAuth: metricsAuth}})
	return s, s.APIHandler(), keys
}

// Ensure that only /healthz, /readyz, /metrics and the OpenAPI document answer without a
// credential, that every other route answers 401 with a JSON error, and which credentials pass.
func TestAPIAuth_Routes(t *testing.T) {
	s, h, keys := apiAuthServer(t, false)
	_, keyToken, err := keys.Create("ops", time.Time{})
	require.NoError(t, err)
	for _, rt := range s.apiRoutes() {
		path := strings.NewReplacer("{id}", "x", "{ref}", "x", "{topic...}", "a/b", "{name}", "x", "{site}", "x").Replace(rt.pattern)
		rec := apiCall(t, h, rt.method, path, "", "")
		open := rt.access != accessAuth
		if open {
			require.NotEqual(t, http.StatusUnauthorized, rec.Code, "%s %s", rt.method, rt.pattern)
			continue
		}
		requireAPIError(t, rec, http.StatusUnauthorized, codeUnauthorized)
		require.Equal(t, `Bearer realm="mqttds"`, rec.Header().Get("WWW-Authenticate"))
		e := requireAPIError(t, apiCall(t, h, rt.method, path, "wrong", ""), http.StatusUnauthorized, codeUnauthorized)
		require.Contains(t, e.Message, "not accepted")
	}
	require.Equal(t, http.StatusOK, apiCall(t, h, "GET", "/healthz", "", "").Code)
	require.Equal(t, http.StatusOK, apiCall(t, h, "GET", "/readyz", "", "").Code)
	require.Equal(t, http.StatusOK, apiCall(t, h, "GET", "/metrics", "", "").Code)

	for _, tok := range []string{keyToken, "configured-token-0123"} {
		require.Equal(t, http.StatusOK, apiCall(t, h, "GET", "/api/v1/clients", tok, "").Code, tok)
	}
	// HTTP Basic: key id and secret, as EMQX's API keys are used.
	id, secret, _ := strings.Cut(strings.TrimPrefix(keyToken, apikey.TokenPrefix), "_")
	req := httptest.NewRequest("GET", "/api/v1/clients", nil)
	req.SetBasicAuth(id, secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	req.SetBasicAuth(id, secret+"x")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	requireAPIError(t, rec, http.StatusUnauthorized, codeUnauthorized)

	// A deleted key stops working at once.
	_, ok, err := keys.Delete("ops")
	require.NoError(t, err)
	require.True(t, ok)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients", keyToken, ""), http.StatusUnauthorized, codeUnauthorized)

	// Unknown routes and methods are JSON errors too.
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/nothing", "", ""), http.StatusNotFound, codeNotFound)
	rec = apiCall(t, h, "PUT", "/api/v1/clients", "configured-token-0123", "")
	requireAPIError(t, rec, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	require.Equal(t, "GET", rec.Header().Get("Allow"))
}

// Ensure that api.metrics_auth closes /metrics too.
func TestAPIAuth_Metrics(t *testing.T) {
	_, h, _ := apiAuthServer(t, true)
	requireAPIError(t, apiCall(t, h, "GET", "/metrics", "", ""), http.StatusUnauthorized, codeUnauthorized)
	rec := apiCall(t, h, "GET", "/metrics", "configured-token-0123", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "mqttds_connections 0")
	require.Equal(t, http.StatusOK, apiCall(t, h, "GET", "/healthz", "", "").Code)
}

// Ensure that API keys are created, listed and deleted over the API, that the token is in the
// creation answer only, and the errors of each.
func TestAPIAuth_Keys(t *testing.T) {
	_, h, keys := apiAuthServer(t, false)
	const tok = "configured-token-0123"
	rec := apiCall(t, h, "POST", "/api/v1/api_keys", tok, `{"name": "ci", "expires_in": "24h"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var created APIKeyCreated
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
	require.Equal(t, "ci", created.Name)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), created.Expires, time.Minute)
	require.Equal(t, http.StatusOK, apiCall(t, h, "GET", "/api/v1/clients", created.Token, "").Code, "the new key works")

	rec = apiCall(t, h, "GET", "/api/v1/api_keys", created.Token, "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.NotContains(t, rec.Body.String(), created.Token)
	var listed []apikey.Info
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &listed))
	require.Equal(t, []apikey.Info{created.Info}, listed)
	require.Equal(t, 1, keys.Len())

	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"name": "ci"}`, http.StatusConflict, codeConflict},
		{`{"name": "bad name"}`, http.StatusBadRequest, codeBadRequest},
		{`{"name": "x", "expires_in": "soon"}`, http.StatusBadRequest, codeBadRequest},
		{`{"name": "x", "expires_in": "-1h"}`, http.StatusBadRequest, codeBadRequest},
		{`{"name": "x", "admin": true}`, http.StatusBadRequest, codeBadRequest},
		{`not json`, http.StatusBadRequest, codeBadRequest},
		{``, http.StatusBadRequest, codeBadRequest},
	} {
		requireAPIError(t, apiCall(t, h, "POST", "/api/v1/api_keys", tok, tc.body), tc.status, tc.code)
	}

	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/api_keys/"+created.ID, tok, "").Code)
	requireAPIError(t, apiCall(t, h, "DELETE", "/api/v1/api_keys/ci", tok, ""), http.StatusNotFound, codeKeyNotFound)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients", created.Token, ""), http.StatusUnauthorized, codeUnauthorized)

	// A broker without a key store says so.
	s, _ := startServer(t, nil)
	requireAPIError(t, apiCall(t, s.APIHandler(), "GET", "/api/v1/api_keys", "", ""), http.StatusNotFound, codeNoKeyStore)
}
