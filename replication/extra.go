package replication

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/mqttds/mqttds/replication/site"
)

// Other components of a site (the broker's peering) talk to the other sites over the node's
// transport, beside the node's own requests: one port, one TLS configuration, one set of
// addresses. Their paths must not start with "/v1/" followed by a name the node uses.

// Handle serves h for the requests whose path starts with prefix, on the transport's port.
// Call it before the other sites send such requests.
func (n *Node) Handle(prefix string, h http.Handler) {
	n.extraMu.Lock()
	defer n.extraMu.Unlock()
	n.extra = append(n.extra, extraHandler{prefix, h})
}

type extraHandler struct {
	prefix string
	h      http.Handler
}

// withExtra routes the requests of a Handle prefix to their handler, and the others to h.
func (n *Node) withExtra(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.extraMu.Lock()
		extra := n.extra
		n.extraMu.Unlock()
		for _, e := range extra {
			if strings.HasPrefix(r.URL.Path, e.prefix) {
				e.h.ServeHTTP(w, r)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Post sends body to path on site to, with header, and returns the answer's status.
func (n *Node) Post(ctx context.Context, to site.ID, path string, header http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+to.String()+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}
