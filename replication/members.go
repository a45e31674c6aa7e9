package replication

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/raftstore"
	"github.com/mqttds/mqttds/replication/site"
)

// Membership changes. Every shard group carries its own target replica set: a target entry in
// its log (entry.go), applied into the shard's span with the applied index (targetKey), so that
// it survives restarts and leader changes and travels in snapshots. The shard's leader compares
// the configuration it has applied with the target and carries out one transition at a time
// (nextTransition), each a raft configuration change, in an order that never lowers the number
// of voters below the target's size:
//
//  1. a learner that the target does not want is removed;
//  2. a learner the target wants is promoted to voter once it has caught up: its Progress is
//     replicating and its Match reached the leader's commit index of the moment it started
//     replicating (a snapshot and the log tail);
//  3. while there are more voters than the target wants, a voter the target does not want is
//     removed; if that is only the leader itself, it first hands leadership to a voter of the
//     target (raft's leadership transfer), and the next leader removes it;
//  4. a site the target wants and the group lacks is added as a learner. Before that the leader
//     makes sure the site has an empty group for the shard (POST /v1/replica/<shard>; a site
//     creates a group with no configuration, raft's way for a joining node) and that its log no
//     longer starts at index 1, so that the new replica starts from a snapshot (which carries
//     the configuration) rather than replaying a log whose first configuration is not in it.
//
// A transition is proposed, and the leader waits until the configuration changes or the wait
// times out; then it derives the next step again from the applied target and configuration, so
// a new leader, or the same one after a restart, resumes where the group is.
//
// A replica that applies its own removal stops and drops the shard's span and raft state,
// keeping only the raft term and vote (raftstore.Drop). A removed replica may never learn that
// its removal committed (the leader stops sending to it); so a replica that hears from no
// leader for a while asks the other sites, and drops itself if a leader of at least its term
// neither counts it in its configuration nor in its target.

// transition is one step towards a shard's target.
type transition struct {
	kind stepKind
	site site.ID
}

type stepKind int

const (
	stepNone       stepKind = iota // the configuration is the target
	stepAddLearner                 // add site as a learner
	stepCatchUp                    // wait for learner site to catch up
	stepPromote                    // make learner site a voter
	stepRemove                     // remove site (a voter or a learner)
	stepTransfer                   // hand leadership to site, so that the next leader removes this one
)

func (t transition) String() string {
	switch t.kind {
	case stepAddLearner:
		return "add learner " + t.site.String()
	case stepCatchUp:
		return "catch up learner " + t.site.String()
	case stepPromote:
		return "promote " + t.site.String()
	case stepRemove:
		return "remove " + t.site.String()
	case stepTransfer:
		return "transfer leadership to " + t.site.String()
	}
	return ""
}

// nextTransition is the next step from the configuration (voters, learners) to target on a
// group led by leader, and the number of steps left (the transition queue). caughtUp tells
// whether a learner has caught up with the leader.
func nextTransition(voters, learners, target []site.ID, leader site.ID, caughtUp func(site.ID) bool) (transition, int) {
	in := func(set []site.ID) func(site.ID) bool {
		return func(id site.ID) bool { return slices.Contains(set, id) }
	}
	notIn := func(set []site.ID) func(site.ID) bool {
		return func(id site.ID) bool { return !slices.Contains(set, id) }
	}
	learnersOut := filter(learners, notIn(target))
	learnersIn := filter(learners, in(target))
	extras := filter(voters, notIn(target))
	adds := filter(target, func(id site.ID) bool { return !slices.Contains(voters, id) && !slices.Contains(learners, id) })
	queue := len(learnersOut) + len(learnersIn) + len(extras) + 2*len(adds)
	switch {
	case len(learnersOut) > 0:
		return transition{stepRemove, learnersOut[0]}, queue
	case len(learnersIn) > 0:
		if caughtUp(learnersIn[0]) {
			return transition{stepPromote, learnersIn[0]}, queue
		}
		return transition{stepCatchUp, learnersIn[0]}, queue
	case len(extras) > 0 && len(voters) > len(target):
		if others := filter(extras, func(id site.ID) bool { return id != leader }); len(others) > 0 {
			return transition{stepRemove, others[0]}, queue
		}
		// Only the leader is to go: another voter of the target takes over first.
		return transition{stepTransfer, filter(voters, in(target))[0]}, queue + 1
	case len(adds) > 0:
		return transition{stepAddLearner, adds[0]}, queue
	}
	return transition{}, 0
}

func filter(ids []site.ID, keep func(site.ID) bool) []site.ID {
	var out []site.ID
	for _, id := range ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

func sitesOf(ids []uint64) []site.ID {
	out := make([]site.ID, len(ids))
	for i, id := range ids {
		out[i] = site.ID(id)
	}
	slices.Sort(out)
	return out
}

// targetKey holds a shard's target replica set (the target entry's bytes), under the replica
// state the Applier owns in the shard's span.
func targetKey(shard int) []byte { return append(ds.ReplicaStateKey(shard), 't') }

func readTarget(db *pebble.DB, shard int) (targetSet, error) {
	v, closer, err := db.Get(targetKey(shard))
	if errors.Is(err, pebble.ErrNotFound) {
		return targetSet{}, nil
	}
	if err != nil {
		return targetSet{}, err
	}
	defer closer.Close()
	t, ok, err := decodeTarget(v)
	if err == nil && !ok {
		err = fmt.Errorf("%w: stored target of shard %d", errBadEntry, shard)
	}
	return t, err
}

// membership is the loop's state for membership changes (touched only by run).
type membership struct {
	target []site.ID // the applied target; nil: none was ever set
	leader site.ID   // the target's preferred leader; 0: none
	// waitUntil is the tick until which the leader waits for the transition it proposed
	// (waitConf is the configuration it proposed it on); 0: none in flight.
	waitUntil uint64
	waitConf  string
	// catchMark is the commit index a learner must reach, set when it starts replicating.
	catchMark map[uint64]uint64
	// asked is when a site was last asked to create its group; created, the sites that did.
	asked   map[uint64]uint64
	created map[uint64]bool
	// removed is set once this replica applied its own removal (or learned of it).
	removed bool
	// heard is the tick of the last message from a leader; checking: a check that this
	// replica still belongs to the group is running, since the tick checkFrom.
	heard     uint64
	checking  bool
	checkFrom uint64
}

// memberView is what Status shows of a group's membership (the loop replaces it whole).
type memberView struct {
	voters, learners, target []site.ID
	leader                   site.ID
	pending                  string
	queue                    int
}

// The pace of membership changes.
const (
	transitionCheckTicks = 2
	// transitionWaitElections bounds the wait for a proposed transition, in election timeouts.
	transitionWaitElections = 5
	// createRetryTicks is how often a site that lacks its group is asked again.
	createRetryTicks = 40
	// orphanElections is how many election timeouts a replica hears from no leader before it
	// asks whether it still belongs to the group.
	orphanElections = 4
)

func confKeyOf(cs *pb.ConfState) string {
	return fmt.Sprint(cs.GetVoters(), cs.GetLearners())
}

// publishView updates what Status shows.
func (g *group) publishView(pending string, queue int) {
	cs := g.st.ConfState()
	v := &memberView{voters: sitesOf(cs.GetVoters()), learners: sitesOf(cs.GetLearners()),
		target: slices.Clone(g.m.target), leader: g.m.leader, pending: pending, queue: queue}
	if !g.isLeader && queue == 0 && v.target != nil {
		// A follower cannot tell what the leader is doing; it shows what is left.
		t, q := nextTransition(v.voters, v.learners, v.target, site.ID(g.leader.Load()), func(site.ID) bool { return false })
		v.queue = q
		if t.kind != stepNone {
			v.pending = "pending"
		}
	}
	g.view.Store(v)
}

// applyTarget applies a target entry (step 7).
func (g *group) applyTarget(index uint64, data []byte, t targetSet) error {
	b := g.n.pebble.NewBatch()
	if err := b.Set(targetKey(g.shard), data, nil); err != nil {
		b.Close()
		return err
	}
	if err := g.writeApplied(b, index); err != nil {
		return err
	}
	g.m.target, g.m.leader = t.sites, t.leader
	g.m.waitUntil = 0
	g.publishView("", 0)
	return nil
}

// maybeTransition carries out the next step towards the target on a leader (step 1, on ticks).
func (g *group) maybeTransition() {
	if !g.ready.Load() {
		return
	}
	cs := g.st.ConfState()
	if g.m.waitUntil != 0 {
		if confKeyOf(cs) == g.m.waitConf && g.ticks < g.m.waitUntil {
			return
		}
		if confKeyOf(cs) == g.m.waitConf {
			g.n.metrics.transitionsFailed.Add(1)
			g.log.Warn("replication: a membership change did not take effect; trying again")
		}
		g.m.waitUntil = 0
	}
	if g.m.target == nil {
		g.publishView("", 0)
		return
	}
	st := g.rn.Status()
	self := site.ID(g.n.cfg.Site)
	caughtUp := func(id site.ID) bool {
		pr, ok := st.Progress[uint64(id)]
		if !ok || pr.State != tracker.StateReplicate {
			delete(g.m.catchMark, uint64(id))
			return false
		}
		mark, ok := g.m.catchMark[uint64(id)]
		if !ok {
			mark = st.GetCommit()
			g.m.catchMark[uint64(id)] = mark
		}
		return pr.Match >= mark
	}
	step, queue := nextTransition(sitesOf(cs.GetVoters()), sitesOf(cs.GetLearners()), g.m.target, self, caughtUp)
	g.publishView(step.String(), queue)
	id := uint64(step.site)
	switch step.kind {
	case stepNone:
		g.maybeHandOver(st, cs)
		return
	case stepCatchUp:
		// A learner that has nothing yet may have lost its empty group in a restart.
		if pr, ok := st.Progress[id]; ok && pr.Match == 0 {
			g.askCreate(id)
		}
		return
	case stepTransfer:
		g.rn.TransferLeader(id)
		g.waitTransition(cs)
		return
	case stepAddLearner:
		if first, _ := g.st.FirstIndex(); first <= 1 {
			// The new replica must start from a snapshot: compact the log past its start (a voter
			// that is down does not hold this back: it would catch up from a snapshot too).
			g.compact(1, true)
			return
		}
		if !g.m.created[id] {
			g.askCreate(id)
			return
		}
		g.proposeConfChange(pb.ConfChangeType_ConfChangeAddLearnerNode, id, cs)
	case stepPromote:
		g.proposeConfChange(pb.ConfChangeType_ConfChangeAddNode, id, cs)
	case stepRemove:
		g.proposeConfChange(pb.ConfChangeType_ConfChangeRemoveNode, id, cs)
	}
}

func (g *group) proposeConfChange(kind pb.ConfChangeType, id uint64, cs *pb.ConfState) {
	cc := &pb.ConfChange{Type: kind.Enum(), NodeId: new(id)}
	if err := g.rn.ProposeConfChange(cc); err != nil {
		g.n.metrics.transitionsFailed.Add(1)
		g.log.Warn("replication: proposing a membership change", "change", kind.String(), "site", site.ID(id), "err", err)
		return
	}
	g.log.Info("replication: membership change proposed", "change", kind.String(), "site", site.ID(id))
	g.waitTransition(cs)
}

func (g *group) waitTransition(cs *pb.ConfState) {
	g.m.waitConf = confKeyOf(cs)
	g.m.waitUntil = g.ticks + uint64(transitionWaitElections*g.n.cfg.ElectionTicks)
}

// askCreate asks site id to create its (empty) group of the shard, at most every
// createRetryTicks; the answer comes back through g.mu.created.
func (g *group) askCreate(id uint64) {
	if last, ok := g.m.asked[id]; ok && g.ticks-last < createRetryTicks {
		return
	}
	g.m.asked[id] = g.ticks
	delete(g.m.created, id)
	g.n.wg.Add(1)
	go func() {
		defer g.n.wg.Done()
		if err := g.n.askCreate(site.ID(id), g.shard); err != nil {
			g.log.Warn("replication: a site did not create its replica", "to", site.ID(id), "err", err)
			return
		}
		g.mu.Lock()
		g.mu.created = append(g.mu.created, id)
		g.mu.Unlock()
		g.signal()
	}()
}

// applyConfChangeState follows an applied configuration change: the leader counts its
// transition done; a replica removed from the group notes it, so that run drops it.
func (g *group) applyConfChangeState(cs *pb.ConfState) {
	if f := g.n.confApplied; f != nil {
		f(g.shard, cs)
	}
	if g.isLeader {
		g.n.metrics.transitionsDone.Add(1)
	}
	g.m.waitUntil = 0
	// What the leader learned about adding a site holds until the site is a learner: a site
	// removed and added again is asked again, and catches up again.
	for id := range g.m.created {
		if !slices.Contains(cs.GetLearners(), id) {
			delete(g.m.created, id)
			delete(g.m.asked, id)
		}
	}
	for id := range g.m.catchMark {
		if !slices.Contains(cs.GetLearners(), id) {
			delete(g.m.catchMark, id)
		}
	}
	self := uint64(g.n.cfg.Site)
	if !slices.Contains(cs.GetVoters(), self) && !slices.Contains(cs.GetLearners(), self) {
		g.m.removed = true
	}
	g.publishView("", 0)
}

// compact proposes, on a leader, to discard the log up to the last entry every voter has and
// this replica applied, if that is at least minEntries past the log's start. A voter more than
// Config.SnapshotLag entries behind does not count, nor, with activeOnly, one that is not
// recently active.
func (g *group) compact(minEntries int, activeOnly bool) {
	st := g.rn.Status()
	applied := g.applied.Load()
	safe := applied
	for id, pr := range st.Progress {
		_, voter := st.Config.Voters.IDs()[id]
		if voter && applied-min(applied, pr.Match) <= uint64(g.n.cfg.SnapshotLag) && (pr.RecentActive || !activeOnly || id == st.ID) {
			safe = min(safe, pr.Match)
		}
	}
	first, _ := g.st.FirstIndex()
	if safe < first || safe-first+1 < uint64(minEntries) {
		return
	}
	// A failed proposal is tried again at the next check.
	_ = g.rn.Propose(encodeCompact(safe))
}

// heardFrom notes messages from a leader (step 1).
func (g *group) heardFrom(m *pb.Message) {
	switch m.GetType() {
	case pb.MessageType_MsgApp, pb.MessageType_MsgHeartbeat, pb.MessageType_MsgSnap:
		g.m.heard = g.ticks
	}
}

// maybeCheckOrphan starts, on a replica that heard from no leader for orphanElections
// election timeouts, a check that it still belongs to the group (step 1, on ticks).
func (g *group) maybeCheckOrphan() {
	if g.isLeader || g.m.checking || g.ticks-g.m.heard < uint64(orphanElections*g.n.cfg.ElectionTicks) {
		return
	}
	g.m.checking, g.m.checkFrom = true, g.ticks
	term := g.rn.BasicStatus().GetTerm()
	g.n.wg.Add(1)
	go func() {
		defer g.n.wg.Done()
		removed := g.n.removedFrom(g.shard, term)
		g.mu.Lock()
		g.mu.checked = &removed
		g.mu.Unlock()
		g.signal()
	}()
}

// membershipReports takes the answers of the goroutines above (step 1).
func (g *group) membershipReports(created []uint64, checked *bool) {
	for _, id := range created {
		g.m.created[id] = true
	}
	if checked != nil {
		// A leader heard from since the check began has this replica in its configuration
		// now: the site may have been added again after the leader answered (its old group
		// caught up as the new replica), and the answer is stale.
		stale := g.m.heard >= g.m.checkFrom
		g.m.checking = false
		g.m.heard = g.ticks
		if *checked && !stale {
			g.log.Info("replication: this site is no longer a replica of the shard")
			g.m.removed = true
		}
	}
}

// dropReplica removes this site's replica of g's shard after it left the group: the group is
// gone from the node, and the shard's span and raft state are deleted (but for the raft term
// and vote) in one synced batch, under ds's shard locks. g's loop has stopped.
func (n *Node) dropReplica(g *group) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups[g.shard].CompareAndSwap(g, nil)
	hs := g.st.HardState()
	return n.db.ReplaceReplicated(g.shard, func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		start, end := ds.ShardSpan(g.shard)
		if err := b.DeleteRange(start, end, nil); err != nil {
			return err
		}
		if err := raftstore.Drop(b, uint32(g.shard), hs); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
}

// createReplica opens an empty group of shard on this site, which a leader is about to add as
// a learner; nothing if the site has one.
func (n *Node) createReplica(shard int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started.Load() || n.stopped {
		return ErrStopped
	}
	if n.groups[shard].Load() != nil {
		return nil
	}
	st, err := raftstore.Open(n.pebble, uint32(shard))
	if err != nil {
		return err
	}
	g, err := newGroup(n, shard, n.pebble, st)
	if err != nil {
		return err
	}
	n.groups[shard].Store(g)
	n.runGroup(g)
	g.log.Info("replication: replica created for a leader that adds this site")
	return nil
}

// maybeHandOver transfers leadership, once the configuration is the target, to the target's
// preferred leader (leaders stay balanced over the sites) if it is a voter that is active and
// has everything in the log: a transfer to a replica that is down or behind would hold writes
// back for an election timeout.
func (g *group) maybeHandOver(st raft.Status, cs *pb.ConfState) {
	to := uint64(g.m.leader)
	if to == 0 || to == uint64(g.n.cfg.Site) || !slices.Contains(cs.GetVoters(), to) {
		return
	}
	pr, ok := st.Progress[to]
	if !ok || !pr.RecentActive || pr.State != tracker.StateReplicate || pr.Match < g.lastIndex {
		return
	}
	g.publishView(transition{stepTransfer, site.ID(to)}.String(), 1)
	g.log.Info("replication: handing leadership to the target's preferred leader", "to", site.ID(to))
	g.rn.TransferLeader(to)
	g.waitTransition(cs)
}
