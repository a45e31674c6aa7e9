package transport

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/internal/testcert"
	"github.com/mqttds/mqttds/replication/site"
)

// siteTLS issues a site certificate for 127.0.0.1 from ca and loads it the way a site does.
func siteTLS(t *testing.T, ca *testcert.CA) *tls.Config {
	t.Helper()
	cert, key, caFile, err := ca.WriteFiles(t.TempDir())
	require.NoError(t, err)
	cfg, err := LoadTLS(cert, key, caFile)
	require.NoError(t, err)
	return cfg
}

func listenTLS(t *testing.T, id site.ID, h Handler, cfg *tls.Config) *Transport {
	t.Helper()
	tr, err := ListenTLS("127.0.0.1:0", id, h, nil, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// Sites with certificates from the cluster's CA exchange raft frames and HTTP over TLS; a
// site without TLS, or with a certificate from another CA, gets nothing through in either
// direction, and its messages are reported unreachable.
func TestTLSAdmitsOnlyTheClustersCA(t *testing.T) {
	ca, err := testcert.NewCA()
	require.NoError(t, err)
	other, err := testcert.NewCA()
	require.NoError(t, err)
	var ia, ib, ic, id inbox
	a := listenTLS(t, 1, &ia, siteTLS(t, ca))
	b := listenTLS(t, 2, &ib, siteTLS(t, ca))
	stranger := listenTLS(t, 3, &ic, siteTLS(t, other))
	plain := listen(t, 4, &id)
	b.ServeHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "site 2") }))

	a.AddPeer(2, b.Addr())
	for i := range 10 {
		a.Send(1, heartbeat(1, 2, uint64(i)))
	}
	require.Eventually(t, func() bool { return ib.count() == 10 }, 10*time.Second, time.Millisecond)
	resp, err := a.Client().Get("http://" + site.ID(2).String() + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "site 2", string(body))
	resp, err = a.AddrClient(5 * time.Second).Get("http://" + b.Addr() + "/")
	require.NoError(t, err)
	resp.Body.Close()

	for _, intruder := range []struct {
		name string
		tr   *Transport
		in   *inbox
		id   site.ID
	}{{"another CA", stranger, &ic, 3}, {"no TLS", plain, &id, 4}} {
		t.Run(intruder.name, func(t *testing.T) {
			intruder.tr.AddPeer(2, b.Addr())
			a.AddPeer(intruder.id, intruder.tr.Addr())
			require.Eventually(t, func() bool {
				intruder.tr.Send(1, heartbeat(uint64(intruder.id), 2, 1))
				a.Send(1, heartbeat(1, uint64(intruder.id), 1))
				intruder.in.mu.Lock()
				refused := intruder.in.unreachable[2] > 0
				intruder.in.mu.Unlock()
				ia.mu.Lock()
				defer ia.mu.Unlock()
				return refused && ia.unreachable[intruder.id] > 0
			}, 10*time.Second, 10*time.Millisecond)
			_, err := intruder.tr.AddrClient(5 * time.Second).Get("http://" + b.Addr() + "/")
			require.Error(t, err)
			require.Equal(t, 10, ib.count(), "nothing from %s reached site 2", intruder.name)
			require.Zero(t, intruder.in.count(), "nothing from site 1 reached %s", intruder.name)
		})
	}
}

func TestListenTLSRefusesAnIncompleteConfiguration(t *testing.T) {
	ca, err := testcert.NewCA()
	require.NoError(t, err)
	full := siteTLS(t, ca)
	for name, change := range map[string]func(c *tls.Config){
		"no certificate":    func(c *tls.Config) { c.Certificates = nil },
		"no root CAs":       func(c *tls.Config) { c.RootCAs = nil },
		"no client CAs":     func(c *tls.Config) { c.ClientCAs = nil },
		"unverified client": func(c *tls.Config) { c.ClientAuth = tls.RequestClientCert },
	} {
		t.Run(name, func(t *testing.T) {
			c := full.Clone()
			change(c)
			_, err := ListenTLS("127.0.0.1:0", 1, &inbox{}, nil, c)
			require.ErrorContains(t, err, "TLS configuration")
		})
	}
	_, err = LoadTLS(filepath.Join(t.TempDir(), "missing.crt"), "x", "y")
	require.Error(t, err)
}
