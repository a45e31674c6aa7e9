package server

import (
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mqttds/mqttds/server/apikey"
	"github.com/mqttds/mqttds/server/dashboard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// APIOptions configures the HTTP management API.
type APIOptions struct {
	// Authenticate requires a credential (an API key or one of Tokens) on every route but
	// /healthz, /readyz, /api/v1/openapi.json and, unless MetricsAuth, /metrics. Off, every
	// route is open: for a program that embeds the broker and guards the handler itself.
	// `mqttds serve` always turns it on.
	Authenticate bool
	// Keys holds the API keys (`mqttds ctl api-key`). Nil: no keys, and the /api/v1/api_keys
	// routes answer 404 NO_KEY_STORE.
	Keys *apikey.Store
	// Tokens are bearer tokens accepted besides the keys (api.token, the local token).
	Tokens []string
	// MetricsAuth requires a credential on /metrics too.
	MetricsAuth bool
	// TraceDir is where trace logs are written; empty: a temporary directory made at the
	// first trace.
	TraceDir string
}

// openAPIDocument describes every route of apiRoutes; TestOpenAPI keeps it true.
//
//go:embed openapi.json
var openAPIDocument []byte

// LocalTokenFile is the file of the data directory where `mqttds serve` writes its local token
// (api.local_token) and where `mqttds ctl` looks for it.
const LocalTokenFile = "api.token"

// access says who may call a route.
type access uint8

const (
	accessAuth    access = iota // a credential, when APIOptions.Authenticate
	accessOpen                  // anyone
	accessMetrics               // anyone, unless APIOptions.MetricsAuth
)

// apiRoute is one route of the API: the table is the handler's mux and what the OpenAPI
// document is checked against (openapi_test.go).
type apiRoute struct {
	method, pattern string // pattern in http.ServeMux syntax
	access          access
	handle          http.HandlerFunc
}

// APIError is the body of every answer that is not a success.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The codes of APIError. A client branches on the code; the message is for people.
const (
	codeBadRequest       = "BAD_REQUEST"
	codeUnauthorized     = "UNAUTHORIZED"
	codeNotFound         = "NOT_FOUND"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeClientNotFound   = "CLIENT_NOT_FOUND"
	codeNotConnected     = "CLIENT_NOT_CONNECTED"
	codeKeyNotFound      = "KEY_NOT_FOUND"
	codeNoKeyStore       = "NO_KEY_STORE"
	codeConflict         = "CONFLICT"
	codeTopicNotFound    = "TOPIC_NOT_FOUND"
	codeStorageNotFound  = "STORAGE_NOT_FOUND"
	codeSiteNotFound     = "SITE_NOT_FOUND"
	codeTraceNotFound    = "TRACE_NOT_FOUND"
	codeNotReady         = "NOT_READY"
	codeInternal         = "INTERNAL_ERROR"
)

func apiFail(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages quote names and headers ("Bearer <key>") for people
	_ = enc.Encode(APIError{Code: code, Message: fmt.Sprintf(format, args...)})
}

// writeJSONStatus writes v with status.
func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// APIHandler serves the broker's HTTP API; APIOptions says who may call it, and the OpenAPI
// document at /api/v1/openapi.json lists every route (apiRoutes). It also serves the web
// dashboard (uiRoutes), a client of that API.
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	patterns := map[string][]string{} // pattern → methods, for 405 answers
	for _, rt := range s.apiRoutes() {
		mux.Handle(rt.method+" "+rt.pattern, s.guard(rt))
		patterns[rt.pattern] = append(patterns[rt.pattern], rt.method)
	}
	for p, methods := range patterns {
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			apiFail(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s %s: allowed: %s", r.Method, r.URL.Path, allow)
		})
	}
	for _, rt := range uiRoutes() {
		mux.Handle(rt.method+" "+rt.pattern, rt.handle)
	}
	if _, ok := patterns["/"]; !ok {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			apiFail(w, http.StatusNotFound, codeNotFound, "no route %s %s", r.Method, r.URL.Path)
		})
	}
	return mux
}

// uiRoutes are the web dashboard's routes: its static files under dashboard.Prefix, and the
// root, which sends a browser there. They are open to anyone, as they hold no data (every
// figure the page shows it fetches from the API with the user's key), and they are not API
// routes: the OpenAPI document does not list them.
func uiRoutes() []apiRoute {
	return []apiRoute{
		{"GET", dashboard.Prefix, accessOpen, dashboard.Handler().ServeHTTP},
		{"GET", "/{$}", accessOpen, http.RedirectHandler(dashboard.Prefix, http.StatusFound).ServeHTTP},
	}
}

// guard wraps a route with its access check.
func (s *Server) guard(rt apiRoute) http.Handler {
	o := &s.opts.API
	if !o.Authenticate || rt.access == accessOpen || (rt.access == accessMetrics && !o.MetricsAuth) {
		return rt.handle
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.authorized(r) {
			if r.Header.Get("Authorization") != "" {
				s.log.Warn("api credential refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="mqttds"`)
			msg := "this route needs an API key or token: Authorization: Bearer <key>"
			if r.Header.Get("Authorization") != "" {
				msg = "the credential was not accepted (unknown, deleted or expired key)"
			}
			apiFail(w, http.StatusUnauthorized, codeUnauthorized, "%s", msg)
			return
		}
		rt.handle(w, r)
	})
}

// authorized reports whether r carries a valid credential: a bearer token (an API key or one
// of Tokens) or HTTP Basic credentials (key id and secret).
func (o *APIOptions) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		tok = strings.TrimSpace(tok)
		// Compare hashes, so the comparison takes the same time whatever the lengths.
		sum := sha256.Sum256([]byte(tok))
		for _, t := range o.Tokens {
			want := sha256.Sum256([]byte(t))
			if t != "" && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
				return true
			}
		}
		if o.Keys != nil {
			_, ok := o.Keys.Verify(tok)
			return ok
		}
		return false
	}
	if id, secret, ok := r.BasicAuth(); ok && o.Keys != nil {
		_, ok := o.Keys.VerifyPair(id, secret)
		return ok
	}
	return false
}

// apiRoutes is the API's route table.
func (s *Server) apiRoutes() []apiRoute {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&promCollector{s: s}, &durableCollector{s: s}, &webhookCollector{s: s}, &httpAuthCollector{s: s}, s.connectTime)
	if db := s.Storage(); db != nil {
		reg.MustRegister(newDSCollector(storageName, db))
		if c := s.opts.Cluster; c != nil {
			reg.MustRegister(newClusterCollector(c, db.NumShards()))
		}
	}
	if p := s.opts.Peers; p != nil {
		reg.MustRegister(newPeersCollector(p))
	}
	prom := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return []apiRoute{
		{"GET", "/healthz", accessOpen, s.apiHealthz},
		{"GET", "/readyz", accessOpen, s.apiReadyz},
		{"GET", "/metrics", accessMetrics, prom.ServeHTTP},
		{"GET", "/api/v1/openapi.json", accessOpen, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openAPIDocument)
		}},
		{"GET", "/api/v1/status", accessAuth, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Status()) }},
		{"GET", "/api/v1/metrics", accessAuth, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Metrics()) }},
		{"GET", "/api/v1/clients", accessAuth, s.apiClients},
		{"GET", "/api/v1/clients/{id}", accessAuth, s.apiClient},
		{"DELETE", "/api/v1/clients/{id}", accessAuth, s.apiDeleteClient},
		{"GET", "/api/v1/sessions", accessAuth, s.apiSessions},
		{"GET", "/api/v1/subscriptions", accessAuth, s.apiSubscriptions},
		{"GET", "/api/v1/retained", accessAuth, s.apiRetainedList},
		{"GET", "/api/v1/retained/{topic...}", accessAuth, s.apiRetainedGet},
		{"DELETE", "/api/v1/retained/{topic...}", accessAuth, s.apiRetainedDelete},
		{"POST", "/api/v1/publish", accessAuth, s.apiPublish},
		{"GET", "/api/v1/ds/storages", accessAuth, s.apiStorages},
		{"GET", "/api/v1/ds/storages/{name}", accessAuth, s.apiStorage},
		{"GET", "/api/v1/ds/sites", accessAuth, s.apiSites},
		{"GET", "/api/v1/ds/sites/{site}", accessAuth, s.apiSite},
		{"DELETE", "/api/v1/ds/sites/{site}", accessAuth, s.apiForgetSite},
		{"GET", "/api/v1/ds/storages/{name}/replicas", accessAuth, s.apiReplicas},
		{"PUT", "/api/v1/ds/storages/{name}/replicas", accessAuth, s.apiSetReplicas},
		{"PUT", "/api/v1/ds/storages/{name}/replicas/{site}", accessAuth, s.apiJoinSite},
		{"DELETE", "/api/v1/ds/storages/{name}/replicas/{site}", accessAuth, s.apiLeaveSite},
		{"GET", "/api/v1/traces", accessAuth, s.apiTraces},
		{"POST", "/api/v1/traces", accessAuth, s.apiTraceStart},
		{"GET", "/api/v1/traces/{name}", accessAuth, s.apiTrace},
		{"DELETE", "/api/v1/traces/{name}", accessAuth, s.apiTraceDelete},
		{"PUT", "/api/v1/traces/{name}/stop", accessAuth, s.apiTraceStop},
		{"GET", "/api/v1/traces/{name}/log", accessAuth, s.apiTraceLog},
		{"GET", "/api/v1/api_keys", accessAuth, s.apiKeysList},
		{"POST", "/api/v1/api_keys", accessAuth, s.apiKeysCreate},
		{"DELETE", "/api/v1/api_keys/{ref}", accessAuth, s.apiKeysDelete},
	}
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

// apiHealthz answers while the process serves HTTP at all (liveness).
func (s *Server) apiHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, Health{Status: "ok"})
}

// apiReadyz answers 200 while the broker accepts clients: started, not closing.
func (s *Server) apiReadyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	started, closed := s.mu.started, s.mu.closed
	s.mu.RUnlock()
	switch {
	case closed:
		apiFail(w, http.StatusServiceUnavailable, codeNotReady, "the broker is shutting down")
	case !started:
		apiFail(w, http.StatusServiceUnavailable, codeNotReady, "the broker is not started")
	default:
		writeJSON(w, Health{Status: "ready"})
	}
}

func (s *Server) keyStore(w http.ResponseWriter) *apikey.Store {
	if s.opts.API.Keys == nil {
		apiFail(w, http.StatusNotFound, codeNoKeyStore, "this broker keeps no API keys")
	}
	return s.opts.API.Keys
}

func (s *Server) apiKeysList(w http.ResponseWriter, _ *http.Request) {
	if ks := s.keyStore(w); ks != nil {
		writeJSON(w, ks.List())
	}
}

// APIKeyRequest is the body of POST /api/v1/api_keys.
type APIKeyRequest struct {
	Name string `json:"name"`
	// ExpiresIn is a Go duration ("720h"); empty: the key does not expire.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// APIKeyCreated is the answer to POST /api/v1/api_keys: the key and, this once, its token.
type APIKeyCreated struct {
	apikey.Info
	Token string `json:"token"`
}

func (s *Server) apiKeysCreate(w http.ResponseWriter, r *http.Request) {
	ks := s.keyStore(w)
	if ks == nil {
		return
	}
	var req APIKeyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var expires time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			apiFail(w, http.StatusBadRequest, codeBadRequest, "expires_in %q: want a positive Go duration such as 720h", req.ExpiresIn)
			return
		}
		expires = time.Now().Add(d)
	}
	info, token, err := ks.Create(req.Name, expires)
	switch {
	case errors.Is(err, apikey.ErrInvalidName):
		apiFail(w, http.StatusBadRequest, codeBadRequest, "name %q: %v", req.Name, err)
		return
	case errors.Is(err, apikey.ErrNameTaken):
		apiFail(w, http.StatusConflict, codeConflict, "an API key named %q exists", req.Name)
		return
	case err != nil:
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	s.log.Info("api key created", "name", info.Name, "id", info.ID)
	writeJSONStatus(w, http.StatusCreated, APIKeyCreated{Info: info, Token: token})
}

func (s *Server) apiKeysDelete(w http.ResponseWriter, r *http.Request) {
	ks := s.keyStore(w)
	if ks == nil {
		return
	}
	info, ok, err := ks.Delete(r.PathValue("ref"))
	switch {
	case err != nil:
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
	case !ok:
		apiFail(w, http.StatusNotFound, codeKeyNotFound, "no API key with id or name %q", r.PathValue("ref"))
	default:
		s.log.Info("api key deleted", "name", info.Name, "id", info.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

// decodeBody reads a JSON request body of at most 1 MiB into v, refusing unknown fields; on
// failure it has answered 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "request body: %v", err)
		return false
	}
	if dec.More() {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "request body: more than one JSON value")
		return false
	}
	return true
}
