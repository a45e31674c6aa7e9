package replication

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// A handler set with Handle serves other sites' Posts on the transport's port, and the node's
// own requests still reach the node.
func TestHandleAndPost(t *testing.T) {
	c := newTestCluster(t, 2, 1)
	got := make(chan string, 1)
	c.sites[0].node.Handle("/v1/extra/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- r.URL.Path + " " + r.Header.Get("X-From") + " " + string(body)
		w.WriteHeader(http.StatusAccepted)
	}))
	ctx := context.Background()
	status, err := c.sites[1].node.Post(ctx, c.ids[0], "/v1/extra/x", http.Header{"X-From": {"one"}}, []byte("hi"))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, "/v1/extra/x one hi", <-got)
	// The node's own paths are untouched: a forwarded write still commits.
	c.write(0, "after")
	status, err = c.sites[1].node.Post(ctx, c.ids[0], "/v1/nothing", nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, status)
}
