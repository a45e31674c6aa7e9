package replication

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
