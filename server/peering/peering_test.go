package peering

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server"
)

const waitFor = 10 * time.Second

// httpTransport posts to the test servers of the nodes, over loopback.
type httpTransport struct {
	self string
	mu   sync.Mutex
	urls map[string]string
}

func (t *httpTransport) Post(ctx context.Context, node, path string, body []byte) (int, error) {
	t.mu.Lock()
	url, ok := t.urls[node]
	t.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("no address for %s", node)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set(NodeHeader, t.self)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// inbox is a Broker that records what it is handed.
type inbox struct {
	mu      sync.Mutex
	msgs    []*server.Message // the plain ones
	groups  map[string]int    // messages per shared group
	letGo   []string          // client ids taken over by other brokers
	retains int
}

func (b *inbox) retained() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.retains
}

func (b *inbox) DeliverFromPeer(m *server.Message, plain bool, groups []string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.Retain {
		b.retains++
	}
	if plain {
		b.msgs = append(b.msgs, m)
	}
	for _, g := range groups {
		if b.groups == nil {
			b.groups = map[string]int{}
		}
		b.groups[g]++
	}
	return 1
}

func (b *inbox) LetGo(clientID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.letGo = append(b.letGo, clientID)
	return true
}

func (b *inbox) lettingGo() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.letGo...)
}

func (b *inbox) group(g string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.groups[g]
}

func (b *inbox) topics() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msgs {
		out = append(out, m.Topic)
	}
	return out
}

// cluster is a set of nodes, each serving its Handler on its own loopback HTTP server.
type cluster struct {
	t       *testing.T
	names   []string
	urls    map[string]string
	servers map[string]*httptest.Server
	nodes   map[string]*Node
	inboxes map[string]*inbox
	trs     []*httpTransport
}

func newCluster(t *testing.T, names ...string) *cluster {
	c := &cluster{t: t, names: names, urls: map[string]string{}, servers: map[string]*httptest.Server{},
		nodes: map[string]*Node{}, inboxes: map[string]*inbox{}}
	for _, name := range names {
		c.start(name)
	}
	t.Cleanup(func() {
		for _, name := range names {
			c.stop(name)
		}
	})
	return c
}

// start starts (or restarts) a node with no routes and an empty inbox.
func (c *cluster) start(name string) {
	tr := &httpTransport{self: name, urls: c.urls}
	c.trs = append(c.trs, tr)
	in := &inbox{}
	n, err := New(Config{Self: name, Peers: c.names, Transport: tr, Broker: in,
		SyncInterval: 20 * time.Millisecond, RequestTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(c.t, err)
	srv := httptest.NewServer(n.Handler())
	for _, tr := range c.trs {
		tr.mu.Lock()
	}
	c.urls[name] = srv.URL
	for _, tr := range c.trs {
		tr.mu.Unlock()
	}
	c.nodes[name], c.servers[name], c.inboxes[name] = n, srv, in
}

func (c *cluster) stop(name string) {
	if n := c.nodes[name]; n != nil {
		n.Close()
		c.servers[name].Close()
		delete(c.nodes, name)
	}
}

// knows waits until node at sees routes as peer's routes.
func (c *cluster) knows(at, peer string, routes ...string) {
	c.t.Helper()
	slices.Sort(routes)
	require.Eventually(c.t, func() bool {
		return slices.Equal(c.nodes[at].RemoteRoutes(peer), routes)
	}, waitFor, time.Millisecond, "%s does not know %s's routes %v: %v", at, peer, routes, c.nodes[at].RemoteRoutes(peer))
}

func msg(topic string) *server.Message {
	return &server.Message{Topic: topic, QoS: mqtt.QoS1, Payload: []byte(topic), Created: time.Now()}
}

// Routes reach every peer; a message goes once to each peer with a matching route and
// nowhere else; routes that go away stop the messages.
func TestRoutesAndForwarding(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	a, b := c.nodes["a"], c.nodes["b"]
	a.Route("x/#", true)
	a.Route("x/+/y", true) // overlapping: still one copy for a
	a.Route("x/#", true)   // repeated: no change
	b.Route("z", true)
	c.knows("c", "a", "x/#", "x/+/y")
	c.knows("c", "b", "z")
	c.knows("a", "b", "z")

	for _, topic := range []string{"x/1/y", "z", "q"} {
		require.Empty(t, c.nodes["c"].Forward(msg(topic), nil))
	}
	require.Eventually(t, func() bool {
		return slices.Equal(c.inboxes["a"].topics(), []string{"x/1/y"}) && slices.Equal(c.inboxes["b"].topics(), []string{"z"})
	}, waitFor, time.Millisecond)

	a.Route("x/+/y", false)
	c.knows("c", "a", "x/#")
	a.Route("x/#", false)
	b.Route("z", false)
	c.knows("c", "a")
	c.knows("c", "b")
	c.nodes["c"].Forward(msg("x/1/y"), nil)
	require.Never(t, func() bool { return len(c.inboxes["a"].topics()) > 1 }, 100*time.Millisecond, 5*time.Millisecond)
	require.Zero(t, a.Stats().Routes)
}

// A restarted node comes back with no routes and its peers forget its old ones; a node whose
// peer restarted finds out (409 on its next delta) and sends its whole set again.
func TestRestartResyncsRoutes(t *testing.T) {
	c := newCluster(t, "a", "b")
	c.nodes["a"].Route("old/#", true)
	c.knows("b", "a", "old/#")
	c.nodes["b"].Route("kept", true)
	c.knows("a", "b", "kept")

	c.stop("a")
	c.start("a")
	c.knows("b", "a") // the new a announced its (empty) set
	c.knows("a", "b", "kept")
	require.Eventually(t, func() bool { return c.nodes["b"].Stats().Resyncs > 0 }, waitFor, time.Millisecond,
		"b sent its whole set again (counted once the request returns)")

	c.nodes["a"].Route("new", true)
	c.knows("b", "a", "new")
}

// Messages reach a peer in the order they were forwarded, across batches.
func TestForwardKeepsOrder(t *testing.T) {
	c := newCluster(t, "a", "b")
	c.nodes["a"].Route("o/#", true)
	c.knows("b", "a", "o/#")
	const n = 5000
	var want []string
	for i := range n {
		topic := fmt.Sprintf("o/%d", i)
		want = append(want, topic)
		c.nodes["b"].Forward(msg(topic), nil)
	}
	require.Eventually(t, func() bool { return len(c.inboxes["a"].topics()) == n }, waitFor, time.Millisecond)
	require.Equal(t, want, c.inboxes["a"].topics())
	// The sender counts a batch once its request returns, which may be after delivery.
	require.Eventually(t, func() bool { return c.nodes["b"].Stats().Forwarded == n }, waitFor, time.Millisecond)
	require.Zero(t, c.nodes["b"].Stats().Dropped)
	require.Eventually(t, func() bool { return c.nodes["a"].Stats().Received == n }, waitFor, time.Millisecond)
}

// A request from a node that is not a peer, or with a body that does not decode, is refused
// and changes nothing.
func TestHandlerRefuses(t *testing.T) {
	c := newCluster(t, "a", "b")
	post := func(node, path string, body []byte) int {
		req, err := http.NewRequest(http.MethodPost, c.urls["a"]+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(NodeHeader, node)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	batch := MarshalBatch([]Forwarded{{Message: msg("t"), Plain: true}})
	require.Equal(t, http.StatusForbidden, post("mallory", PublishPath, batch))
	require.Equal(t, http.StatusBadRequest, post("b", PublishPath, batch[:len(batch)-1]))
	require.Equal(t, http.StatusBadRequest, post("b", RoutesPath, []byte{9}))
	stale := &RouteUpdate{Epoch: 1, Seq: 5, Changes: []RouteChange{{"t", true}}}
	require.Equal(t, http.StatusConflict, post("b", RoutesPath, stale.Marshal()))
	require.Empty(t, c.inboxes["a"].topics())
	require.Equal(t, http.StatusNoContent, post("b", PublishPath, batch))
	require.Equal(t, []string{"t"}, c.inboxes["a"].topics())
}

// A shared group with members on several brokers gets each message once: the publishing
// broker gives it to one broker with members, itself included when it has members, in turn.
func TestSharedGroupsAcrossBrokers(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	const group = "$share/g/s/#"
	c.nodes["a"].Route(group, true)
	c.nodes["b"].Route(group, true)
	c.knows("c", "a", group)
	c.knows("c", "b", group)
	const n = 300
	local := 0
	for i := range n {
		// c has members too for the second half.
		var mine []string
		if i >= n/2 {
			mine = []string{group}
		}
		elsewhere := c.nodes["c"].Forward(msg(fmt.Sprintf("s/%d", i)), mine)
		switch {
		case len(elsewhere) == 0:
			require.NotNil(t, mine, "message %d: no broker took the group", i)
			local++
		default:
			require.Equal(t, []string{group}, elsewhere)
		}
	}
	require.Eventually(t, func() bool {
		return c.inboxes["a"].group(group)+c.inboxes["b"].group(group)+local == n
	}, waitFor, time.Millisecond)
	for _, name := range []string{"a", "b"} {
		require.Greater(t, c.inboxes[name].group(group), n/6, "%s gets its turns", name)
		require.Empty(t, c.inboxes[name].topics(), "no plain copies")
	}
	require.Greater(t, local, n/12, "c's own members get their turns")
}

// TakeOver reaches every peer before it returns; a peer that is down is not waited for
// beyond the context, and counts as a failure.
func TestTakeOver(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	c.nodes["a"].TakeOver(context.Background(), "client-7")
	require.Equal(t, []string{"client-7"}, c.inboxes["b"].lettingGo())
	require.Equal(t, []string{"client-7"}, c.inboxes["c"].lettingGo())
	require.Empty(t, c.inboxes["a"].lettingGo())

	c.stop("c")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.nodes["a"].TakeOver(ctx, "client-8")
	require.Equal(t, []string{"client-7", "client-8"}, c.inboxes["b"].lettingGo())
	st := c.nodes["a"].Stats()
	require.EqualValues(t, 2, st.TakeOvers)
	require.EqualValues(t, 1, st.TakeOverFailures)

	// c is now known to be down: a take-over no longer waits for it, and still reaches b.
	require.True(t, c.nodes["a"].peerMap()["c"].down.Load())
	c.nodes["a"].TakeOver(context.Background(), "client-9")
	require.Equal(t, []string{"client-7", "client-8", "client-9"}, c.inboxes["b"].lettingGo())
	require.Eventually(t, func() bool { return c.nodes["a"].Stats().TakeOverFailures == 2 }, waitFor, time.Millisecond,
		"the request to c went out in the background and failed")
}

// Every peer gets each retained message, whatever its routes: brokers keep a view of the
// retained messages each.
func TestRetainedGoesEverywhere(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	m := msg("r/x")
	m.Retain = true
	require.Empty(t, c.nodes["c"].Forward(m, nil))
	for _, name := range []string{"a", "b"} {
		require.Eventually(t, func() bool { return c.inboxes[name].retained() == 1 }, waitFor, time.Millisecond, name)
		require.Empty(t, c.inboxes[name].topics(), "%s: for the view, not for delivery", name)
	}
}

// A broker that joins later is refused until the others add it (AddPeer); then it gets their
// routes, they get its routes, and messages flow both ways.
func TestAddPeerTakesAJoinedBroker(t *testing.T) {
	c := newCluster(t, "a", "b")
	c.nodes["a"].Route("j/#", true)
	c.names = append(c.names, "d")
	c.start("d")
	t.Cleanup(func() { c.stop("d") })
	d := c.nodes["d"]
	d.Route("d/#", true)
	require.Never(t, func() bool { return len(c.nodes["a"].RemoteRoutes("d")) > 0 }, 100*time.Millisecond, 5*time.Millisecond,
		"an unknown broker's routes are refused")
	for _, name := range []string{"a", "b"} {
		c.nodes[name].AddPeer("d")
		c.nodes[name].AddPeer("d") // known: nothing changes
		c.nodes[name].AddPeer(name)
		require.Len(t, c.nodes[name].peerMap(), 2, name)
	}
	c.knows("d", "a", "j/#")
	c.knows("a", "d", "d/#")
	c.knows("b", "d", "d/#")
	c.nodes["b"].Forward(msg("d/1"), nil)
	d.Forward(msg("j/1"), nil)
	require.Eventually(t, func() bool {
		return slices.Equal(c.inboxes["d"].topics(), []string{"d/1"}) && slices.Equal(c.inboxes["a"].topics(), []string{"j/1"})
	}, waitFor, time.Millisecond)

	c.nodes["b"].Close()
	c.nodes["b"].AddPeer("e")
	require.NotContains(t, c.nodes["b"].peerMap(), "e", "a closed node starts no sender")
}
