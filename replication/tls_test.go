package replication

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/internal/testcert"
	"github.com/mqttds/mqttds/replication/transport"
)

// TestClusterOverTLS runs three sites whose links are mutual TLS: writes on a shard's leader
// and writes forwarded from another site (HTTP over the same TLS port) are acknowledged and
// reach every replica.
func TestClusterOverTLS(t *testing.T) {
	ca, err := testcert.NewCA()
	require.NoError(t, err)
	cert, key, caFile, err := ca.WriteFiles(t.TempDir())
	require.NoError(t, err)
	tlsCfg, err := transport.LoadTLS(cert, key, caFile)
	require.NoError(t, err)
	c := newTestCluster(t, 3, 2, func(cfg *Config) { cfg.TLS = tlsCfg })
	p0, t0 := topics(0, 0, 20)
	c.write(0, p0...)
	// A write on a site that does not lead shard 1 goes to the leader over TLS.
	other := (c.leader(1) + 1) % 3
	p1, t1 := topics(1, 0, 5)
	msgs := make([]ds.Message, len(p1))
	for i, p := range p1 {
		msgs[i] = ds.Message{ClientID: clientFor(1, 2), Topic: t1[i], Payload: []byte(p), QoS: 1}
	}
	require.NoError(t, c.sites[other].db.Store(context.Background(), msgs, ds.Sync))
	c.converged(append(t0, t1...))
}
