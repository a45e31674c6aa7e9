package replication

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/raftstore"
	"github.com/mqttds/mqttds/replication/site"
)

// Errors of the write path. A batch refused by Apply was not proposed; a batch whose Wait
// fails with an error wrapping ds.ErrNotCommitted may or may not be committed.
var (
	// ErrNotLeader is wrapped by NotLeaderError; it is ds's, so that ds forwards the write.
	ErrNotLeader = ds.ErrNotLeader
	// ErrNotReplica is returned for a shard this site holds no replica of.
	ErrNotReplica = errors.New("replication: this site holds no replica of the shard")
	// ErrStopped is returned once the node is closed.
	ErrStopped = errors.New("replication: node stopped")

	errLeadershipLost = fmt.Errorf("replication: leadership lost with the batch in flight: %w", ds.ErrNotCommitted)
	errProposalFailed = fmt.Errorf("replication: an earlier batch of the shard was not proposed: %w", ds.ErrNotCommitted)
	errSuperseded     = fmt.Errorf("replication: another replica's batch committed first: %w", ds.ErrNotCommitted)
	errRemoved        = fmt.Errorf("replication: this site's replica left the shard: %w", ds.ErrNotCommitted)
)

// NotLeaderError is returned by a write on a replica that does not lead its shard (or leads it
// but has not yet applied its predecessor's log). Leader is the leader it knows of, 0 if none.
type NotLeaderError struct {
	Shard  int
	Leader site.ID
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return fmt.Sprintf("replication: shard %d has no leader here (election in progress)", e.Shard)
	}
	return fmt.Sprintf("replication: shard %d is led by site %v", e.Shard, e.Leader)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// proposal is a batch handed over by ds, from Apply until it is applied or abandoned. It is
// the ds.Commit that Apply returns.
type proposal struct {
	id   proposalID
	data []byte
	done chan error // buffered: the loop never blocks on it
	// start is when ds handed the batch over: its commit latency runs from there to its
	// apply on this replica.
	start time.Time
}

func (p *proposal) Wait() error { return <-p.done }

// group is this site's replica of one shard: its raft node, storage, and the state the loop
// goroutine keeps. Fields under "loop" are touched only by run.
type group struct {
	shard int
	n     *Node
	st    *raftstore.Storage
	log   *slog.Logger
	wake  chan struct{}

	mu struct {
		sync.Mutex
		msgs        []*pb.Message
		props       []*proposal
		unreachable []uint64
		reports     []snapReport         // outcomes of snapshot sends
		staged      map[stagedKey]string // received snapshots, written and checked
		targets     [][]byte             // target entries to propose
		created     []uint64             // sites that created their replica when asked
		checked     *bool                // a membership check's answer: removed or not
		stopped     bool
	}
	// view is the membership Status shows (members.go).
	view atomic.Pointer[memberView]
	// progress is, on a leader, how far each other replica has its log (refreshed every
	// progressTicks); nil on a follower.
	progress atomic.Pointer[[]ReplicaProgress]
	proposed atomic.Uint64 // batches this replica proposed as leader
	// reads are the read barriers (barrier.go).
	reads barriers

	// ready is set while this replica leads the shard with its state current: Apply
	// proposes only then.
	ready   atomic.Bool
	leader  atomic.Uint64
	term    atomic.Uint64
	applied atomic.Uint64
	commit  atomic.Uint64
	seq     atomic.Uint64

	// loop
	rn          *raft.RawNode
	pending     []*proposal // proposed, in log order, not yet applied
	lastIndex   uint64      // the last index persisted to the log
	isLeader    bool
	wantBarrier bool   // set barrier to lastIndex at the end of this pass
	barrier     uint64 // a leader resumes once everything up to it is applied
	needReload  bool   // ds state may hold batches that will not commit
	ticks       uint64
	trace       func(step int)
	outgoing    map[uint64]*outSnap // snapshots raft took, by token, not yet sent
	snapSeq     uint64
	sending     int // snapshot streams in progress
	m           membership
}

// newGroup opens a group over its storage: one with a configuration, or an empty one that a
// leader is adding (it learns its configuration from the snapshot it is sent).
func newGroup(n *Node, shard int, db *pebble.DB, st *raftstore.Storage) (*group, error) {
	applied, err := readApplied(db, shard)
	if err != nil {
		return nil, err
	}
	target, err := readTarget(db, shard)
	if err != nil {
		return nil, err
	}
	g := &group{shard: shard, n: n, st: st, wake: make(chan struct{}, 1),
		log: n.log.With("shard", shard)}
	g.m.target, g.m.leader = target.sites, target.leader
	g.m.catchMark, g.m.asked, g.m.created = map[uint64]uint64{}, map[uint64]uint64{}, map[uint64]bool{}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        uint64(n.cfg.Site),
		ElectionTick:              n.cfg.ElectionTicks,
		HeartbeatTick:             1,
		Storage:                   snapStorage{st, g},
		Applied:                   applied,
		MaxSizePerMsg:             1 << 20,
		MaxInflightMsgs:           256,
		MaxCommittedSizePerReady:  8 << 20,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		// A follower must not forward a batch to the leader: it was prepared on a state that
		// is not the leader's.
		DisableProposalForwarding: true,
		Logger:                    raftLogger{n.log.With("shard", shard)},
	})
	if err != nil {
		return nil, fmt.Errorf("replication: shard %d: %w", shard, err)
	}
	g.rn = rn
	g.applied.Store(applied)
	// Proposal ids need only be unique among this site's proposals still in the log; starting
	// from the clock keeps them unique across restarts too.
	g.seq.Store(uint64(time.Now().UnixNano()))
	last, _ := st.LastIndex()
	g.lastIndex = last
	g.publishView("", 0)
	return g, nil
}

func readApplied(db *pebble.DB, shard int) (uint64, error) {
	v, closer, err := db.Get(ds.ReplicaStateKey(shard))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: shard %d: applied index of %d bytes", raftstore.ErrCorrupt, shard, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// propose queues cb for the loop (ds calls it from the shard's flusher, under its write lock:
// it must not wait for the loop).
func (g *group) propose(p *proposal) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.stopped {
		return ErrStopped
	}
	if !g.ready.Load() {
		return &NotLeaderError{Shard: g.shard, Leader: site.ID(g.leader.Load())}
	}
	g.mu.props = append(g.mu.props, p)
	g.signal()
	return nil
}

func (g *group) deliver(m *pb.Message) {
	g.mu.Lock()
	if !g.mu.stopped {
		g.mu.msgs = append(g.mu.msgs, m)
	}
	g.mu.Unlock()
	g.signal()
}

func (g *group) unreachable(peer site.ID) {
	g.mu.Lock()
	g.mu.unreachable = append(g.mu.unreachable, uint64(peer))
	g.mu.Unlock()
	g.signal()
}

func (g *group) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// run drives the group until stop closes. A storage failure stops the group: the replica is
// then down for this shard and the others go on without it.
func (g *group) run(stop <-chan struct{}) {
	ticker := time.NewTicker(g.n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		ticked := false
		select {
		case <-stop:
			g.stop(ErrStopped)
			return
		case <-ticker.C:
			ticked = true
		case <-g.wake:
		}
		if err := g.pass(ticked); err != nil {
			g.log.Error("replication: shard replica stopped", "err", err)
			g.n.metrics.failures.Add(1)
			g.stop(fmt.Errorf("replication: shard %d replica failed: %w", g.shard, err))
			return
		}
		if g.m.removed {
			g.stop(errRemoved)
			if err := g.n.dropReplica(g); err != nil {
				g.log.Error("replication: dropping the replica of a shard this site left", "err", err)
				g.n.metrics.failures.Add(1)
				return
			}
			g.log.Info("replication: replica removed; the shard's data here is dropped")
			return
		}
	}
}

func (g *group) step(n int) {
	if g.trace != nil {
		g.trace(n)
	}
}

// pass is one turn of the Ready contract (see doc.go; the step numbers are its list).
func (g *group) pass(ticked bool) error {
	// 1. step
	g.step(1)
	g.mu.Lock()
	msgs, props, unreachable, reports := g.mu.msgs, g.mu.props, g.mu.unreachable, g.mu.reports
	g.mu.msgs, g.mu.props, g.mu.unreachable, g.mu.reports = nil, nil, nil, nil
	targets, created, checked := g.mu.targets, g.mu.created, g.mu.checked
	g.mu.targets, g.mu.created, g.mu.checked = nil, nil, nil
	stagedCount := len(g.mu.staged)
	g.mu.Unlock()
	for _, r := range reports {
		g.sending--
		status := raft.SnapshotFinish
		if !r.ok {
			status = raft.SnapshotFailure
		}
		g.rn.ReportSnapshot(r.to, status)
	}
	g.membershipReports(created, checked)
	for _, m := range msgs {
		g.heardFrom(m)
		// Errors are messages from a stale configuration or for a peer raft does not know:
		// raft drops them, as the network might have.
		_ = g.rn.Step(m)
	}
	for _, id := range unreachable {
		g.rn.ReportUnreachable(id)
	}
	if ticked {
		g.rn.Tick()
		g.ticks++
		if g.ticks%compactCheckTicks == 0 {
			g.maybeCompact()
		}
		if g.ticks%transitionCheckTicks == 0 {
			g.maybeTransition()
		}
		g.maybeCheckOrphan()
		if g.ticks%progressTicks == 0 {
			g.publishProgress()
		}
	}
	g.askReads(ticked)
	for _, data := range targets {
		if g.ready.Load() {
			// A lost proposal shows in the target the group reports; the caller may repeat it.
			_ = g.rn.Propose(data)
		}
	}
	for i, p := range props {
		if !g.ready.Load() {
			fail(props[i:], errLeadershipLost)
			break
		}
		if err := g.rn.Propose(p.data); err != nil {
			// A later batch was prepared on top of this one: none of them may commit now.
			p.done <- fmt.Errorf("%w (%v)", errProposalFailed, err)
			fail(props[i+1:], errProposalFailed)
			g.abandon(errProposalFailed)
			break
		}
		g.pending = append(g.pending, p)
		g.proposed.Add(1)
	}
	for g.rn.HasReady() {
		// 2. ready
		g.step(2)
		rd := g.rn.Ready()
		// 3. leadership
		g.step(3)
		g.leadership(rd.SoftState)
		// 4. leader-send
		g.step(4)
		leaderSent := g.isLeader
		if leaderSent {
			g.send(rd.Messages)
		}
		// 5. persist
		g.step(5)
		if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
			if err := g.installSnapshot(rd.Snapshot, rd.HardState); err != nil {
				return err
			}
		}
		if err := g.st.Save(rd.HardState, rd.Entries); err != nil {
			return err
		}
		if n := len(rd.Entries); n > 0 {
			g.lastIndex = rd.Entries[n-1].GetIndex()
		}
		if rd.HardState != nil {
			g.term.Store(rd.HardState.GetTerm())
			g.commit.Store(rd.HardState.GetCommit())
		}
		// 6. send
		g.step(6)
		if !leaderSent {
			g.send(rd.Messages)
		}
		// 7. apply
		g.step(7)
		if err := g.apply(rd.CommittedEntries); err != nil {
			return err
		}
		// 8. reads
		g.step(8)
		g.readStates(rd.ReadStates)
		// 9. advance
		g.step(9)
		g.rn.Advance(rd)
	}
	if g.wantBarrier {
		g.barrier, g.wantBarrier = g.lastIndex, false
	}
	if stagedCount > 0 {
		g.dropStaged(false)
	}
	// A snapshot raft took goes out in the Ready of the same pass; one still here was never
	// sent (raft dropped the message on a change of state).
	g.releaseSnapshots()
	return g.maybeResume()
}

// progressTicks is how often (in ticks) a leader publishes its replicas' progress.
const progressTicks = 4

// ReplicaProgress is how far one replica of a shard has the log, as its leader sees it.
type ReplicaProgress struct {
	Site site.ID `json:"site"`
	// Match is the last index the replica is known to have in its log; Lag how many entries
	// of the leader's log it does not have yet.
	Match uint64 `json:"match"`
	Lag   uint64 `json:"lag"`
	// State is raft's view of the replica: "probe" (finding where their logs agree),
	// "replicate" (receiving entries as they come) or "snapshot" (receiving a snapshot).
	State   string `json:"state"`
	Learner bool   `json:"learner,omitempty"`
}

var progressStates = map[tracker.StateType]string{
	tracker.StateProbe: "probe", tracker.StateReplicate: "replicate", tracker.StateSnapshot: "snapshot"}

// publishProgress stores, on a leader, each other replica's progress for Status (step 1,
// on ticks).
func (g *group) publishProgress() {
	if !g.isLeader {
		g.progress.Store(nil)
		return
	}
	st := g.rn.Status()
	out := make([]ReplicaProgress, 0, len(st.Progress))
	for id, pr := range st.Progress {
		if id == uint64(g.n.cfg.Site) {
			continue
		}
		rp := ReplicaProgress{Site: site.ID(id), Match: pr.Match, State: progressStates[pr.State], Learner: pr.IsLearner}
		if g.lastIndex > pr.Match {
			rp.Lag = g.lastIndex - pr.Match
		}
		out = append(out, rp)
	}
	slices.SortFunc(out, func(a, b ReplicaProgress) int { return cmp.Compare(a.Site, b.Site) })
	g.progress.Store(&out)
}

// compactCheckTicks is how often (in ticks) a leader looks whether its log can be compacted.
const compactCheckTicks = 20

// maybeCompact proposes, on a leader, to discard the log up to the last entry that every voter
// has and this replica applied, once that is at least Config.CompactEntries entries. A voter
// that is down holds the log back (so that it catches up from the log) until it is more than
// Config.SnapshotLag entries behind: then it no longer does, and catches up from a snapshot.
func (g *group) maybeCompact() {
	if g.ready.Load() {
		g.compact(g.n.cfg.CompactEntries, false)
	}
}

func (g *group) send(msgs []*pb.Message) {
	for _, m := range msgs {
		if m.GetType() == pb.MessageType_MsgSnap {
			g.sendSnapshot(m)
			continue
		}
		g.n.send(g.shard, m)
	}
}

// leadership handles a change of raft state (step 3).
func (g *group) leadership(ss *raft.SoftState) {
	if ss == nil {
		return
	}
	g.leader.Store(ss.Lead)
	leader := ss.RaftState == raft.StateLeader
	if leader == g.isLeader {
		return
	}
	g.isLeader = leader
	g.m.waitUntil = 0 // a transition proposed under another leadership is derived again
	if leader {
		// The first entry of the term is in this Ready: everything up to it must be applied
		// before this replica prepares on its state.
		g.wantBarrier = true
		g.n.metrics.leaderships.Add(1)
		g.log.Info("replication: leading shard", "term", g.rn.BasicStatus().GetTerm())
		return
	}
	g.progress.Store(nil)
	g.abandon(errLeadershipLost)
}

// abandon stops accepting batches and fails those in flight with err: they may still commit
// (and are then applied as another replica's), so ds must rebuild its state from pebble. A
// replica that still leads resumes once everything in its log is applied.
func (g *group) abandon(err error) {
	g.ready.Store(false)
	g.mu.Lock()
	props := g.mu.props
	g.mu.props = nil
	g.mu.Unlock()
	if len(g.pending) > 0 || len(props) > 0 {
		g.needReload = true
	}
	fail(g.pending, err)
	fail(props, err)
	g.pending = nil
	if g.isLeader {
		g.wantBarrier = true
	}
}

func fail(ps []*proposal, err error) {
	for _, p := range ps {
		p.done <- err
	}
}

// maybeResume lets a leader accept batches once its state is current: everything up to its
// barrier applied, and the ds shard rebuilt from pebble (it may have been prepared on by an
// earlier leadership of this replica, or never have prepared at all).
func (g *group) maybeResume() error {
	if !g.isLeader || g.ready.Load() || g.wantBarrier || g.applied.Load() < g.barrier {
		return nil
	}
	if err := g.n.db.ApplyReplicated(g.shard, nil, true); err != nil {
		return err
	}
	g.needReload = false
	g.ready.Store(true)
	return nil
}

// apply applies committed entries in order (step 6).
func (g *group) apply(ents []*pb.Entry) error {
	for _, e := range ents {
		switch e.GetType() {
		case pb.EntryType_EntryNormal:
			if err := g.applyNormal(e); err != nil {
				return err
			}
		case pb.EntryType_EntryConfChange, pb.EntryType_EntryConfChangeV2:
			if err := g.applyConfChange(e); err != nil {
				return err
			}
		default:
			return fmt.Errorf("replication: shard %d: entry %d of unknown type %v", g.shard, e.GetIndex(), e.GetType())
		}
	}
	return nil
}

func (g *group) applyNormal(e *pb.Entry) error {
	index := e.GetIndex()
	if len(e.GetData()) == 0 { // a new leader's empty entry
		return g.writeApplied(nil, index)
	}
	if upTo, ok := compactIndex(e.GetData()); ok {
		if err := g.writeApplied(nil, index); err != nil {
			return err
		}
		// Every voter had the entries when the leader proposed it, and this replica applied
		// them (they come before this entry).
		if err := g.st.Compact(upTo); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
		g.n.metrics.compactions.Add(1)
		return nil
	}
	if target, ok, err := decodeTarget(e.GetData()); ok {
		if err != nil {
			return fmt.Errorf("shard %d entry %d: %w", g.shard, index, err)
		}
		return g.applyTarget(index, e.GetData(), target)
	}
	id, cb, err := decodeEntry(e.GetData())
	if err != nil {
		return fmt.Errorf("shard %d entry %d: %w", g.shard, index, err)
	}
	own := len(g.pending) > 0 && g.pending[0].id == id
	if !own && len(g.pending) > 0 {
		g.abandon(errSuperseded)
	}
	b := g.n.pebble.NewBatch()
	if err := ds.WriteCooked(b, cb); err != nil {
		b.Close()
		return err
	}
	if err := g.writeApplied(b, index); err != nil {
		return err
	}
	g.n.metrics.applied.Add(1)
	if own {
		p := g.pending[0]
		g.pending = g.pending[1:]
		g.n.metrics.commit.Record(time.Since(p.start))
		p.done <- nil
		return nil
	}
	reload := g.needReload
	g.needReload = false
	return g.n.db.ApplyReplicated(g.shard, cb, reload)
}

// writeApplied commits b (nil: a new batch) with the applied index set to index, without
// sync (see doc.go, Durability).
func (g *group) writeApplied(b *pebble.Batch, index uint64) error {
	if b == nil {
		b = g.n.pebble.NewBatch()
	}
	defer b.Close()
	if err := b.Set(ds.ReplicaStateKey(g.shard), binary.BigEndian.AppendUint64(nil, index), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	g.applied.Store(index)
	return nil
}

func (g *group) applyConfChange(e *pb.Entry) error {
	var cc pb.ConfChangeI
	if e.GetType() == pb.EntryType_EntryConfChange {
		v1 := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), v1); err != nil {
			return fmt.Errorf("shard %d entry %d: %w: %v", g.shard, e.GetIndex(), errBadEntry, err)
		}
		cc = v1
	} else {
		v2 := &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), v2); err != nil {
			return fmt.Errorf("shard %d entry %d: %w: %v", g.shard, e.GetIndex(), errBadEntry, err)
		}
		cc = v2
	}
	cs := g.rn.ApplyConfChange(cc)
	if err := g.st.SetConfState(cs); err != nil {
		return err
	}
	if err := g.writeApplied(nil, e.GetIndex()); err != nil {
		return err
	}
	g.applyConfChangeState(cs)
	return nil
}

// stop fails everything in flight and refuses later batches.
func (g *group) stop(err error) {
	g.mu.Lock()
	g.mu.stopped = true
	g.mu.Unlock()
	g.abandon(err)
	g.failReads(err)
	g.isLeader = false
	g.releaseSnapshots()
	g.dropStaged(true)
}

// Status describes one replica of a shard.
type Status struct {
	Shard   int     `json:"shard"`
	Site    site.ID `json:"site"`            // the site of this replica
	Leader  site.ID `json:"leader,omitzero"` // 0 while no leader is known
	Leading bool    `json:"leading"`         // this replica leads and accepts writes
	Term    uint64  `json:"term"`
	Commit  uint64  `json:"commit"`
	Applied uint64  `json:"applied"`
	// FirstIndex and LastIndex bound the entries in this replica's log (compaction discards
	// older ones).
	FirstIndex uint64 `json:"first_index"`
	LastIndex  uint64 `json:"last_index"`
	// Voters and Learners are the group's configuration as this replica applied it.
	Voters   []site.ID `json:"voters"`
	Learners []site.ID `json:"learners,omitempty"`
	// Target is the replica set the group moves towards; nil if none was ever set (the
	// founding placement stands).
	Target []site.ID `json:"target,omitempty"`
	// PreferredLeader is the site the target wants to lead the shard (0: none); the leader
	// hands over to it once the configuration is the target and it has caught up.
	PreferredLeader site.ID `json:"preferred_leader,omitzero"`
	// Pending is the transition under way ("add learner …", "catch up learner …",
	// "promote …", "remove …", "transfer leadership to …"; "pending" on a follower), "" if
	// none; Queue counts the transitions left to reach the target.
	Pending string `json:"pending,omitempty"`
	Queue   int    `json:"queue"`
	// Proposed counts the batches this replica proposed while leading.
	Proposed uint64 `json:"proposed"`
	// Progress is, on the leader, every other replica's progress (refreshed every few ticks).
	Progress []ReplicaProgress `json:"progress,omitempty"`
}

func (g *group) status() Status {
	first, _ := g.st.FirstIndex()
	last, _ := g.st.LastIndex()
	st := Status{FirstIndex: first, LastIndex: last, Shard: g.shard, Site: g.n.cfg.Site, Leader: site.ID(g.leader.Load()),
		Leading: g.ready.Load(), Term: g.term.Load(), Commit: g.commit.Load(), Applied: g.applied.Load()}
	if v := g.view.Load(); v != nil {
		st.Voters, st.Learners, st.Target = slices.Clone(v.voters), slices.Clone(v.learners), slices.Clone(v.target)
		st.Pending, st.Queue, st.PreferredLeader = v.pending, v.queue, v.leader
	}
	st.Proposed = g.proposed.Load()
	if p := g.progress.Load(); p != nil {
		st.Progress = slices.Clone(*p)
	}
	return st
}

// raftLogger sends raft's log lines to slog: debug and info at debug level (elections are
// logged by the group itself), warnings and errors as such.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { r.Fatal(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { r.Fatal(v...) }
func (r raftLogger) Panicf(f string, v ...any)   { r.Fatal(fmt.Sprintf(f, v...)) }
