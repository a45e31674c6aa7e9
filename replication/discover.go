package replication

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mqttds/mqttds/internal/atomicfile"
	"github.com/mqttds/mqttds/replication/site"
)

// Joining a cluster. A site knows the addresses of the others (seeds), not their ids, which
// each site creates on its first start. Join asks every seed for its id (GET /v1/site on the
// transport port) until it knows n sites, this one included, and then keeps the list in the
// data directory (file SITES), so that the placement of shards, and the voters of every raft
// group, never change across restarts even if a seed is down.
//
// A site started later, when its seeds have formed their cluster already, joins it instead:
// a seed that has its list answers GET /v1/sites with it, and the new site announces itself
// to every site listed (POST /v1/sites/join, its id and address), each of which adds it as a
// peer and writes it to its SITES file as a joined site. The new site writes the same list
// with itself added. Joined sites do not change the placement (which derives from the
// founding sites alone): a joined site holds no replica until a membership change moves
// shards onto it (Node.JoinSite, SetReplicas). A site that does not answer the announcement
// (it is down) learns of the new site later: every site asks the others for their lists every
// Config.SiteSyncInterval and merges them (siteList.merge), as it does for forgotten sites.

// SitesFile is the file in the data directory that holds the cluster's sites.
const SitesFile = "SITES"

const (
	sitePath  = "/v1/site"
	sitesPath = "/v1/sites"
	joinPath  = "/v1/sites/join"
)

// siteList is the content of a SITES file: the founding sites and those that joined later,
// each with its cluster address, and the sites forgotten (ds forget), which are no longer
// peers (a forgotten founding site stays listed: the placement derives from it).
//
// Sites exchange their lists (syncSites) and merge them: joined and forgotten sites only ever
// grow, and forgotten wins, so the lists of the sites that hear from each other converge (a
// two-phase set) whatever order the news arrives in.
type siteList struct {
	founding, joined map[site.ID]string
	forgotten        map[site.ID]bool
}

// all is every site of l with its address, forgotten ones included.
func (l siteList) all() map[site.ID]string {
	out := maps.Clone(l.founding)
	maps.Copy(out, l.joined)
	return out
}

// members is every site of l that is not forgotten, with its address.
func (l siteList) members() map[site.ID]string {
	out := l.all()
	for id := range l.forgotten {
		delete(out, id)
	}
	return out
}

// merge returns l with o's joined and forgotten sites added, and the sites that are new to l
// in each. ok is false if o lists other founding sites: another cluster's list.
func (l siteList) merge(o siteList) (next siteList, joined, forgotten []site.ID, ok bool) {
	if !slices.Equal(slices.Sorted(maps.Keys(l.founding)), slices.Sorted(maps.Keys(o.founding))) {
		return l, nil, nil, false
	}
	next = siteList{founding: l.founding, joined: maps.Clone(l.joined), forgotten: maps.Clone(l.forgotten)}
	if next.joined == nil {
		next.joined = map[site.ID]string{}
	}
	if next.forgotten == nil {
		next.forgotten = map[site.ID]bool{}
	}
	for _, id := range slices.Sorted(maps.Keys(o.joined)) {
		if _, known := next.joined[id]; !known {
			next.joined[id] = o.joined[id]
			joined = append(joined, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(o.forgotten)) {
		if !next.forgotten[id] {
			next.forgotten[id] = true
			forgotten = append(forgotten, id)
		}
	}
	return next, joined, forgotten, true
}

// Join is JoinSeeds with a fixed list of seeds.
func (n *Node) Join(ctx context.Context, dir string, seeds []string, nSites int) error {
	return n.JoinSeeds(ctx, dir, StaticSeeds(seeds), nSites)
}

// JoinSeeds fills in Config.Sites and the peers' addresses: from the SITES file in dir if there
// is one, else by asking seeds until nSites sites (this one included) are known, or by joining
// the cluster the seeds formed already; bounded by ctx.
func (n *Node) JoinSeeds(ctx context.Context, dir string, seeds Seeds, nSites int) error {
	path := filepath.Join(dir, SitesFile)
	list, err := readSites(path)
	if err != nil {
		return err
	}
	if list == nil {
		if list, err = n.discover(ctx, seeds, nSites); err != nil {
			return err
		}
		if err := writeSites(path, *list); err != nil {
			return err
		}
	}
	if len(list.founding) != nSites {
		return fmt.Errorf("replication: %s lists %d founding sites, n_sites is %d", path, len(list.founding), nSites)
	}
	if _, ok := list.all()[n.cfg.Site]; !ok {
		return fmt.Errorf("replication: %s does not list this site %v", path, n.cfg.Site)
	}
	if list.forgotten[n.cfg.Site] {
		return fmt.Errorf("replication: %s: this site %v was forgotten by the cluster; start it with an empty data directory (a new site id)", path, n.cfg.Site)
	}
	for id, addr := range list.members() {
		if id != n.cfg.Site {
			n.AddPeer(id, addr)
		}
	}
	n.markForgotten(slices.Collect(maps.Keys(list.forgotten)))
	n.sites.Lock()
	n.sites.path, n.sites.list = path, list
	n.sites.Unlock()
	if err := n.setSites(slices.Collect(maps.Keys(list.founding))); err != nil {
		return err
	}
	n.startSiteSync()
	return nil
}

// startSiteSync runs syncSites every Config.SiteSyncInterval until the node stops.
func (n *Node) startSiteSync() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || n.siteSync {
		return
	}
	n.siteSync = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		client := n.tr.AddrClient(2 * time.Second)
		for {
			select {
			case <-n.stop:
				return
			case <-time.After(n.cfg.SiteSyncInterval):
			}
			ctx, cancel := n.untilStop(5 * time.Second)
			n.syncSites(ctx, client)
			cancel()
		}
	}()
}

// syncSites merges the site list of every other member into this site's, so that a site that
// was down (or unreachable) when another joined or was forgotten learns of it.
func (n *Node) syncSites(ctx context.Context, client *http.Client) {
	n.sites.Lock()
	list := n.sites.list
	n.sites.Unlock()
	if list == nil {
		return
	}
	for id, addr := range list.members() {
		if id == n.cfg.Site {
			continue
		}
		if a := n.tr.PeerAddr(id); a != "" {
			addr = a
		}
		other, err := askSites(ctx, client, addr)
		if err != nil {
			continue
		}
		n.mergeSites(*other)
	}
}

// mergeSites merges o into this site's list, writes the result, and applies what is new:
// joined sites become peers, forgotten ones stop being peers.
func (n *Node) mergeSites(o siteList) {
	n.sites.Lock()
	if n.sites.list == nil {
		n.sites.Unlock()
		return
	}
	next, joined, forgotten, ok := n.sites.list.merge(o)
	if !ok {
		n.sites.Unlock()
		n.log.Warn("replication: a site answered with another cluster's sites")
		return
	}
	if len(joined) == 0 && len(forgotten) == 0 {
		n.sites.Unlock()
		return
	}
	if err := writeSites(n.sites.path, next); err != nil {
		n.sites.Unlock()
		n.log.Error("replication: writing the site list", "err", err)
		return
	}
	n.sites.list = &next
	onJoined := n.sites.joined
	n.sites.Unlock()
	for _, id := range joined {
		if id == n.cfg.Site || next.forgotten[id] {
			continue
		}
		n.AddPeer(id, next.joined[id])
		n.log.Info("replication: learned of a site that joined", "site", id.String())
		if onJoined != nil {
			onJoined(id)
		}
	}
	n.markForgotten(forgotten)
}

// markForgotten stops treating the sites as peers.
func (n *Node) markForgotten(ids []site.ID) {
	if len(ids) == 0 {
		return
	}
	n.peers.Lock()
	if n.peers.ids == nil {
		n.peers.ids = map[site.ID]bool{}
	}
	for _, id := range ids {
		if id != n.cfg.Site {
			n.peers.ids[id] = false
		}
	}
	n.peers.Unlock()
}

// forgetInList records in this site's list that id is forgotten (ForgetSite); syncSites
// carries it to the others.
func (n *Node) forgetInList(id site.ID) error {
	n.sites.Lock()
	defer n.sites.Unlock()
	if n.sites.list == nil || n.sites.list.forgotten[id] {
		return nil
	}
	next := siteList{founding: n.sites.list.founding, joined: n.sites.list.joined, forgotten: maps.Clone(n.sites.list.forgotten)}
	if next.forgotten == nil {
		next.forgotten = map[site.ID]bool{}
	}
	next.forgotten[id] = true
	if err := writeSites(n.sites.path, next); err != nil {
		return err
	}
	n.sites.list = &next
	return nil
}

func (n *Node) discover(ctx context.Context, seeds Seeds, nSites int) (*siteList, error) {
	peers := map[site.ID]string{n.cfg.Site: n.Addr()}
	client := n.tr.AddrClient(2 * time.Second)
	for {
		for _, seed := range seeds(ctx) {
			if slices.Contains(slices.Collect(maps.Values(peers)), seed) {
				continue
			}
			id, err := askSite(ctx, client, seed)
			if err != nil {
				continue
			}
			if id == n.cfg.Site {
				continue
			}
			if formed, err := askSites(ctx, client, seed); err == nil {
				if _, listed := formed.all()[n.cfg.Site]; !listed {
					return n.joinFormed(ctx, client, formed)
				}
			}
			peers[id] = seed
		}
		if len(peers) >= nSites {
			if len(peers) > nSites {
				return nil, fmt.Errorf("replication: found %d sites, n_sites is %d", len(peers), nSites)
			}
			n.log.Info("replication: cluster sites known", "sites", len(peers))
			return &siteList{founding: peers, joined: map[site.ID]string{}, forgotten: map[site.ID]bool{}}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("replication: waiting for %d sites, %d answered: %w", nSites, len(peers), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// joinFormed announces this site to every member of a cluster formed without it, until each
// has taken it, or one has and Config.JoinGrace passed (bounded by ctx): the sites that did not
// answer learn of it later from the others (syncSites).
func (n *Node) joinFormed(ctx context.Context, client *http.Client, formed *siteList) (*siteList, error) {
	self := n.cfg.Site.String() + " " + n.Addr()
	pending := formed.members()
	n.log.Info("replication: joining a formed cluster", "sites", len(pending))
	var since time.Time // the first site that took this one
	for {
		for id, addr := range pending {
			if err := post(ctx, client, addr, joinPath, self); err != nil {
				n.log.Debug("replication: announcing this site", "to", id.String(), "err", err)
				continue
			}
			delete(pending, id)
			if since.IsZero() {
				since = time.Now()
			}
		}
		if len(pending) == 0 || (!since.IsZero() && time.Since(since) >= n.cfg.JoinGrace) {
			list := siteList{founding: formed.founding, joined: maps.Clone(formed.joined), forgotten: maps.Clone(formed.forgotten)}
			list.joined[n.cfg.Site] = n.Addr()
			n.log.Info("replication: joined the cluster", "site", n.cfg.Site.String(), "not_told", len(pending))
			return &list, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("replication: joining the cluster: %d sites did not take this one: %w", len(pending), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// request sends a request to the site at addr and returns its answer's body (up to limit
// bytes); an answer other than 200 is an error carrying the start of the body.
func request(ctx context.Context, client *http.Client, method, addr, path string, body io.Reader, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("replication: %s answered %d: %s", addr, resp.StatusCode, strings.TrimSpace(string(data[:min(len(data), 512)])))
	}
	return data, err
}

func post(ctx context.Context, client *http.Client, addr, path, body string) error {
	_, err := request(ctx, client, http.MethodPost, addr, path, strings.NewReader(body), 512)
	return err
}

// askSites asks a site for its SITES list; an error if it has none yet (still forming).
func askSites(ctx context.Context, client *http.Client, addr string) (*siteList, error) {
	body, err := request(ctx, client, http.MethodGet, addr, sitesPath, nil, 1<<20)
	if err != nil {
		return nil, err
	}
	return parseSites(addr, string(body))
}

// serveSites answers GET /v1/sites with this site's list, once it has one.
func (n *Node) serveSites(w http.ResponseWriter, _ *http.Request) {
	n.sites.Lock()
	list := n.sites.list
	n.sites.Unlock()
	if list == nil {
		http.Error(w, "this site is not part of a cluster yet", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprint(w, formatSites(*list))
}

// serveJoin answers POST /v1/sites/join ("id addr"): the site becomes a peer of this one, and
// is written to the SITES file before the answer, so it is known across restarts.
func (n *Node) serveJoin(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 512))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	idText, addr, ok := strings.Cut(strings.TrimSpace(string(body)), " ")
	id, err := site.Parse(idText)
	if !ok || err != nil || addr == "" || strings.ContainsAny(addr, " \n") {
		http.Error(w, "want \"<site id> <address>\"", http.StatusBadRequest)
		return
	}
	n.sites.Lock()
	defer n.sites.Unlock()
	if n.sites.list == nil {
		http.Error(w, "this site is not part of a cluster yet", http.StatusServiceUnavailable)
		return
	}
	list := n.sites.list
	if list.forgotten[id] {
		http.Error(w, "the site was forgotten; a new site id must join", http.StatusGone)
		return
	}
	if _, founding := list.founding[id]; founding {
		http.Error(w, "a founding site cannot join again", http.StatusConflict)
		return
	}
	if list.joined[id] != addr {
		next := siteList{founding: list.founding, joined: maps.Clone(list.joined), forgotten: list.forgotten}
		next.joined[id] = addr
		if err := writeSites(n.sites.path, next); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n.sites.list = &next
		n.log.Info("replication: a site joined the cluster", "site", id.String(), "addr", addr)
	}
	n.AddPeer(id, addr)
	if f := n.sites.joined; f != nil {
		f(id)
	}
	fmt.Fprintln(w, "ok")
}

// OnSiteJoined sets f to be called with every site that joins the cluster through this one
// (after it became a peer), e.g. for the broker to start peering with it.
func (n *Node) OnSiteJoined(f func(site.ID)) {
	n.sites.Lock()
	n.sites.joined = f
	n.sites.Unlock()
}

func askSite(ctx context.Context, client *http.Client, addr string) (site.ID, error) {
	body, err := request(ctx, client, http.MethodGet, addr, sitePath, nil, 64)
	if err != nil {
		return 0, err
	}
	return site.Parse(strings.TrimSpace(string(body)))
}

func (n *Node) serveSite(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, n.cfg.Site.String())
}

// readSites reads a SITES file; nil if it does not exist.
func readSites(path string) (*siteList, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseSites(path, string(data))
}

// parseSites parses "id addr" lines (a founding site) and "id addr joined" lines (a site that
// joined later); from names the source in errors.
func parseSites(from, text string) (*siteList, error) {
	list := &siteList{founding: map[site.ID]string{}, joined: map[site.ID]string{}, forgotten: map[site.ID]bool{}}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "forgotten" {
			id, err := site.Parse(fields[1])
			if err != nil {
				return nil, fmt.Errorf("replication: %s: bad line %q", from, line)
			}
			list.forgotten[id] = true
			continue
		}
		if len(fields) < 2 || len(fields) > 3 || (len(fields) == 3 && fields[2] != "joined") {
			return nil, fmt.Errorf("replication: %s: bad line %q", from, line)
		}
		id, err := site.Parse(fields[0])
		if err != nil {
			return nil, fmt.Errorf("replication: %s: bad line %q", from, line)
		}
		if _, dup := list.all()[id]; dup {
			return nil, fmt.Errorf("replication: %s: site %v listed twice", from, id)
		}
		if len(fields) == 3 {
			list.joined[id] = fields[1]
		} else {
			list.founding[id] = fields[1]
		}
	}
	if len(list.founding) == 0 {
		return nil, fmt.Errorf("replication: %s lists no founding site", from)
	}
	for id := range list.forgotten {
		if _, listed := list.all()[id]; !listed {
			return nil, fmt.Errorf("replication: %s forgets site %v, which it does not list", from, id)
		}
	}
	return list, nil
}

func formatSites(list siteList) string {
	var b strings.Builder
	b.WriteString("# the sites of this cluster: id and cluster address (shard placement derives from the\n")
	b.WriteString("# founding sites' ids; \"joined\" marks a site that joined the formed cluster)\n")
	for _, id := range slices.Sorted(maps.Keys(list.founding)) {
		fmt.Fprintf(&b, "%v %s\n", id, list.founding[id])
	}
	for _, id := range slices.Sorted(maps.Keys(list.joined)) {
		fmt.Fprintf(&b, "%v %s joined\n", id, list.joined[id])
	}
	for _, id := range slices.Sorted(maps.Keys(list.forgotten)) {
		fmt.Fprintf(&b, "forgotten %v\n", id)
	}
	return b.String()
}

func writeSites(path string, list siteList) error {
	return atomicfile.Write(path, []byte(formatSites(list)), 0o644)
}
