package replication

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/mqttds/mqttds/replication/site"
)

// Remote reads: a site that holds no replica of a shard (its replication factor is below the
// number of sites, or the shard moved away) reads it at the shard's leader, so that every site
// serves every shard. ds encodes the read (ds.RemoteReader); this file carries it to the leader
// (POST /v1/read/<shard> on its transport port), which answers with ds.DB.ServeRead from its
// applied state. The leader is asked rather than any replica: a leader has applied every write
// it acknowledged, so a remote read sees every write acknowledged through that leader, and a
// read that must see the writes of every leader passes a barrier (ds.DB.Barrier travels too).
// A site that does not lead answers 409 with the leader it knows, as for forwarded writes.

const (
	readPath = "/v1/read/"
	// maxReadRequest bounds a read request's body (a read names an iterator, a key, a filter).
	maxReadRequest = 1 << 20
)

// Holds is ds.RemoteReader: this site serves reads of shard from its own replica once the
// replica exists and has applied something (a replica being added holds nothing until its
// snapshot is installed). A replica that left its group is dropped from the node before its
// data is deleted, so it stops serving first.
func (f forwarder) Holds(shard int) bool {
	g := f.n.group(shard)
	return g != nil && g.applied.Load() > 0
}

// Read is ds.RemoteReader: it has the leader of shard answer req.
func (f forwarder) Read(ctx context.Context, shard int, req []byte) ([]byte, error) {
	n := f.n
	var ans []byte
	err := n.atLeader(ctx, shard, "reading", func(target site.ID) (site.ID, error) {
		if target == n.cfg.Site {
			if g := n.group(shard); g == nil || !g.ready.Load() {
				return 0, &NotLeaderError{Shard: shard}
			}
			var err error
			ans, err = n.db.ServeRead(ctx, shard, req)
			return 0, err
		}
		var hint site.ID
		var err error
		ans, hint, err = n.readAt(ctx, target, shard, req)
		return hint, err
	})
	if err == nil {
		n.metrics.remoteReads.Add(1)
	}
	return ans, err
}

// readAt posts a read to site to; it returns the leader that site names when it does not lead.
func (n *Node) readAt(ctx context.Context, to site.ID, shard int, req []byte) ([]byte, site.ID, error) {
	status, ans, leader, err := n.postToLeader(ctx, to, readPath, shard, req, maxForwardBody)
	switch {
	case err != nil:
		return nil, leader, err
	case status != http.StatusOK:
		return nil, 0, fmt.Errorf("replication: site %v answered a read with %d: %s", to, status, bytes.TrimSpace(ans))
	}
	return ans, 0, nil
}

func (n *Node) serveRead(w http.ResponseWriter, r *http.Request) {
	shard, req, ok := n.leaderRequest(w, r, maxReadRequest)
	if !ok {
		return
	}
	ans, err := n.db.ServeRead(r.Context(), shard, req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.metrics.servedReads.Add(1)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(ans)
}
