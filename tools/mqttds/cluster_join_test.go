package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/server"
)

// TestCluster_SiteJoinsRunningCluster replaces a site of a running three-site cluster: a
// fourth broker process joins (every site keeps it in its SITES file), `ctl ds set_replicas` moves
// every replica of a founding site onto it, the founding site is killed, and the joined site
// serves a durable session with messages published on another site and live messages to an
// in-memory session.
func TestCluster_SiteJoinsRunningCluster(t *testing.T) {
	bin := buildBinary(t)
	sites := newClusterSites(t, 4)
	for i := range 3 {
		startClusterSite(t, bin, sites[:3], i)
	}
	waitStarted(t, sites[:3]...)
	startClusterSite(t, bin, sites, 3) // seeds: the three others
	waitStarted(t, sites[3])
	require.True(t, sites[3].sawLog("joined the cluster"), logs(sites))

	var self []server.SiteView
	getJSON(t, sites[3], "/api/v1/ds/sites", &self)
	require.Len(t, self, 4, "the joined site knows every site")
	joined, leaving, staying := "", "", []string{}
	for _, s := range self {
		switch s.Addr {
		case sites[0].cluster:
			leaving = s.Site
		case sites[3].cluster:
			joined = s.Site
			staying = append(staying, s.Site)
		default:
			staying = append(staying, s.Site)
		}
	}
	require.NotEmpty(t, joined)
	require.NotEmpty(t, leaving)
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join(sites[i].dir, "SITES"))
		require.NoError(t, err)
		require.Contains(t, string(data), joined+" "+sites[3].cluster+" joined", "site %d keeps the joined site", i)
	}

	// The joined site holds no replica yet: it serves a durable session by reading every shard
	// at its leader (session state, messages, and the leader's commits to wake the session).
	earlyCtx, earlyCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer earlyCancel()
	early := make(chan *paho.Publish, 64)
	es, _ := connectV5(earlyCtx, t, sites[3].mqtt, "joined-early", early)
	subscribeAcked(earlyCtx, t, es, "early/#")
	ep, _ := connectV5(earlyCtx, t, sites[2].mqtt, "joined-early-pub", nil)
	for i := range 5 {
		publishAcked(earlyCtx, t, ep, "early/x", fmt.Sprint(i))
	}
	receiveInOrder(earlyCtx, t, early, 0, 5, "a durable session on a site without replicas", sites)
	require.NoError(t, es.Disconnect(&paho.Disconnect{}))
	require.NoError(t, ep.Disconnect(&paho.Disconnect{}))

	out, err := ctl(t, append([]string{"--api", sites[1].api, "--data-dir", sites[1].dir, "ds", "set_replicas", "default"}, staying...)...)
	require.NoError(t, err, out)
	require.Contains(t, out, "4 shards to move")
	require.Eventually(t, func() bool {
		var st server.StorageDetail
		getJSON(t, sites[1], "/api/v1/ds/storages/default", &st)
		for _, sh := range st.ShardList {
			var voters []string
			for _, r := range sh.Replicas {
				if r.Status != "learner" {
					voters = append(voters, r.Site)
				}
			}
			if len(voters) != 3 || !slices.Contains(voters, joined) || slices.Contains(voters, leaving) || sh.Pending != "" {
				return false
			}
		}
		return len(st.ShardList) == 4
	}, 60*time.Second, 50*time.Millisecond, "every shard moves from the leaving site to the joined one\n%s", logs(sites))
	sites[0].kill()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, _ := connectV5(ctx, t, sites[3].mqtt, "joined-sub", nil)
	subscribeAcked(ctx, t, sub, "jn/#")
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))
	pub, _ := connectV5(ctx, t, sites[1].mqtt, "joined-pub", nil)
	defer pub.Disconnect(&paho.Disconnect{})
	for i := range 10 {
		publishAcked(ctx, t, pub, "jn/x", fmt.Sprint(i))
	}
	got := make(chan *paho.Publish, 64)
	back, ca := connectV5(ctx, t, sites[3].mqtt, "joined-sub", got)
	defer back.Disconnect(&paho.Disconnect{})
	require.True(t, ca.SessionPresent)
	receiveInOrder(ctx, t, got, 0, 10, "the durable session on the joined site", sites)

	// Live routing reaches the joined broker (it peers with the others and they with it).
	live := make(chan *paho.Publish, 64)
	lc := liveClient(ctx, t, sites[3].mqtt, "joined-live", live)
	defer lc.Disconnect(&paho.Disconnect{})
	_, err = lc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "lv/#", QoS: 1}}})
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for received := false; !received; {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "lv/x", QoS: 1, Payload: []byte("live")})
		require.NoError(t, err)
		select {
		case <-live:
			received = true
		case <-time.After(100 * time.Millisecond):
			require.True(t, time.Now().Before(deadline), "no live message reached the joined site\n%s", logs(sites))
		}
	}

	for i := 10; i < 15; i++ {
		publishAcked(ctx, t, pub, "jn/x", fmt.Sprint(i))
		receiveInOrder(ctx, t, got, i, i+1, "the durable session, live", sites)
	}
}

// subscribeAcked subscribes c to filter at QoS 1 and repeats the SUBSCRIBE while the broker
// refuses it: a site may fail a write whose outcome it cannot know while a shard's leadership
// moves (ds.ErrNotCommitted), and answers with a failure reason code as MQTT lets it
// [MQTT-3.8.4-7]; a client tries again.
func subscribeAcked(ctx context.Context, t *testing.T, c *paho.Client, filter string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
		require.NoError(t, err)
		if len(sa.Reasons) == 1 && sa.Reasons[0] < 0x80 {
			return
		}
		require.Less(t, attempt, 20, "SUBSCRIBE %s refused 20 times: %v", filter, sa.Reasons)
		time.Sleep(100 * time.Millisecond) // a client's pause before it tries again
	}
}

// publishAcked publishes payload at QoS 1 and publishes it again while the PUBACK reports a
// failure (see subscribeAcked): the message may then arrive twice, which QoS 1 allows.
func publishAcked(ctx context.Context, t *testing.T, c *paho.Client, topic, payload string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
		require.NoError(t, err)
		if resp.ReasonCode < 0x80 {
			return
		}
		require.Less(t, attempt, 20, "PUBLISH %s refused 20 times: reason %#x", payload, resp.ReasonCode)
		time.Sleep(100 * time.Millisecond)
	}
}

// receiveInOrder waits for the payloads from..to-1 (decimal) on got, in order
// [MQTT-4.6.0-6]; a repeat of a payload already received is a QoS 1 duplicate and skipped.
func receiveInOrder(ctx context.Context, t *testing.T, got <-chan *paho.Publish, from, to int, who string, sites []*clusterSite) {
	t.Helper()
	for i := from; i < to; {
		select {
		case m := <-got:
			n, err := strconv.Atoi(string(m.Payload))
			require.NoError(t, err)
			if n < i {
				continue // a duplicate
			}
			require.Equal(t, i, n, "%s: in order [MQTT-4.6.0-6]", who)
			i++
		case <-ctx.Done():
			t.Fatalf("%s received %d of %d\n%s", who, i-from, to-from, logs(sites))
		}
	}
}

// liveClient connects a paho v5 client with a clean start and no session expiry.
func liveClient(ctx context.Context, t *testing.T, addr, id string, got chan<- *paho.Publish) *paho.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			got <- r.Packet
			return true, nil
		}}})
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.EqualValues(t, 0, ca.ReasonCode)
	return c
}

// getJSON GETs path from s's API with the local token its broker wrote in its data directory.
func getJSON(t *testing.T, s *clusterSite, path string, v any) {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(s.dir, server.LocalTokenFile))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, "http://"+s.api+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, strings.TrimSpace(string(body)))
	require.NoError(t, json.Unmarshal(body, v))
}
