package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/site"
)

// Forwarding: a write on a replica that does not lead its shard travels, as ds encoded it
// before preparing, to the leader (POST /v1/forward/<shard> on the leader's transport port),
// which prepares and commits it like a local write. A replica that is asked but does not lead
// answers 409 and names the leader it knows in the Mqttds-Leader header.
//
// Only "not the leader" (or a leader that cannot be dialled) is retried: such a write was never
// proposed. Any other failure (a
// lost connection, an outcome ds cannot know) goes back to the writer, who retries if it
// wants, as an MQTT client retries a PUBLISH it got no PUBACK for.

const (
	forwardPath    = "/v1/forward/"
	leaderHeader   = "Mqttds-Leader"
	maxForwardBody = 64 << 20
	// forwardPatience bounds how long a write waits for a shard to have a leader.
	forwardPatience = 10 * time.Second
)

type forwarder struct{ n *Node }

func (f forwarder) Leads(shard int) bool {
	g := f.n.group(shard)
	return g != nil && g.ready.Load()
}

// Barrier is ds.ReadBarrier: Node.Barrier.
func (f forwarder) Barrier(ctx context.Context, shard int) error { return f.n.Barrier(ctx, shard) }

func (f forwarder) Forward(ctx context.Context, shard int, data []byte) error {
	n := f.n
	err := n.atLeader(ctx, shard, "forwarding a write", func(target site.ID) (site.ID, error) {
		if target == n.cfg.Site {
			return 0, n.db.StoreForwarded(ctx, shard, data)
		}
		return n.forwardTo(ctx, target, shard, data)
	})
	if err == nil {
		n.metrics.forwarded.Add(1)
	}
	return err
}

// atLeader calls call with the site that leads shard, as far as this site knows, and again
// with the next one while the answer is "not the leader" (the leader call names, or another
// replica), for at most forwardPatience. what names the request in the error.
func (n *Node) atLeader(ctx context.Context, shard int, what string, call func(target site.ID) (hint site.ID, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, forwardPatience)
	defer cancel()
	replicas := n.forwardCandidates(shard)
	var hint site.ID
	var last error
	for attempt := 0; ; attempt++ {
		target := hint
		if target == 0 {
			if g := n.group(shard); g != nil {
				target = site.ID(g.leader.Load())
			} else if len(replicas) > 0 {
				target = replicas[attempt%len(replicas)]
			}
		}
		hint = 0
		var err error
		if target == 0 {
			err = &NotLeaderError{Shard: shard}
		} else {
			hint, err = call(target)
		}
		if err == nil || !errors.Is(err, ErrNotLeader) {
			return err
		}
		last = err
		pause := time.Duration(min(attempt+1, 10)) * 10 * time.Millisecond
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: %s of shard %d: %w (last: %v)", what, shard, ctx.Err(), last)
		case <-time.After(pause):
		}
	}
}

// forwardTo posts a forwarded write to site to. It returns the leader the site names when it
// does not lead.
func (n *Node) forwardTo(ctx context.Context, to site.ID, shard int, data []byte) (site.ID, error) {
	status, msg, leader, err := n.postToLeader(ctx, to, forwardPath, shard, data, 4096)
	switch {
	case err != nil:
		return leader, err
	case status == http.StatusNoContent:
		return 0, nil
	case status == http.StatusServiceUnavailable:
		return 0, fmt.Errorf("replication: site %v: %s: %w", to, bytes.TrimSpace(msg), ds.ErrNotCommitted)
	default:
		return 0, fmt.Errorf("replication: site %v answered %d: %s", to, status, bytes.TrimSpace(msg))
	}
}

// postToLeader posts body to path<shard> on site to, which should lead shard, and returns the
// answer's status and body (at most limit bytes, more is an error). A site that does not lead
// (409) gives a *NotLeaderError and the leader it names; so does a site that cannot be dialled,
// since nothing reached it: the caller asks another while the shard elects a leader.
func (n *Node) postToLeader(ctx context.Context, to site.ID, path string, shard int, body []byte, limit int64) (int, []byte, site.ID, error) {
	url := "http://" + to.String() + path + strconv.Itoa(shard)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return 0, nil, 0, fmt.Errorf("replication: site %v: %v: %w", to, err, &NotLeaderError{Shard: shard})
		}
		return 0, nil, 0, fmt.Errorf("replication: site %v: %w", to, err)
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return 0, nil, 0, fmt.Errorf("replication: site %v: %w", to, err)
	case int64(len(ans)) > limit:
		return 0, nil, 0, fmt.Errorf("replication: site %v answered with over %d bytes", to, limit)
	case resp.StatusCode == http.StatusConflict:
		leader, _ := site.Parse(resp.Header.Get(leaderHeader))
		return 0, nil, leader, &NotLeaderError{Shard: shard, Leader: leader}
	}
	return resp.StatusCode, ans, 0, nil
}

func (n *Node) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+forwardPath+"{shard}", n.serveForward)
	mux.HandleFunc("POST "+readPath+"{shard}", n.serveRead)
	mux.HandleFunc("GET "+sitePath, n.serveSite)
	mux.HandleFunc("GET "+sitesPath, n.serveSites)
	mux.HandleFunc("POST "+joinPath, n.serveJoin)
	mux.HandleFunc("POST "+snapshotPath+"{shard}", n.serveSnapshot)
	mux.HandleFunc("GET "+shardPath+"{shard}", n.serveShard)
	mux.HandleFunc("POST "+targetPath+"{shard}", n.serveTarget)
	mux.HandleFunc("POST "+replicaPath+"{shard}", n.serveReplica)
	return mux
}

func (n *Node) serveForward(w http.ResponseWriter, r *http.Request) {
	shard, data, ok := n.leaderRequest(w, r, maxForwardBody)
	if !ok {
		return
	}
	err := n.db.StoreForwarded(r.Context(), shard, data)
	var nl *NotLeaderError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &nl), errors.Is(err, ErrNotLeader):
		n.notLeader(w, shard, n.group(shard))
	case errors.Is(err, ds.ErrNotCommitted):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case errors.Is(err, ds.ErrInvalidMessage), errors.Is(err, ds.ErrInvalidTopic), errors.Is(err, ds.ErrCorruption), errors.Is(err, ds.ErrFormatVersion):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// leaderRequest reads the shard and the body (at most limit bytes) of a request that only a
// shard's leader serves; it answers the request itself (400, 413, or 409 with the leader this
// site knows) and returns false when this site cannot serve it.
func (n *Node) leaderRequest(w http.ResponseWriter, r *http.Request, limit int64) (int, []byte, bool) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= n.cfg.NumShards {
		http.Error(w, "bad shard", http.StatusBadRequest)
		return 0, nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return 0, nil, false
	}
	g := n.group(shard)
	if g == nil || !g.ready.Load() || n.db == nil {
		n.notLeader(w, shard, g)
		return 0, nil, false
	}
	return shard, body, true
}

func (n *Node) notLeader(w http.ResponseWriter, shard int, g *group) {
	if g != nil {
		if l := site.ID(g.leader.Load()); l != 0 && l != n.cfg.Site {
			w.Header().Set(leaderHeader, l.String())
		}
	}
	http.Error(w, fmt.Sprintf("site %v does not lead shard %d", n.cfg.Site, shard), http.StatusConflict)
}

// forwardCandidates lists the sites a write of shard may go to when this site knows no
// leader: the shard's founding replicas first, then every other site (replicas move); never
// this one.
func (n *Node) forwardCandidates(shard int) []site.ID {
	var out []site.ID
	for _, id := range append(n.place.Replicas(shard), n.knownSites()...) {
		if !slices.Contains(out, id) && id != n.cfg.Site {
			out = append(out, id)
		}
	}
	return out
}
