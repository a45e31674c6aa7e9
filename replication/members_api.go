package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mqttds/mqttds/replication/site"
)

// The membership API. Any site takes a change: it reads every shard's replica set (from its
// own replica, or from a site that holds one: GET /v1/shard/<shard>), computes the targets
// (PlanTargets, or the sites given for one shard), and hands each changed target to the
// shard's leader (POST /v1/target/<shard>), which proposes it to its group and carries it out
// in the background (members.go). The answer is the plan; Status shows its progress.

const (
	shardPath   = "/v1/shard/"
	targetPath  = "/v1/target/"
	replicaPath = "/v1/replica/"
)

// AllShards, as the shard of SetReplicas, changes the sites of the whole storage.
const AllShards = -1

// Errors of the membership API.
var (
	// ErrUnknownSite is returned for a site this site knows no address of.
	ErrUnknownSite = errors.New("replication: unknown site")
	// ErrInvalidReplicas is wrapped by the refusals of a change: no sites, duplicates, a site
	// that holds nothing to leave, a site to forget that is up or whose loss breaks a quorum.
	ErrInvalidReplicas = errors.New("replication: replica change refused")
)

// Plan is the answer to a membership change: the shards whose target changed.
type Plan struct {
	Shards []ShardPlan `json:"shards"`
}

// ShardPlan is one shard's change: from its replica set (or earlier target) to the new target.
type ShardPlan struct {
	Shard  int       `json:"shard"`
	From   []site.ID `json:"from"`
	To     []site.ID `json:"to"`
	Add    []site.ID `json:"add,omitempty"`
	Remove []site.ID `json:"remove,omitempty"`
	// Leader is the site the shard's leadership goes to once it is there (0: it stays).
	Leader site.ID `json:"leader,omitzero"`
}

// knownSites lists the founding sites, this site and every peer, less forgotten ones, sorted.
func (n *Node) knownSites() []site.ID {
	set := map[site.ID]bool{n.cfg.Site: true}
	if n.place != nil {
		for _, id := range n.place.Sites() {
			set[id] = true
		}
	}
	n.peers.Lock()
	for id, known := range n.peers.ids {
		set[id] = known
	}
	n.peers.Unlock()
	var out []site.ID
	for id, ok := range set {
		if ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// ShardStatus describes shard as its leader sees it: from this site's replica if it leads (or
// no site that holds one answers), else from a site that holds one, preferably the leader.
func (n *Node) ShardStatus(ctx context.Context, shard int) (Status, error) {
	if shard < 0 || shard >= n.cfg.NumShards {
		return Status{}, fmt.Errorf("replication: no shard %d", shard)
	}
	local, err := n.Status(shard)
	if err == nil && local.Leading {
		return local, nil
	}
	ask := n.knownSites()
	if err == nil && local.Leader != 0 {
		// The leader first.
		ask = append([]site.ID{local.Leader}, ask...)
	}
	var found *Status
	tried := map[site.ID]bool{n.cfg.Site: true}
	for _, id := range ask {
		if tried[id] {
			continue
		}
		tried[id] = true
		st, err := n.remoteStatus(ctx, id, shard)
		if err != nil {
			continue
		}
		if st.Leading {
			return st, nil
		}
		if found == nil {
			found = &st
		}
		if st.Leader != 0 && !tried[st.Leader] {
			if lst, err := n.remoteStatus(ctx, st.Leader, shard); err == nil && lst.Leading {
				return lst, nil
			}
			tried[st.Leader] = true
		}
	}
	switch {
	case found != nil && (err != nil || found.Term > local.Term):
		return *found, nil
	case err == nil:
		return local, nil
	}
	return Status{}, fmt.Errorf("replication: no site answers for shard %d", shard)
}

func (n *Node) remoteStatus(ctx context.Context, to site.ID, shard int) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+to.String()+shardPath+strconv.Itoa(shard), nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("replication: site %v answered %d", to, resp.StatusCode)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("replication: site %v: %w", to, err)
	}
	return st, nil
}

func (n *Node) serveShard(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil {
		http.Error(w, "bad shard", http.StatusBadRequest)
		return
	}
	st, err := n.Status(shard)
	if err != nil || !n.started.Load() {
		http.Error(w, "no replica of that shard here", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// replicaSet is a shard's replica set for planning: its target, or its voters if none.
func replicaSet(st Status) []site.ID {
	if st.Target != nil {
		return st.Target
	}
	return st.Voters
}

// Replicas returns every shard's status (ShardStatus), by shard.
func (n *Node) Replicas(ctx context.Context) ([]Status, error) {
	out := make([]Status, n.cfg.NumShards)
	for shard := range out {
		st, err := n.ShardStatus(ctx, shard)
		if err != nil {
			return nil, err
		}
		out[shard] = st
	}
	return out, nil
}

// StorageSites returns the sites the storage lives on (or moves to): every site of a shard's
// target or, without one, of its voters.
func (n *Node) StorageSites(ctx context.Context) ([]site.ID, error) {
	all, err := n.Replicas(ctx)
	if err != nil {
		return nil, err
	}
	set := map[site.ID]bool{}
	for _, st := range all {
		for _, id := range replicaSet(st) {
			set[id] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// SetReplicas sets the replica set of shard to sites, or with AllShards moves the storage onto
// sites: every shard gets a balanced target (PlanTargets) of ReplicationFactor sites. Every
// site must be known (AddPeer). The change runs in the background, one transition per shard at
// a time; Status shows it. It returns the shards whose target changed.
func (n *Node) SetReplicas(ctx context.Context, shard int, sites []site.ID) (Plan, error) {
	want := slices.Sorted(slices.Values(sites))
	if len(want) == 0 {
		return Plan{}, fmt.Errorf("%w: a replica set needs at least one site", ErrInvalidReplicas)
	}
	if len(slices.Compact(slices.Clone(want))) != len(want) {
		return Plan{}, fmt.Errorf("%w: duplicate site in %v", ErrInvalidReplicas, sites)
	}
	if len(want) > maxReplicas {
		return Plan{}, fmt.Errorf("%w: %d sites, at most %d", ErrInvalidReplicas, len(want), maxReplicas)
	}
	known := n.knownSites()
	for _, id := range want {
		if !slices.Contains(known, id) {
			return Plan{}, fmt.Errorf("%w %v", ErrUnknownSite, id)
		}
	}
	all, err := n.Replicas(ctx)
	if err != nil {
		return Plan{}, err
	}
	current := make([][]site.ID, len(all))
	for s, st := range all {
		current[s] = replicaSet(st)
	}
	targets := make([][]site.ID, len(all))
	copy(targets, current)
	leaders := make([]site.ID, len(all))
	for s, st := range all {
		leaders[s] = st.PreferredLeader
	}
	if shard == AllShards {
		if targets, err = PlanTargets(current, want, n.cfg.ReplicationFactor); err != nil {
			return Plan{}, err
		}
		now := make([]site.ID, len(all))
		for s, st := range all {
			now[s] = st.Leader
		}
		leaders = PlanLeaders(targets, now)
	} else if shard >= 0 && shard < len(all) {
		targets[shard], leaders[shard] = want, 0
	} else {
		return Plan{}, fmt.Errorf("%w: no shard %d", ErrInvalidReplicas, shard)
	}
	var plan Plan
	for s := range targets {
		if slices.Equal(current[s], targets[s]) && leaders[s] == all[s].PreferredLeader {
			continue
		}
		if err := n.proposeTarget(ctx, s, targetSet{sites: targets[s], leader: leaders[s]}); err != nil {
			return plan, fmt.Errorf("replication: shard %d: %w", s, err)
		}
		if slices.Equal(current[s], targets[s]) && leaders[s] == all[s].Leader {
			continue // only the preference is new: nothing moves
		}
		sp := ShardPlan{Shard: s, From: current[s], To: targets[s],
			Add:    filter(targets[s], func(id site.ID) bool { return !slices.Contains(current[s], id) }),
			Remove: filter(current[s], func(id site.ID) bool { return !slices.Contains(targets[s], id) })}
		if leaders[s] != all[s].Leader {
			sp.Leader = leaders[s]
		}
		plan.Shards = append(plan.Shards, sp)
	}
	return plan, nil
}

// JoinSite adds a known site to the storage's sites and rebalances every shard.
func (n *Node) JoinSite(ctx context.Context, id site.ID) (Plan, error) {
	sites, err := n.StorageSites(ctx)
	if err != nil {
		return Plan{}, err
	}
	if !slices.Contains(sites, id) {
		sites = append(sites, id)
	}
	return n.SetReplicas(ctx, AllShards, sites)
}

// LeaveSite moves every replica off a site and rebalances the others. It is refused when fewer
// sites than the replication factor would be left: the shards would then keep fewer replicas
// (SetReplicas with the sites asks for that explicitly).
func (n *Node) LeaveSite(ctx context.Context, id site.ID) (Plan, error) {
	sites, err := n.StorageSites(ctx)
	if err != nil {
		return Plan{}, err
	}
	rest := filter(sites, func(s site.ID) bool { return s != id })
	if len(rest) == len(sites) {
		return Plan{}, fmt.Errorf("%w: site %v holds no replica of the storage", ErrInvalidReplicas, id)
	}
	if rf := n.cfg.ReplicationFactor; len(rest) < rf {
		return Plan{}, fmt.Errorf("%w: without site %v the storage has %d sites, fewer than its replication factor %d",
			ErrInvalidReplicas, id, len(rest), rf)
	}
	return n.SetReplicas(ctx, AllShards, rest)
}

// ForgetSite drops a site that is gone for good: it leaves every shard's target (LeaveSite)
// and this site's list of sites. It is refused for a site that is up, and for a site whose
// loss leaves a shard without a quorum of live voters, since no transition could then commit.
func (n *Node) ForgetSite(ctx context.Context, id site.ID) (Plan, error) {
	if id == n.cfg.Site {
		return Plan{}, fmt.Errorf("%w: a site cannot forget itself", ErrInvalidReplicas)
	}
	up := map[site.ID]bool{}
	found := false
	for _, s := range n.Sites() {
		up[s.ID] = s.Up
		found = found || s.ID == id
	}
	if !found {
		return Plan{}, fmt.Errorf("%w %v", ErrUnknownSite, id)
	}
	if up[id] {
		return Plan{}, fmt.Errorf("%w: site %v is up; use leave", ErrInvalidReplicas, id)
	}
	all, err := n.Replicas(ctx)
	if err != nil {
		return Plan{}, err
	}
	for _, st := range all {
		if !slices.Contains(st.Voters, id) {
			continue
		}
		live := len(filter(st.Voters, func(s site.ID) bool { return s != id && up[s] }))
		if 2*live <= len(st.Voters) {
			return Plan{}, fmt.Errorf("%w: shard %d keeps %d live voters of %d without site %v: no quorum", ErrInvalidReplicas,
				st.Shard, live, len(st.Voters), id)
		}
	}
	plan, err := n.LeaveSite(ctx, id)
	if err != nil {
		return plan, err
	}
	// Kept in the site list, which the other sites take up (syncSites): the site stops being
	// anyone's peer, and cannot join again under its id.
	if err := n.forgetInList(id); err != nil {
		return plan, err
	}
	n.markForgotten([]site.ID{id})
	return plan, nil
}

// proposeTarget hands a shard's target to its leader (here, or at the site that leads),
// following "not the leader" answers while an election settles.
func (n *Node) proposeTarget(ctx context.Context, shard int, t targetSet) error {
	data := encodeTarget(t)
	ctx, cancel := context.WithTimeout(ctx, forwardPatience)
	defer cancel()
	var hint site.ID
	for attempt := 0; ; attempt++ {
		target := hint
		if target == 0 {
			if st, err := n.ShardStatus(ctx, shard); err == nil {
				target = st.Leader
			}
		}
		var err error
		switch {
		case target == 0:
			err = &NotLeaderError{Shard: shard}
		case target == n.cfg.Site:
			err = n.proposeTargetHere(shard, data)
		default:
			hint, err = n.postTarget(ctx, target, shard, data)
		}
		if err == nil || !errors.Is(err, ErrNotLeader) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: setting the target of shard %d: %w (last: %v)", shard, ctx.Err(), err)
		case <-time.After(time.Duration(min(attempt+1, 10)) * 20 * time.Millisecond):
		}
	}
}

func (n *Node) proposeTargetHere(shard int, data []byte) error {
	g := n.group(shard)
	if g == nil {
		return &NotLeaderError{Shard: shard}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.stopped || !g.ready.Load() {
		return &NotLeaderError{Shard: shard, Leader: site.ID(g.leader.Load())}
	}
	g.mu.targets = append(g.mu.targets, data)
	g.signal()
	return nil
}

func (n *Node) postTarget(ctx context.Context, to site.ID, shard int, data []byte) (site.ID, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+to.String()+targetPath+strconv.Itoa(shard), bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("replication: site %v: %v: %w", to, err, &NotLeaderError{Shard: shard})
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusAccepted:
		return 0, nil
	case http.StatusConflict:
		leader, _ := site.Parse(resp.Header.Get(leaderHeader))
		return leader, &NotLeaderError{Shard: shard, Leader: leader}
	default:
		return 0, fmt.Errorf("replication: site %v answered %d: %s", to, resp.StatusCode, bytes.TrimSpace(msg))
	}
}

func (n *Node) serveTarget(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= n.cfg.NumShards {
		http.Error(w, "bad shard", http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 2+8*maxReplicas))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, ok, err := decodeTarget(data); !ok || err != nil {
		http.Error(w, fmt.Sprintf("not a target: %v", err), http.StatusBadRequest)
		return
	}
	if err := n.proposeTargetHere(shard, data); err != nil {
		n.notLeader(w, shard, n.group(shard))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// askCreate asks site to = to create its replica of shard (a leader adds it).
func (n *Node) askCreate(to site.ID, shard int) error {
	ctx, cancel := n.untilStop(5 * time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+to.String()+replicaPath+strconv.Itoa(shard), nil)
	if err != nil {
		return err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("replication: site %v answered %d: %s", to, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

func (n *Node) serveReplica(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	if err != nil || shard < 0 || shard >= n.cfg.NumShards {
		http.Error(w, "bad shard", http.StatusBadRequest)
		return
	}
	if err := n.createReplica(shard); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removedFrom asks the other sites whether shard's group still counts this site: true if a
// leader of at least term has it neither in its configuration nor in its target.
func (n *Node) removedFrom(shard int, term uint64) bool {
	ctx, cancel := n.untilStop(5 * time.Second)
	defer cancel()
	for _, id := range n.knownSites() {
		if id == n.cfg.Site {
			continue
		}
		st, err := n.remoteStatus(ctx, id, shard)
		if err != nil || !st.Leading || st.Term < term {
			continue
		}
		self := n.cfg.Site
		return !slices.Contains(st.Voters, self) && !slices.Contains(st.Learners, self) && !slices.Contains(st.Target, self)
	}
	return false
}
