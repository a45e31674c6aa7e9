package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// Prefix is the path under which Handler serves the dashboard; Prefix itself is the page.
const Prefix = "/dashboard/"

//go:embed static
var static embed.FS

// contentSecurityPolicy lets the page load only its own files and talk only to its own
// origin: no inline script, no third-party resource, no framing by another site.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the embedded files under Prefix: Prefix answers index.html, a name that is
// not one of the files answers 404.
func Handler() http.Handler {
	return http.HandlerFunc(serveFile)
}

func serveFile(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	if !fs.ValidPath(name) { // "..", "/x", "a//b"
		http.NotFound(w, r)
		return
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil { // not a file, or a directory
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidated every time (the ETag makes that cheap), so the page a browser runs is the one
	// of the running binary.
	sum := sha256.Sum256(b)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	// No modification time (embedded files have none): ServeContent sets the content type from
	// the name and answers HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
