package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// The OpenAPI document (openapi.json) is kept true two ways: TestOpenAPI_Routes checks the
// route table against its operations, and every answer a test of this package records through
// apiCall is checked against the operation's documented responses and their schemas
// (checkOpenAPI); TestOpenAPI_EveryResponse produces every documented status of every operation.

var openAPIDoc = sync.OnceValue(func() map[string]any {
	var d map[string]any
	if err := json.Unmarshal(openAPIDocument, &d); err != nil {
		panic(fmt.Sprintf("openapi.json: %v", err))
	}
	return d
})

// openAPISeen records the (method, path, status) answers checkOpenAPI saw.
var openAPISeen = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// oasPath turns a ServeMux pattern into an OpenAPI path: {topic...} is {topic}.
func oasPath(pattern string) string { return strings.ReplaceAll(pattern, "...}", "}") }

func oasOperation(method, pattern string) map[string]any {
	return obj(obj(obj(openAPIDoc()["paths"])[oasPath(pattern)])[strings.ToLower(method)])
}

// checkOpenAPI checks a recorded answer of h (an APIHandler) against the document: the
// operation exists, the status is documented for it (or its default), and the body has the
// documented content type and validates against the schema.
func checkOpenAPI(t *testing.T, h http.Handler, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	mux, ok := h.(*http.ServeMux)
	if !ok {
		return
	}
	_, pattern := mux.Handler(req)
	method, path, routed := strings.Cut(pattern, " ")
	if !routed { // the 404 and 405 answers of unknown paths and methods
		require.NoError(t, oasValidate(obj(obj(openAPIDoc()["components"])["schemas"])["APIError"], decodeAny(t, rec), "body"), rec.Body.String())
		return
	}
	if method == "GET" && req.Method == "HEAD" {
		return
	}
	if slices.ContainsFunc(uiRoutes(), func(rt apiRoute) bool { return rt.method == method && rt.pattern == path }) {
		return // the dashboard's files: not API routes (dashboard_test.go)
	}
	op := oasOperation(method, path)
	require.NotNil(t, op, "%s %s is not in openapi.json", method, path)
	status := fmt.Sprint(rec.Code)
	resp := obj(obj(op["responses"])[status])
	if resp == nil {
		resp = obj(obj(op["responses"])["default"])
		require.NotNil(t, resp, "%s %s answered %s, which openapi.json does not document: %s", method, path, status, rec.Body.String())
		status = "default"
	}
	openAPISeen.Lock()
	openAPISeen.m[method+" "+oasPath(path)+" "+status]++
	openAPISeen.Unlock()
	content := obj(resp["content"])
	if content == nil {
		require.Empty(t, rec.Body.String(), "%s %s %s has no documented body", method, path, status)
		return
	}
	ct, _, _ := strings.Cut(rec.Header().Get("Content-Type"), ";")
	media := obj(content[ct])
	require.NotNil(t, media, "%s %s %s: content type %q is not documented", method, path, status, ct)
	if ct != "application/json" {
		return
	}
	require.NoError(t, oasValidate(media["schema"], decodeAny(t, rec), "body"), "%s %s %s: %s", method, path, status, rec.Body.String())
	for name := range rec.Header() {
		if strings.HasPrefix(name, "X-") && name != "X-Content-Type-Options" {
			require.Contains(t, obj(resp["headers"]), name, "%s %s %s: header %s is not documented", method, path, status, name)
		}
	}
}

// checkOpenAPIRequest checks that a request body the API accepted (2xx) is valid against the
// operation's documented request body, so the document cannot require less or other than the
// handler takes.
func checkOpenAPIRequest(t *testing.T, h http.Handler, req *http.Request, rec *httptest.ResponseRecorder, body string) {
	t.Helper()
	mux, ok := h.(*http.ServeMux)
	if !ok || body == "" || rec.Code/100 != 2 {
		return
	}
	_, pattern := mux.Handler(req)
	method, path, routed := strings.Cut(pattern, " ")
	if !routed {
		return
	}
	rb := obj(oasOperation(method, path)["requestBody"])
	if rb == nil {
		return // a body the route ignores (a test sends one to several routes)
	}
	schema := obj(obj(obj(rb["content"])["application/json"]))["schema"]
	var v any
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.NoError(t, oasValidate(schema, v, "request"), "%s %s: accepted a body the document does not allow: %s", method, path, body)
}

func decodeAny(t *testing.T, rec *httptest.ResponseRecorder) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

// oasValidate checks v against a schema, for the part of JSON Schema the document uses: $ref,
// type (one or a list), enum, minimum, maximum, pattern, format date-time and byte, properties,
// required, additionalProperties false, items.
func oasValidate(schema any, v any, at string) error {
	s := obj(schema)
	if s == nil {
		return fmt.Errorf("%s: no schema", at)
	}
	if r, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(r, "#/components/schemas/")
		target := obj(obj(openAPIDoc()["components"])["schemas"])[name]
		if target == nil {
			return fmt.Errorf("%s: unknown schema %s", at, r)
		}
		return oasValidate(target, v, at)
	}
	if typ, ok := s["type"]; ok {
		types := []string{}
		switch x := typ.(type) {
		case string:
			types = append(types, x)
		case []any:
			for _, e := range x {
				types = append(types, e.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %v is %s, want %v", at, v, jsonType(v), types)
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	switch x := v.(type) {
	case float64:
		if lo, ok := s["minimum"].(float64); ok && x < lo {
			return fmt.Errorf("%s: %v below %v", at, x, lo)
		}
		if hi, ok := s["maximum"].(float64); ok && x > hi {
			return fmt.Errorf("%s: %v above %v", at, x, hi)
		}
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			return fmt.Errorf("%s: %q does not match %s", at, x, p)
		}
		switch s["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, x)
			}
		case "byte":
			if _, err := base64.StdEncoding.DecodeString(x); err != nil {
				return fmt.Errorf("%s: %q is not base64", at, x)
			}
		}
	case map[string]any:
		props := obj(s["properties"])
		for _, r := range asSlice(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: required %q is missing", at, r)
			}
		}
		for k, e := range x {
			ps, ok := props[k]
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: property %q is not documented", at, k)
				}
				continue
			}
			if err := oasValidate(ps, e, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				if err := oasValidate(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// Ensure that the document and the route table agree: every route is an operation and every
// operation a route, with its path parameters declared and its security matching the route's
// access (open routes need nothing, /metrics optionally a credential, the others the document's
// default: a credential).
func TestOpenAPI_Routes(t *testing.T) {
	d := openAPIDoc()
	require.True(t, strings.HasPrefix(d["openapi"].(string), "3."))
	s, _ := startServer(t, nil)
	routes := map[string]bool{}
	for _, rt := range s.apiRoutes() {
		key := strings.ToLower(rt.method) + " " + oasPath(rt.pattern)
		routes[key] = true
		op := oasOperation(rt.method, rt.pattern)
		require.NotNil(t, op, "route %s %s is not in openapi.json", rt.method, rt.pattern)
		require.NotEmpty(t, op["operationId"], key)
		require.NotEmpty(t, op["summary"], key)
		for _, m := range regexp.MustCompile(`\{(\w+)`).FindAllStringSubmatch(rt.pattern, -1) {
			declared := slices.ContainsFunc(asSlice(op["parameters"]), func(p any) bool {
				return obj(p)["name"] == m[1] && obj(p)["in"] == "path" && obj(p)["required"] == true
			})
			require.True(t, declared, "%s: path parameter %s is not declared", key, m[1])
		}
		sec, explicit := op["security"]
		switch rt.access {
		case accessOpen:
			require.Equal(t, []any{}, sec, "%s is open: security must be []", key)
		case accessMetrics:
			require.Contains(t, asSlice(sec), map[string]any{}, "%s: a credential is optional", key)
		default:
			require.False(t, explicit, "%s needs the default security", key)
		}
		if rt.method == "POST" {
			require.NotNil(t, obj(op["requestBody"]), "%s documents its body", key)
		}
	}
	for path, item := range obj(d["paths"]) {
		for method := range obj(item) {
			require.True(t, routes[method+" "+path], "openapi.json documents %s %s, which is not a route", method, path)
		}
	}
	require.Len(t, d["security"], 2)

	// The document is what the route serves, and it parses.
	rec := apiCall(t, s.APIHandler(), "GET", "/api/v1/openapi.json", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, string(openAPIDocument), rec.Body.String())
}

// Ensure that every status the document lists for an operation is one the API gives: each is
// produced here, and every answer is checked against its schema on the way (apiCall).
func TestOpenAPI_EveryResponse(t *testing.T) {
	openAPISeen.Lock()
	openAPISeen.m = map[string]int{}
	openAPISeen.Unlock()

	openAPIScenario(t)
	openAPISeen.Lock()
	defer openAPISeen.Unlock()
	for path, item := range obj(openAPIDoc()["paths"]) {
		for method, op := range obj(item) {
			for status := range obj(obj(op)["responses"]) {
				if status == "default" {
					continue // storage failures
				}
				key := strings.ToUpper(method) + " " + path + " " + status
				require.Positive(t, openAPISeen.m[key], "no test produced %s", key)
			}
		}
	}
}

// openAPIScenario calls every route with success and with each documented failure.
func openAPIScenario(t *testing.T) {
	const tok = "configured-token-0123"
	keys := newKeyStore(t)
	srv, addr := durableServer(t, t.TempDir(), func(o *Options) {
		o.NodeName = "n1"
		o.API = APIOptions{Authenticate: true, Keys: keys, Tokens: []string{tok}, MetricsAuth: true, TraceDir: t.TempDir()}
	})
	h := srv.APIHandler()
	call := func(method, path, body string, status int) *httptest.ResponseRecorder {
		t.Helper()
		rec := apiCall(t, h, method, path, tok, body)
		require.Equal(t, status, rec.Code, "%s %s: %s", method, path, rec.Body.String())
		return rec
	}
	for _, rt := range srv.apiRoutes() {
		if rt.access != accessOpen {
			path := strings.NewReplacer("{id}", "x", "{ref}", "x", "{topic...}", "x", "{name}", "x", "{site}", "x").Replace(rt.pattern)
			require.Equal(t, http.StatusUnauthorized, apiCall(t, h, rt.method, path, "", "").Code, path)
		}
	}
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("c1", true, sessionExpiry(60))
	c.subscribe(1, mqtt.Subscription{Filter: "t/#", QoS: mqtt.QoS1})

	call("GET", "/healthz", "", 200)
	call("GET", "/readyz", "", 200)
	call("GET", "/metrics", "", 200)
	call("GET", "/api/v1/openapi.json", "", 200)
	call("GET", "/api/v1/status", "", 200)
	call("GET", "/api/v1/metrics", "", 200)
	call("POST", "/api/v1/publish", `{"topic": "t/a", "payload": "x", "retain": true}`, 200)
	require.Equal(t, "t/a", c.expect(mqtt.TypePublish).Topic)
	call("POST", "/api/v1/publish", `{"topic": "t/+"}`, 400)
	call("GET", "/api/v1/clients?limit=1", "", 200)
	call("GET", "/api/v1/clients?limit=0", "", 400)
	call("GET", "/api/v1/clients/c1", "", 200)
	call("GET", "/api/v1/clients/nobody", "", 404)
	call("GET", "/api/v1/sessions", "", 200)
	call("GET", "/api/v1/sessions?connected=x", "", 400)
	call("GET", "/api/v1/subscriptions", "", 200)
	call("GET", "/api/v1/subscriptions?after=!", "", 400)
	call("GET", "/api/v1/retained", "", 200)
	call("GET", "/api/v1/retained?filter=%23/a", "", 400)
	call("GET", "/api/v1/retained/"+url.PathEscape("t/a"), "", 200)
	call("GET", "/api/v1/retained/t/b", "", 404)
	call("DELETE", "/api/v1/retained/t/a", "", 204)
	call("DELETE", "/api/v1/retained/t/a", "", 404)
	call("GET", "/api/v1/ds/storages", "", 200)
	call("GET", "/api/v1/ds/storages/default", "", 200)
	call("GET", "/api/v1/ds/storages/other", "", 404)
	call("GET", "/api/v1/ds/sites", "", 200)
	call("GET", "/api/v1/ds/sites/n1", "", 200)
	call("GET", "/api/v1/ds/sites/n2", "", 404)
	call("GET", "/api/v1/ds/storages/default/replicas", "", 200)
	call("GET", "/api/v1/ds/storages/other/replicas", "", 404)
	call("PUT", "/api/v1/ds/storages/default/replicas", `["n1"]`, 409)
	call("PUT", "/api/v1/ds/storages/default/replicas", `{"sites": 1}`, 400)
	call("PUT", "/api/v1/ds/storages/other/replicas", `["n1"]`, 404)
	call("PUT", "/api/v1/ds/storages/default/replicas/n2", "", 409)
	call("PUT", "/api/v1/ds/storages/other/replicas/n2", "", 404)
	call("DELETE", "/api/v1/ds/storages/default/replicas/n1", "", 409)
	call("DELETE", "/api/v1/ds/storages/other/replicas/n1", "", 404)
	call("DELETE", "/api/v1/ds/sites/n2", "", 409)
	call("POST", "/api/v1/traces", `{"name": "tr", "client_id": "c1"}`, 201)
	call("POST", "/api/v1/traces", `{"name": "tr", "topic": "t/#"}`, 409)
	call("POST", "/api/v1/traces", `{"name": "tr2"}`, 400)
	call("GET", "/api/v1/traces", "", 200)
	call("GET", "/api/v1/traces/tr", "", 200)
	call("GET", "/api/v1/traces/none", "", 404)
	call("GET", "/api/v1/traces/tr/log", "", 200)
	call("GET", "/api/v1/traces/none/log", "", 404)
	call("PUT", "/api/v1/traces/tr/stop", "", 200)
	call("PUT", "/api/v1/traces/none/stop", "", 404)
	call("DELETE", "/api/v1/traces/tr", "", 204)
	call("DELETE", "/api/v1/traces/tr", "", 404)
	call("POST", "/api/v1/api_keys", `{"name": "k", "expires_in": "1h"}`, 201)
	call("POST", "/api/v1/api_keys", `{"name": "k"}`, 409)
	call("POST", "/api/v1/api_keys", `{"name": ""}`, 400)
	call("GET", "/api/v1/api_keys", "", 200)
	call("DELETE", "/api/v1/api_keys/k", "", 204)
	call("DELETE", "/api/v1/api_keys/k", "", 404)
	call("DELETE", "/api/v1/clients/c1?session=no", "", 400)
	call("DELETE", "/api/v1/clients/c1", "", 204)
	c.expect(mqtt.TypeDisconnect)
	call("DELETE", "/api/v1/clients/nobody", "", 404)
	call("GET", "/api/v1/nothing", "", 404)
	call("PATCH", "/api/v1/clients", "", 405)

	// The replica changes of a cluster (TestAPI_DSReplicas has the details).
	cl, _ := durableServer(t, t.TempDir(), func(o *Options) {
		o.API = APIOptions{Authenticate: true, Tokens: []string{tok}}
		o.Cluster = membersFake{}
	})
	ch := cl.APIHandler()
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/api/v1/ds/storages/default/replicas", `["a", "b"]`, 202},
		{"PUT", "/api/v1/ds/storages/default/replicas/c", "", 202},
		{"PUT", "/api/v1/ds/storages/default/replicas/z", "", 404},
		{"DELETE", "/api/v1/ds/storages/default/replicas/c", "", 202},
		{"DELETE", "/api/v1/ds/sites/c", "", 202},
		{"DELETE", "/api/v1/ds/sites/z", "", 404},
	} {
		require.Equal(t, c.status, apiCall(t, ch, c.method, c.path, tok, c.body).Code, "%s %s", c.method, c.path)
	}

	// A broker without a key store, then stopped.
	other, _ := startServer(t, nil)
	oh := other.APIHandler()
	for _, m := range []string{"GET", "POST"} {
		require.Equal(t, http.StatusNotFound, apiCall(t, oh, m, "/api/v1/api_keys", "", `{"name": "k"}`).Code)
	}
	closeServer(t, other)
	require.Equal(t, http.StatusServiceUnavailable, apiCall(t, oh, "GET", "/readyz", "", "").Code)
}
