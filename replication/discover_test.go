package replication

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/replication/site"
)

// TestJoinLearnsSitesOnceAndKeepsThem: three sites that know only each other's addresses
// learn each other's ids, agree on the placement, and keep the list for later starts.
func TestJoinLearnsSitesOnceAndKeepsThem(t *testing.T) {
	var nodes []*Node
	var dirs []string
	for i := range 3 {
		n, err := NewNode(Config{Site: site.ID(0x500 + i), NumShards: 4, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer n.Close()
		nodes = append(nodes, n)
		dirs = append(dirs, t.TempDir())
	}
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, n.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Join(ctx, dirs[i], seeds, 3)
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		require.NoError(t, errs[i])
		require.Equal(t, []site.ID{0x500, 0x501, 0x502}, n.Placement().Sites())
		for shard := range 4 {
			require.Equal(t, nodes[0].Placement().Replicas(shard), n.Placement().Replicas(shard))
		}
	}
	// A later start reads the list: no seed needs to answer.
	again, err := NewNode(Config{Site: 0x501, NumShards: 4, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer again.Close()
	require.NoError(t, again.Join(ctx, dirs[1], nil, 3))
	require.Equal(t, nodes[1].Placement().Sites(), again.Placement().Sites())
	// A list that contradicts n_sites is refused.
	require.Error(t, again.Join(ctx, dirs[1], nil, 5))
	data, err := os.ReadFile(filepath.Join(dirs[1], SitesFile))
	require.NoError(t, err)
	require.Contains(t, string(data), site.ID(0x502).String())
}

func TestJoinGivesUpWhenSitesAreMissing(t *testing.T) {
	n, err := NewNode(Config{Site: 0x600, NumShards: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = n.Join(ctx, t.TempDir(), []string{"127.0.0.1:1"}, 2)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestJoinFormedCluster: a site started after its seeds formed their cluster joins it: every
// site takes it as a peer and keeps it in its SITES file (across restarts), the placement
// stays the founding sites', and a founding site or a bad announcement is refused.
func TestJoinFormedCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newNode := func(id site.ID) *Node {
		n, err := NewNode(Config{Site: id, NumShards: 4, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		return n
	}
	nodes, dirs, seeds := formCluster(ctx, t, newNode, 0x700)
	founding := nodes[0].Placement().Sites()

	late := newNode(0x7ff)
	lateDir := t.TempDir()
	require.NoError(t, late.Join(ctx, lateDir, seeds[1:2], 3), "one seed is enough")
	require.Equal(t, founding, late.Placement().Sites(), "a joined site leaves the placement as it was")
	for shard := range 4 {
		require.NotContains(t, late.Placement().Replicas(shard), late.Site())
	}
	knows := func(n *Node, id site.ID, addr string) bool {
		for _, s := range n.Sites() {
			if s.ID == id {
				return s.Addr == addr
			}
		}
		return false
	}
	for i, n := range nodes {
		require.True(t, knows(n, late.Site(), late.Addr()), "site %d takes the joined site as a peer", i)
		require.True(t, knows(late, n.Site(), n.Addr()), "the joined site knows site %d", i)
		data, err := os.ReadFile(filepath.Join(dirs[i], SitesFile))
		require.NoError(t, err)
		require.Contains(t, string(data), late.Site().String()+" "+late.Addr()+" joined\n")
	}

	// Restarts read the lists: no seed needs to answer.
	again := newNode(0x701)
	require.NoError(t, again.Join(ctx, dirs[1], nil, 3))
	require.Equal(t, founding, again.Placement().Sites())
	require.True(t, knows(again, late.Site(), late.Addr()))
	lateAgain := newNode(0x7ff)
	require.NoError(t, lateAgain.Join(ctx, lateDir, nil, 3))
	require.Equal(t, founding, lateAgain.Placement().Sites())
	require.True(t, knows(lateAgain, nodes[2].Site(), nodes[2].Addr()))

	// A second site joins through the first joined one and learns of it too.
	second := newNode(0x7fe)
	require.NoError(t, second.Join(ctx, t.TempDir(), []string{late.Addr()}, 3))
	require.True(t, knows(second, late.Site(), late.Addr()))
	require.True(t, knows(nodes[0], second.Site(), second.Addr()))

	client := nodes[0].tr.AddrClient(2 * time.Second)
	for _, c := range []struct {
		body string
		code int
	}{
		{founding[1].String() + " 127.0.0.1:9", http.StatusConflict},
		{"not-a-site 127.0.0.1:9", http.StatusBadRequest},
		{site.ID(0x7fd).String(), http.StatusBadRequest},
	} {
		err := post(ctx, client, nodes[0].Addr(), joinPath, c.body)
		require.ErrorContains(t, err, fmt.Sprintf("answered %d", c.code), c.body)
	}
	fresh := newNode(0x7fc)
	err := post(ctx, client, fresh.Addr(), joinPath, site.ID(0x7fd).String()+" 127.0.0.1:9")
	require.ErrorContains(t, err, "answered 503", "a site outside any cluster takes no one")
}

func TestParseSitesRefusesBadLists(t *testing.T) {
	for _, text := range []string{
		"",
		"# only a comment\n",
		"0000000000000701 127.0.0.1:1 founding\n",
		"0000000000000701\n",
		"0000000000000701 127.0.0.1:1\n0000000000000701 127.0.0.1:2 joined\n",
		"0000000000000702 127.0.0.1:2 joined\n",
		"0000000000000701 127.0.0.1:1\nforgotten 0000000000000709\n",
		"0000000000000701 127.0.0.1:1\nforgotten nope\n",
	} {
		_, err := parseSites("test", text)
		require.Error(t, err, "%q", text)
	}
	list, err := parseSites("test", "0000000000000701 127.0.0.1:1\n0000000000000702 127.0.0.1:2 joined\nforgotten 0000000000000702\n")
	require.NoError(t, err)
	again, err := parseSites("test", formatSites(*list))
	require.NoError(t, err)
	require.Equal(t, list, again)
}

// TestSiteListsConverge: a site that was down while another joined learns of it from the
// others once it is back; a forgotten site stops being anyone's peer, its id cannot join
// again, and the forgotten site itself refuses to start from its old list.
func TestSiteListsConverge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newNode := func(id site.ID) *Node {
		n, err := NewNode(Config{Site: id, NumShards: 4, SiteSyncInterval: 20 * time.Millisecond,
			JoinGrace: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		return n
	}
	knows := func(n *Node, id site.ID) bool {
		return slices.ContainsFunc(n.Sites(), func(s SiteStatus) bool { return s.ID == id })
	}
	nodes, dirs, seeds := formCluster(ctx, t, newNode, 0xa00)

	require.NoError(t, nodes[2].Close()) // down while a site joins
	late := newNode(0xaff)
	lateDir := t.TempDir()
	require.NoError(t, late.Join(ctx, lateDir, seeds[:1], 3), "a join does not wait for a site that is down")
	back := newNode(0xa02)
	require.NoError(t, back.Join(ctx, dirs[2], nil, 3))
	require.Eventually(t, func() bool { return knows(back, late.Site()) }, waitFor, 5*time.Millisecond,
		"the site that was down learns of the joined site")
	data, err := os.ReadFile(filepath.Join(dirs[2], SitesFile))
	require.NoError(t, err)
	require.Contains(t, string(data), late.Site().String()+" "+late.Addr()+" joined")

	require.NoError(t, nodes[0].forgetInList(late.Site()))
	nodes[0].markForgotten([]site.ID{late.Site()})
	for _, n := range []*Node{nodes[0], nodes[1], back} {
		require.Eventually(t, func() bool { return !knows(n, late.Site()) }, waitFor, 5*time.Millisecond,
			"site %v forgets the forgotten site", n.Site())
	}
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(filepath.Join(lateDir, SitesFile))
		return err == nil && strings.Contains(string(data), "forgotten "+late.Site().String())
	}, waitFor, 5*time.Millisecond, "the forgotten site hears of it too")
	again := newNode(0xaff)
	require.ErrorContains(t, again.Join(ctx, lateDir, nil, 3), "was forgotten")
	client := nodes[1].tr.AddrClient(2 * time.Second)
	err = post(ctx, client, nodes[1].Addr(), joinPath, late.Site().String()+" 127.0.0.1:9")
	require.ErrorContains(t, err, "answered 410")
	restarted := newNode(0xa01)
	require.NoError(t, restarted.Join(ctx, dirs[1], nil, 3))
	require.False(t, knows(restarted, late.Site()), "a restart keeps the site forgotten")
}

// formCluster starts three sites from newNode, ids base to base+2, which find each other
// through their addresses as seeds.
func formCluster(ctx context.Context, t *testing.T, newNode func(site.ID) *Node, base site.ID) (nodes []*Node, dirs, seeds []string) {
	for i := range 3 {
		nodes = append(nodes, newNode(base+site.ID(i)))
		dirs = append(dirs, t.TempDir())
		seeds = append(seeds, nodes[i].Addr())
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, n.Join(ctx, dirs[i], seeds, 3))
		}()
	}
	wg.Wait()
	return nodes, dirs, seeds
}
