package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/internal/testcert"
)

// clusterSite is one `mqttds serve` process of a test cluster.
type clusterSite struct {
	mqtt, cluster, api, dir string
	tls                     []string // cert, key and CA files of the site links
	cmd                     *exec.Cmd
	exited                  chan struct{} // closed once cmd has exited
	mu                      sync.Mutex
	lines                   []string
}

// kill sends SIGKILL and waits until the process is gone.
func (s *clusterSite) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// logs is every site's stderr so far, for failure messages.
func logs(sites []*clusterSite) string {
	var b strings.Builder
	for i, s := range sites {
		s.mu.Lock()
		fmt.Fprintf(&b, "site %d:\n%s\n", i, strings.Join(s.lines, "\n"))
		s.mu.Unlock()
	}
	return b.String()
}

func (s *clusterSite) sawLog(want string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// startClusterSite starts site i of sites; its stderr is collected for sawLog.
func startClusterSite(t *testing.T, bin string, sites []*clusterSite, i int) {
	s := sites[i]
	var seeds []string
	for j, o := range sites {
		if j != i {
			seeds = append(seeds, o.cluster)
		}
	}
	s.cmd = exec.Command(bin, "serve", "--bind", s.mqtt, "--data-dir", s.dir)
	s.cmd.Env = append(os.Environ(), "MQTTDS_API_BIND="+s.api,
		"MQTTDS_DURABLE_STORAGE_MESSAGES_N_SHARDS=4",
		"MQTTDS_DURABLE_STORAGE_MESSAGES_N_SITES=3",
		"MQTTDS_DURABLE_STORAGE_MESSAGES_REPLICATION_FACTOR=3",
		"MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_BIND="+s.cluster,
		"MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_SEEDS="+strings.Join(seeds, ","),
		"MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_CERT_FILE="+s.tls[0],
		"MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_KEY_FILE="+s.tls[1],
		"MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_CA_FILE="+s.tls[2])
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	s.mu.Lock()
	s.lines = nil
	s.mu.Unlock()
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	// Wait must follow the last read of the pipe (os/exec closes it).
	cmd, exited := s.cmd, make(chan struct{})
	s.exited = exited
	go func() { <-scanned; _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
}

// waitStarted waits until every site logged its start, and fails at once, with every site's
// log, when one of them exits instead.
func waitStarted(t *testing.T, sites ...*clusterSite) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		started := true
		for i, s := range sites {
			select {
			case <-s.exited:
				t.Fatalf("site %d exited before it started\n%s", i, logs(sites))
			default:
			}
			started = started && s.sawLog("mqttds started")
		}
		if started {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sites did not start within 60 s\n%s", logs(sites))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectV5 connects a paho v5 client with a durable session (clean start false, one hour of
// session expiry); received messages go to got.
func connectV5(ctx context.Context, t *testing.T, addr, id string, got chan<- *paho.Publish) (*paho.Client, *paho.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			if got != nil {
				got <- r.Packet
			}
			return true, nil
		}},
	})
	expiry := uint32(3600)
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	require.EqualValues(t, 0, ca.ReasonCode)
	return c, ca
}

// newClusterSites makes n sites with their own addresses and data directories, linked by
// mutual TLS with certificates of one test CA.
func newClusterSites(t *testing.T, n int) []*clusterSite {
	root := t.TempDir()
	authority, err := testcert.NewCA()
	require.NoError(t, err)
	cert, key, caFile, err := authority.WriteFiles(root)
	require.NoError(t, err)
	sites := make([]*clusterSite, n)
	for i := range sites {
		sites[i] = &clusterSite{mqtt: freeAddr(t), cluster: freeAddr(t), api: freeAddr(t), dir: filepath.Join(root, fmt.Sprint(i)),
			tls: []string{cert, key, caFile}}
	}
	return sites
}

// TestCluster_KillSiteKeepsAcknowledged runs three broker processes as one cluster, linked by
// mutual TLS. A
// subscriber's durable session is created on site 0, messages are published and acknowledged
// on site 1, then site 0 is killed (SIGKILL); the subscriber comes back on site 2 and receives
// every acknowledged message, including those published after the kill.
func TestCluster_KillSiteKeepsAcknowledged(t *testing.T) {
	bin := buildBinary(t)
	sites := newClusterSites(t, 3)
	for i := range sites {
		startClusterSite(t, bin, sites, i)
	}
	waitStarted(t, sites...)
	for i, s := range sites {
		require.True(t, s.sawLog("tls=true"), "site %d links over TLS\n%s", i, logs(sites))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	liveAcrossSites(ctx, t, sites)

	sub, _ := connectV5(ctx, t, sites[0].mqtt, "cluster-sub", nil)
	_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cl/#", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, sub.Disconnect(&paho.Disconnect{ReasonCode: 0}))

	pub, _ := connectV5(ctx, t, sites[1].mqtt, "cluster-pub", nil)
	want := map[string]bool{}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			p := fmt.Sprintf("m%03d", i)
			publishAcked(ctx, t, pub, "cl/"+p, p) // again if refused while a leader is elected
			want[p] = true
		}
	}
	publish(0, 50)

	// SIGKILL the site where the session was created.
	sites[0].kill()
	publish(50, 70)

	got := make(chan *paho.Publish, 200)
	back, ca := connectV5(ctx, t, sites[2].mqtt, "cluster-sub", got)
	defer back.Disconnect(&paho.Disconnect{})
	require.True(t, ca.SessionPresent, "the session created on site 0 is found on site 2 [MQTT-3.2.2-2]")
	seen := map[string]bool{}
	for len(seen) < len(want) {
		select {
		case m := <-got:
			seen[string(m.Payload)] = true
		case <-ctx.Done():
			missing := []string{}
			for p := range want {
				if !seen[p] {
					missing = append(missing, p)
				}
			}
			t.Fatalf("received %d of %d acknowledged messages; missing %v\n%s", len(seen), len(want), missing, logs(sites))
		}
	}
	for p := range seen {
		require.True(t, want[p], "unexpected message %s", p)
	}

	// Site 2's metrics show the replicas it holds, and that it hears one other site.
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + sites[2].api + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "mqttds_replication_sites_up 2") &&
			strings.Contains(string(body), `mqttds_replication_applied_index{shard="3"}`) &&
			regexp.MustCompile(`(?m)^mqttds_peering_received_total [1-9]`).Match(body) // the live messages
	}, 20*time.Second, 50*time.Millisecond, "replication and peering metrics on site 2")

	// The killed site restarts and rejoins; the cluster keeps taking writes.
	startClusterSite(t, bin, sites, 0)
	waitStarted(t, sites[0])
	publish(70, 75)
	for len(seen) < len(want) {
		select {
		case m := <-got:
			seen[string(m.Payload)] = true
		case <-ctx.Done():
			t.Fatalf("after the restart: received %d of %d", len(seen), len(want))
		}
	}
	require.NoError(t, pub.Disconnect(&paho.Disconnect{}))
}

// liveAcrossSites checks the routing of in-memory sessions across brokers: clients with no
// session expiry on sites 0 and 2 subscribe, a client on site 1 publishes, and each subscriber
// receives every message published once the subscription's route reached site 1, in order,
// once [MQTT-4.6.0-6]; a shared group with a member on each of sites 0 and 2 receives each
// message once, and both members get some [MQTT-4.8.2-2].
func liveAcrossSites(ctx context.Context, t *testing.T, sites []*clusterSite) {
	t.Helper()
	connect := func(addr, id string, got chan<- *paho.Publish) *paho.Client {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		c := paho.NewClient(paho.ClientConfig{Conn: nc,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
				if got != nil {
					got <- r.Packet
				}
				return true, nil
			}}})
		_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return c
	}
	// The group's members subscribe first: a site's route changes reach a peer in order, so
	// once a later route is heard, the group's is known too.
	grp := map[int]chan *paho.Publish{0: make(chan *paho.Publish, 1000), 2: make(chan *paho.Publish, 1000)}
	for _, site := range []int{0, 2} {
		c := connect(sites[site].mqtt, fmt.Sprintf("live-g-%d", site), grp[site])
		_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/g/grp/#", QoS: 1}}})
		require.NoError(t, err)
	}
	got0, got2 := make(chan *paho.Publish, 1000), make(chan *paho.Publish, 1000)
	for _, s := range []struct {
		site int
		got  chan *paho.Publish
	}{{0, got0}, {2, got2}} {
		c := connect(sites[s.site].mqtt, fmt.Sprintf("live-%d", s.site), s.got)
		_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "live/#", QoS: 1}}})
		require.NoError(t, err)
	}
	pub := connect(sites[1].mqtt, "live-pub", nil)
	publish := func(payload string) {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "live/x", QoS: 1, Payload: []byte(payload)})
		require.NoError(t, err)
	}
	// Routes travel asynchronously: probe until both subscribers hear one.
	for _, got := range []chan *paho.Publish{got0, got2} {
		for heard := false; !heard; {
			publish("probe")
			select {
			case <-got:
				heard = true
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("an in-memory subscriber on another site never received a message\n%s", logs(sites))
			}
		}
	}
	// A retained message set through site 1 is in site 0's view once what followed it arrived
	// there (each broker's messages reach another in order).
	_, err := pub.Publish(ctx, &paho.Publish{Topic: "ret/x", QoS: 1, Retain: true, Payload: []byte("kept")})
	require.NoError(t, err)
	const n = 50
	for i := range n {
		publish(fmt.Sprintf("live-%02d", i))
	}
	for site, got := range map[int]chan *paho.Publish{0: got0, 2: got2} {
		var seen []string
		for len(seen) < n {
			select {
			case m := <-got:
				if p := string(m.Payload); p != "probe" {
					seen = append(seen, p)
				}
			case <-ctx.Done():
				t.Fatalf("site %d received %d of %d live messages", site, len(seen), n)
			}
		}
		for i, p := range seen {
			require.Equal(t, fmt.Sprintf("live-%02d", i), p, "site %d: order and no duplicates", site)
		}
	}

	late := make(chan *paho.Publish, 1)
	lc := connect(sites[0].mqtt, "live-late", late)
	_, err = lc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ret/#", QoS: 1}}})
	require.NoError(t, err)
	select {
	case m := <-late:
		require.Equal(t, "kept", string(m.Payload))
		require.True(t, m.Retain, "sent as retained [MQTT-3.3.1-8]")
	case <-ctx.Done():
		t.Fatal("the retained message set through site 1 is not on site 0")
	}

	for i := range n {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "grp/x", QoS: 1, Payload: []byte(fmt.Sprintf("g-%02d", i))})
		require.NoError(t, err)
	}
	members := map[int]int{}
	seen := map[string]bool{}
	take := func(site int, m *paho.Publish) {
		p := string(m.Payload)
		require.False(t, seen[p], "the group received %s twice", p)
		seen[p] = true
		members[site]++
	}
	for len(seen) < n {
		select {
		case m := <-grp[0]:
			take(0, m)
		case m := <-grp[2]:
			take(2, m)
		case <-ctx.Done():
			t.Fatalf("the shared group received %d of %d", len(seen), n)
		}
	}
	require.Positive(t, members[0], "the member on site 0 got its turns")
	require.Positive(t, members[2], "the member on site 2 got its turns")

	// A client id connects to one broker at a time: connecting through site 2 takes the
	// connection on site 0 over [MQTT-3.1.4-3].
	gone := make(chan *paho.Disconnect, 1)
	nc, err := net.DialTimeout("tcp", sites[0].mqtt, 5*time.Second)
	require.NoError(t, err)
	first := paho.NewClient(paho.ClientConfig{Conn: nc, OnServerDisconnect: func(d *paho.Disconnect) { gone <- d }})
	_, err = first.Connect(ctx, &paho.Connect{ClientID: "roaming", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	connect(sites[2].mqtt, "roaming", nil)
	select {
	case d := <-gone:
		require.EqualValues(t, 0x8E, d.ReasonCode, "Session taken over")
	case <-ctx.Done():
		t.Fatal("the connection on site 0 was not taken over")
	}
}
