package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ensure that the dashboard's files are served without a credential by an API that requires
// one everywhere else, with their content types and a policy that keeps the page to its own
// origin, that the root sends a browser to the dashboard, and that a name that is not one of
// the files is not found.
func TestDashboard_StaticFiles(t *testing.T) {
	s, _ := startServer(t, &Options{API: APIOptions{Authenticate: true, Keys: newKeyStore(t), MetricsAuth: true}})
	h := s.APIHandler()
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	for path, ctype := range map[string]string{
		"/dashboard/":           "text/html; charset=utf-8",
		"/dashboard/index.html": "text/html; charset=utf-8",
		"/dashboard/app.js":     "text/javascript; charset=utf-8",
		"/dashboard/chart.js":   "text/javascript; charset=utf-8",
		"/dashboard/style.css":  "text/css; charset=utf-8",
	} {
		rec := serve("GET", path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		require.Equal(t, ctype, rec.Header().Get("Content-Type"), path)
		require.Contains(t, rec.Header().Get("Content-Security-Policy"), "script-src 'self'", path)
		require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), path)
		require.NotEmpty(t, rec.Header().Get("ETag"), path)

		// Revalidation answers 304.
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		again := httptest.NewRecorder()
		h.ServeHTTP(again, req)
		require.Equal(t, http.StatusNotModified, again.Code, path)
	}
	require.Contains(t, serve("GET", "/dashboard/").Body.String(), `<script src="app.js" defer></script>`)
	require.Equal(t, http.StatusOK, serve("HEAD", "/dashboard/app.js").Code)

	rec := serve("GET", "/")
	require.Equal(t, http.StatusFound, rec.Code)
	require.Equal(t, "/dashboard/", rec.Header().Get("Location"))
	rec = serve("GET", "/dashboard")
	require.Equal(t, http.StatusTemporaryRedirect, rec.Code) // ServeMux: a subtree without its slash
	require.Equal(t, "/dashboard/", rec.Header().Get("Location"))
	for _, path := range []string{"/dashboard/nothing.js", "/dashboard/static/app.js", "/dashboard/doc.go"} {
		require.Equal(t, http.StatusNotFound, serve("GET", path).Code, path)
	}

	// The data stays behind the credential, and unknown paths still answer the API's JSON.
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients", "", ""), http.StatusUnauthorized, codeUnauthorized)
	requireAPIError(t, apiCall(t, h, "GET", "/metrics", "", ""), http.StatusUnauthorized, codeUnauthorized)
	requireAPIError(t, apiCall(t, h, "GET", "/nothing", "", ""), http.StatusNotFound, codeNotFound)
	requireAPIError(t, apiCall(t, h, "POST", "/", "", ""), http.StatusNotFound, codeNotFound)
}

// Ensure that the dashboard is a client of the documented API: every route in the route table
// of app.js is an operation of the OpenAPI document that needs a credential, the script names
// no API path outside that table, makes every request through one fetch, and never writes
// HTML from strings (names from the broker are set as text).
func TestDashboard_UsesDocumentedRoutes(t *testing.T) {
	js, err := os.ReadFile("dashboard/static/app.js")
	require.NoError(t, err)
	src := string(js)
	table := regexp.MustCompile(`(?m)^\s+(\w+): \['(GET|POST|PUT|DELETE)', '([^']+)'\],$`).FindAllStringSubmatch(src, -1)
	require.GreaterOrEqual(t, len(table), 10)
	srv, _ := startServer(t, nil)
	access := map[string]access{}
	for _, rt := range srv.apiRoutes() {
		access[rt.method+" "+oasPath(rt.pattern)] = rt.access
	}
	apiPaths := 0
	for _, m := range table {
		name, method, path := m[1], m[2], m[3]
		require.NotNil(t, oasOperation(method, path), "app.js route %s: %s %s is not in openapi.json", name, method, path)
		a, ok := access[method+" "+path]
		require.True(t, ok, "app.js route %s: %s %s is not a route", name, method, path)
		require.NotEqual(t, accessOpen, a, "app.js route %s: %s %s is an open route", name, method, path)
		if strings.HasPrefix(path, "/api/") {
			apiPaths++
		}
	}
	require.Equal(t, apiPaths, strings.Count(src, "'/api/"), "app.js names an API path outside its route table")
	require.Equal(t, 1, strings.Count(src, "fetch("), "app.js calls fetch outside call()")
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		require.NotContains(t, src, banned)
	}
}
