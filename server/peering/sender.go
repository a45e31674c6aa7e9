package peering

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxBatch bounds how many messages one publish request carries.
const maxBatch = 1024

// peer is the sending side towards one other broker.
type peer struct {
	n     *Node
	name  string
	queue chan Forwarded
	wake  chan struct{}

	mu sync.Mutex
	// pending are the route changes not yet sent: filter → present.
	pending map[string]bool
	// full asks for the whole route set next (at start, and after the peer lost track).
	full bool
	// seq numbers the next delta; it restarts with every whole set.
	seq uint64

	// down is set while the last request to the peer got no answer; the sender's requests
	// (an empty delta at least every SyncInterval) find out when it is back.
	down atomic.Bool
}

func (p *peer) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run sends route updates and message batches until the node closes. One goroutine does
// both, so the requests to a peer go one at a time and messages arrive in the order they were
// queued.
func (p *peer) run() {
	defer p.n.wg.Done()
	tick := time.NewTicker(p.n.cfg.SyncInterval)
	defer tick.Stop()
	batch := make([]Forwarded, 0, maxBatch)
	for {
		sync := false
		select {
		case <-p.n.stop:
			return
		case <-tick.C:
			sync = true
		case <-p.wake:
		case m := <-p.queue:
			batch = append(batch[:0], m)
		}
		p.sendRoutes(sync)
		for len(batch) < maxBatch {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
				continue
			default:
			}
			break
		}
		if len(batch) > 0 {
			p.sendBatch(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
}

// sendRoutes sends the pending route changes, the whole set if the peer needs it, or (sync) an
// empty delta that lets a peer that lost track say so.
func (p *peer) sendRoutes(sync bool) {
	p.mu.Lock()
	if !p.full && len(p.pending) == 0 && !sync {
		p.mu.Unlock()
		return
	}
	u := &RouteUpdate{Epoch: p.n.epoch, Full: p.full}
	var sent map[string]bool
	if p.full {
		// Take the set and drop the pending changes under the peer lock: a change made after
		// this point lands in pending again and goes out as the next delta.
		clear(p.pending)
		p.mu.Unlock()
		for _, f := range p.n.routes() {
			u.Changes = append(u.Changes, RouteChange{Filter: f, Present: true})
		}
		p.mu.Lock()
		p.seq = 0
	} else {
		sent = p.pending
		p.pending = map[string]bool{}
		for f, present := range sent {
			u.Changes = append(u.Changes, RouteChange{Filter: f, Present: present})
		}
	}
	u.Seq = p.seq
	p.mu.Unlock()

	status, err := p.post(RoutesPath, u.Marshal())
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err == nil && status == http.StatusNoContent:
		p.full = false
		p.seq = u.Seq + 1
		p.n.stats.routeUpdatesSent.Add(1)
		if u.Full {
			p.n.stats.resyncs.Add(1)
		}
	default:
		// The peer may or may not have applied it: only the whole set is certain to repair
		// either case.
		if err != nil {
			p.n.log.Debug("peering: route update not delivered", "peer", p.name, "err", err)
		} else if status != http.StatusConflict {
			p.n.log.Warn("peering: route update refused", "peer", p.name, "status", status)
		}
		p.full = true
	}
}

func (p *peer) sendBatch(batch []Forwarded) {
	status, err := p.post(PublishPath, MarshalBatch(batch))
	if err != nil || status != http.StatusNoContent {
		p.n.stats.dropped.Add(uint64(len(batch)))
		p.n.log.Debug("peering: messages not delivered", "peer", p.name, "messages", len(batch), "status", status, "err", err)
		return
	}
	p.n.stats.forwarded.Add(uint64(len(batch)))
}

func (p *peer) post(path string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.n.cfg.RequestTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return p.postCtx(ctx, path, body)
}

// postCtx sends one request and notes whether the peer answered.
func (p *peer) postCtx(ctx context.Context, path string, body []byte) (int, error) {
	status, err := p.n.cfg.Transport.Post(ctx, p.name, path, body)
	p.down.Store(err != nil)
	return status, err
}
