package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"

	"github.com/mqttds/mqttds/ds"
)

// Read barriers. Reads are served from the local replica, which may lag the shard's leader by
// a replication round: a broker that takes over a session another broker just wrote could
// read it as it was before. Node.Barrier closes that window with raft's ReadIndex: the
// replica asks the leader (itself, if it leads) for its commit index, which the leader
// confirms it still holds by a round of heartbeats to a quorum, and waits until it has
// applied up to that index. Every write acknowledged before Barrier was called is then
// visible to local reads.
//
// A request whose answer is lost (the leader changed, or a follower knew no leader and raft
// dropped it) is asked again every readRetryTicks ticks until the caller's context ends.

// readRetryTicks is how often (in ticks) a read barrier without an answer is asked again.
const readRetryTicks = 3

// readReq is one Barrier call waiting on a group.
type readReq struct {
	key    []byte          // the request context raft returns in the ReadState: site:8 seq:8
	done   chan error      // buffered: the loop never blocks on it
	gone   <-chan struct{} // the caller's context's Done
	index  uint64          // the read index, once the leader answered
	issued uint64          // the tick it was last asked at
}

// barriers are a group's read barriers: queued by Barrier, and, on the loop goroutine, those
// asked of raft and those waiting for their index to be applied.
type barriers struct {
	mu      sync.Mutex
	queued  []*readReq
	stopped error // set once the group stopped: later barriers fail with it

	asked   []*readReq // loop: no read index yet
	waiting []*readReq // loop: read index known, not applied yet
	// waitingApply counts the barriers that have their read index and wait for it to be
	// applied (tests look at it).
	waitingApply atomic.Int64
}

// Barrier returns once this site's replica of shard has applied every entry the shard had
// committed when Barrier was called, so that a local read made after it sees every write
// acknowledged before it (a linearizable read point). It costs a round of heartbeats from the
// leader to a quorum, and on a follower a round trip to the leader. It fails when ctx ends
// first (a site cut off from the shard's quorum cannot know what was committed), when the
// site holds no replica of shard, or when the node stops.
func (n *Node) Barrier(ctx context.Context, shard int) error {
	if shard < 0 || shard >= n.cfg.NumShards {
		return fmt.Errorf("%w %d", ds.ErrInvalidShard, shard)
	}
	g := n.group(shard)
	if g == nil {
		if n.started.Load() {
			return fmt.Errorf("%w: shard %d", ErrNotReplica, shard)
		}
		return fmt.Errorf("replication: shard %d: node not started", shard)
	}
	key := binary.BigEndian.AppendUint64(nil, uint64(n.cfg.Site))
	key = binary.BigEndian.AppendUint64(key, g.seq.Add(1))
	r := &readReq{key: key, done: make(chan error, 1), gone: ctx.Done()}
	g.reads.mu.Lock()
	if err := g.reads.stopped; err != nil {
		g.reads.mu.Unlock()
		return err
	}
	g.reads.queued = append(g.reads.queued, r)
	g.reads.mu.Unlock()
	g.signal()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("replication: read barrier on shard %d: %w", shard, ctx.Err())
	}
}

// askReads hands the queued barriers to raft, and on a tick asks again those that got no
// answer for readRetryTicks and forgets those whose caller gave up (step 1).
func (g *group) askReads(ticked bool) {
	g.reads.mu.Lock()
	queued := g.reads.queued
	g.reads.queued = nil
	g.reads.mu.Unlock()
	for _, r := range queued {
		g.rn.ReadIndex(r.key)
		r.issued = g.ticks
		g.reads.asked = append(g.reads.asked, r)
	}
	if !ticked {
		return
	}
	g.reads.asked = dropGone(g.reads.asked)
	g.reads.waiting = dropGone(g.reads.waiting)
	g.reads.waitingApply.Store(int64(len(g.reads.waiting)))
	for _, r := range g.reads.asked {
		if g.ticks-r.issued >= readRetryTicks {
			g.rn.ReadIndex(r.key)
			r.issued = g.ticks
		}
	}
}

func dropGone(rs []*readReq) []*readReq {
	out := rs[:0]
	for _, r := range rs {
		select {
		case <-r.gone:
		default:
			out = append(out, r)
		}
	}
	clear(rs[len(out):])
	return out
}

// readStates gives the barriers raft answered their read index, and releases every barrier
// whose index this replica has applied (step 8, after the Ready's entries are applied).
func (g *group) readStates(states []raft.ReadState) {
	for _, rs := range states {
		for i, r := range g.reads.asked {
			if bytes.Equal(r.key, rs.RequestCtx) {
				r.index = rs.Index
				g.reads.asked = append(g.reads.asked[:i], g.reads.asked[i+1:]...)
				g.reads.waiting = append(g.reads.waiting, r)
				break
			}
		}
	}
	if len(g.reads.waiting) == 0 {
		return
	}
	applied := g.applied.Load()
	out := g.reads.waiting[:0]
	for _, r := range g.reads.waiting {
		if r.index <= applied {
			r.done <- nil
			continue
		}
		out = append(out, r)
	}
	clear(g.reads.waiting[len(out):])
	g.reads.waiting = out
	g.reads.waitingApply.Store(int64(len(out)))
}

// failReads fails every barrier, and those asked later, with err (the group stopped).
func (g *group) failReads(err error) {
	g.reads.mu.Lock()
	queued := g.reads.queued
	g.reads.queued, g.reads.stopped = nil, err
	g.reads.mu.Unlock()
	for _, rs := range [][]*readReq{queued, g.reads.asked, g.reads.waiting} {
		for _, r := range rs {
			r.done <- err
		}
	}
	g.reads.asked, g.reads.waiting = nil, nil
	g.reads.waitingApply.Store(0)
}
