package replication

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/mqttds/mqttds/replication/site"
)

// fakeDNS answers A and SRV questions over UDP on loopback from its tables (NXDOMAIN for a
// name it does not know), and counts the questions it answered.
type fakeDNS struct {
	pc net.PacketConn
	mu struct {
		sync.Mutex
		a         map[string][]net.IP
		srv       map[string][]dnsmessage.SRVResource
		questions int
	}
}

func startDNS(t *testing.T) *fakeDNS {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeDNS{pc: pc}
	f.mu.a, f.mu.srv = map[string][]net.IP{}, map[string][]dnsmessage.SRVResource{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out, ok := f.answer(buf[:n]); ok {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return f
}

// resolver sends every lookup to f.
func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", f.pc.LocalAddr().String())
	}}
}

func (f *fakeDNS) setSRV(name string, ports ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.srv[name] = nil
	for _, p := range ports {
		f.mu.srv[name] = append(f.mu.srv[name], dnsmessage.SRVResource{Priority: 1, Weight: 1, Port: uint16(p),
			Target: dnsmessage.MustNewName("localhost.")})
	}
}

func (f *fakeDNS) answer(q []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, false
	}
	question, err := p.Question()
	if err != nil {
		return nil, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.questions++
	name := question.Name.String()
	a, srv := f.mu.a[name], f.mu.srv[name]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
	if a == nil && srv == nil {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(question)
	_ = b.StartAnswers()
	res := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 1}
	switch question.Type {
	case dnsmessage.TypeA:
		for _, ip := range a {
			var v4 [4]byte
			copy(v4[:], ip.To4())
			_ = b.AResource(res, dnsmessage.AResource{A: v4})
		}
	case dnsmessage.TypeSRV:
		for _, s := range srv {
			_ = b.SRVResource(res, s)
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

func TestDNSSeedsLookUpRecords(t *testing.T) {
	f := startDNS(t)
	f.mu.a["sites.test."] = []net.IP{net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")}
	f.setSRV("_cluster._tcp.sites.test.", 7001, 7002)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	require.Equal(t, []string{"127.0.0.1:7946", "127.0.0.2:7946"}, DNSSeeds(f.resolver(), "sites.test", "a", "7946", log)(ctx),
		"each address once, with this site's cluster port")
	require.Equal(t, []string{"localhost:7001", "localhost:7002"},
		DNSSeeds(f.resolver(), "_cluster._tcp.sites.test", "srv", "7946", log)(ctx))
	require.Empty(t, DNSSeeds(f.resolver(), "missing.test", "a", "7946", log)(ctx), "no records yet: no seeds this round")
	require.Empty(t, DNSSeeds(f.resolver(), "missing.test", "srv", "7946", log)(ctx))
}

// TestJoinThroughDNS: three sites find each other through SRV records that list only one of
// them at first and all three later (a service whose sites come up one by one): discovery
// looks them up again at every round.
func TestJoinThroughDNS(t *testing.T) {
	f := startDNS(t)
	var nodes []*Node
	var ports []int
	for i := range 3 {
		n, err := NewNode(Config{Site: site.ID(0x900 + i), NumShards: 2, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer n.Close()
		nodes = append(nodes, n)
		_, port, err := net.SplitHostPort(n.Addr())
		require.NoError(t, err)
		p, err := strconv.Atoi(port)
		require.NoError(t, err)
		ports = append(ports, p)
	}
	const name = "_mqttds._tcp.cluster.test."
	f.setSRV(name, ports[0])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seeds := DNSSeeds(f.resolver(), name, "srv", "", slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, n.JoinSeeds(ctx, t.TempDir(), seeds, 3), "site %d", i)
		}()
	}
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.mu.questions >= 6 // the sites went on looking while one was listed
	}, 10*time.Second, time.Millisecond)
	f.setSRV(name, ports...)
	wg.Wait()
	for _, n := range nodes {
		require.Equal(t, []site.ID{0x900, 0x901, 0x902}, n.Placement().Sites())
	}
}
