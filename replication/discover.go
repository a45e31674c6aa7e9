package replication

import (
	"bufio"
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

// Joining a static cluster. A site knows the addresses of the others (seeds), not their ids,
// which each site creates on its first start. Join asks every seed for its id
// (GET /v1/site on the transport port) until it knows n sites, this one included, and then
// keeps the list in the data directory (file SITES), so that the placement of shards, and the
// voters of every raft group, never change across restarts even if a seed is down.

// SitesFile is the file in the data directory that holds the cluster's sites.
const SitesFile = "SITES"

const sitePath = "/v1/site"

// Join fills in Config.Sites and the peers' addresses: from the SITES file in dir if there is
// one, else by asking seeds until nSites sites (this one included) are known, bounded by ctx.
func (n *Node) Join(ctx context.Context, dir string, seeds []string, nSites int) error {
	path := filepath.Join(dir, SitesFile)
	peers, err := readSites(path)
	if err != nil {
		return err
	}
	if peers == nil {
		if peers, err = n.discover(ctx, seeds, nSites); err != nil {
			return err
		}
		if err := writeSites(path, peers); err != nil {
			return err
		}
	}
	if len(peers) != nSites {
		return fmt.Errorf("replication: %s lists %d sites, n_sites is %d", path, len(peers), nSites)
	}
	ids := make([]site.ID, 0, len(peers))
	for id, addr := range peers {
		ids = append(ids, id)
		if id != n.cfg.Site {
			n.AddPeer(id, addr)
		}
	}
	if _, ok := peers[n.cfg.Site]; !ok {
		return fmt.Errorf("replication: %s does not list this site %v", path, n.cfg.Site)
	}
	return n.setSites(ids)
}

func (n *Node) discover(ctx context.Context, seeds []string, nSites int) (map[site.ID]string, error) {
	peers := map[site.ID]string{n.cfg.Site: n.Addr()}
	client := n.tr.AddrClient(2 * time.Second)
	for {
		for _, seed := range seeds {
			if slices.Contains(slices.Collect(maps.Values(peers)), seed) {
				continue
			}
			id, err := askSite(ctx, client, seed)
			if err != nil {
				continue
			}
			if id != n.cfg.Site {
				peers[id] = seed
			}
		}
		if len(peers) >= nSites {
			if len(peers) > nSites {
				return nil, fmt.Errorf("replication: found %d sites, n_sites is %d", len(peers), nSites)
			}
			n.log.Info("replication: cluster sites known", "sites", len(peers))
			return peers, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("replication: waiting for %d sites, %d answered: %w", nSites, len(peers), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func askSite(ctx context.Context, client *http.Client, addr string) (site.ID, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+sitePath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("replication: %s answered %d", addr, resp.StatusCode)
	}
	return site.Parse(strings.TrimSpace(string(body)))
}

func (n *Node) serveSite(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, n.cfg.Site.String())
}

// readSites reads "id addr" lines; nil if the file does not exist.
func readSites(path string) (map[site.ID]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[site.ID]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		idText, addr, ok := strings.Cut(line, " ")
		id, err := site.Parse(idText)
		if !ok || err != nil {
			return nil, fmt.Errorf("replication: %s: bad line %q", path, line)
		}
		out[id] = strings.TrimSpace(addr)
	}
	return out, sc.Err()
}

func writeSites(path string, peers map[site.ID]string) error {
	ids := slices.Sorted(maps.Keys(peers))
	var b strings.Builder
	b.WriteString("# the sites of this cluster: id and cluster address (shard placement derives from the ids)\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "%v %s\n", id, peers[id])
	}
	return atomicfile.Write(path, []byte(b.String()), 0o644)
}
