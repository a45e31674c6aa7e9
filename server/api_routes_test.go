package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/stretchr/testify/require"
)

// apiJSON calls h without credentials (an open handler), requires status, and decodes the
// body into v (unless v is nil).
func apiJSON(t *testing.T, h http.Handler, method, path, body string, status int, v any) *httptest.ResponseRecorder {
	t.Helper()
	rec := apiCall(t, h, method, path, "", body)
	require.Equal(t, status, rec.Code, "%s %s: %s", method, path, rec.Body.String())
	if v != nil {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), v), rec.Body.String())
	}
	return rec
}

func clientIDs(vs []ClientView) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.ClientID)
	}
	return out
}

// Ensure that /api/v1/clients lists connected clients and disconnected sessions, with each
// filter, and pages through them with a cursor.
func TestAPIClients_FiltersAndPages(t *testing.T) {
	s, addr := startServer(t, nil)
	h := s.APIHandler()
	a1 := dialRaw(t, addr, mqtt.V5)
	a1.connect("a-1", true, sessionExpiry(60), login("u1", ""))
	a1.subscribe(1, mqtt.Subscription{Filter: "x/#", QoS: mqtt.QoS1})
	a2 := dialRaw(t, addr, mqtt.V5)
	a2.connect("a-2", true, sessionExpiry(60), login("u2", ""))
	b1 := dialRaw(t, addr, mqtt.V311)
	b1.connect("b-1", true)
	a2.close()
	waitFor(t, "a-2 disconnected", func() bool { return len(s.Clients()) == 2 })

	var all []ClientView
	rec := apiJSON(t, h, "GET", "/api/v1/clients", "", http.StatusOK, &all)
	require.Equal(t, "3", rec.Header().Get("X-Total-Count"))
	require.Empty(t, rec.Header().Get("Link"))
	require.Equal(t, []string{"a-1", "a-2", "b-1"}, clientIDs(all))
	require.True(t, all[0].Connected)
	require.Equal(t, "u1", all[0].Username)
	require.Equal(t, 60*time.Second, all[0].Expiry)
	require.NotNil(t, all[0].Inflight)
	require.False(t, all[1].Connected)
	require.Empty(t, all[1].Remote)
	require.Equal(t, "3.1.1", all[2].Version)

	for query, want := range map[string][]string{
		"connected=true":                     {"a-1", "b-1"},
		"connected=false":                    {"a-2"},
		"client_id_prefix=a-":                {"a-1", "a-2"},
		"client_id_prefix=a-&connected=true": {"a-1"},
		"username=u1":                        {"a-1"},
		"username=u2":                        {}, // a disconnected session keeps no username
		"durable=false":                      {"a-1", "a-2", "b-1"},
		"durable=true":                       {},
	} {
		var got []ClientView
		apiJSON(t, h, "GET", "/api/v1/clients?"+query, "", http.StatusOK, &got)
		require.Equal(t, want, clientIDs(got), query)
	}
	var sessions []SessionInfo
	apiJSON(t, h, "GET", "/api/v1/sessions?connected=false", "", http.StatusOK, &sessions)
	require.Len(t, sessions, 1)
	require.Equal(t, "a-2", sessions[0].ClientID)
	apiJSON(t, h, "GET", "/api/v1/sessions?username=u1", "", http.StatusOK, &sessions)
	require.Len(t, sessions, 1)
	require.Equal(t, "a-1", sessions[0].ClientID)

	// Pages of two: the Link header leads to the next page, the last page has none.
	var page1, page2 []ClientView
	rec = apiJSON(t, h, "GET", "/api/v1/clients?limit=2", "", http.StatusOK, &page1)
	require.Equal(t, []string{"a-1", "a-2"}, clientIDs(page1))
	require.Equal(t, "3", rec.Header().Get("X-Total-Count"))
	link := rec.Header().Get("Link")
	require.Regexp(t, `^<(/api/v1/clients\?[^>]+)>; rel="next"$`, link)
	next := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	u, err := url.Parse(next)
	require.NoError(t, err)
	require.Equal(t, rec.Header().Get("X-Next-Cursor"), u.Query().Get("after"))
	rec = apiJSON(t, h, "GET", next, "", http.StatusOK, &page2)
	require.Equal(t, []string{"b-1"}, clientIDs(page2))
	require.Empty(t, rec.Header().Get("Link"))
	// A cursor stays valid when the item it names is gone.
	a1.close()
	waitFor(t, "a-1 disconnected", func() bool { return len(s.Clients()) == 1 })
	require.True(t, s.DeleteSession("a-2"))
	apiJSON(t, h, "GET", next, "", http.StatusOK, &page2)
	require.Equal(t, []string{"b-1"}, clientIDs(page2))

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=***", "connected=maybe", "durable=2"} {
		requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients?"+q, "", ""), http.StatusBadRequest, codeBadRequest)
	}
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/sessions?durable=x", "", ""), http.StatusBadRequest, codeBadRequest)
}

// Ensure that GET /api/v1/clients/{id} shows a client with its subscriptions, and that DELETE
// disconnects it, with ?session=true deleting the session too, connected or not.
func TestAPIClients_ShowAndDelete(t *testing.T) {
	s, addr := startServer(t, nil)
	h := s.APIHandler()
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("dora", true, sessionExpiry(60), login("dora", ""))
	c.subscribe(1, mqtt.Subscription{Filter: "a/+", QoS: mqtt.QoS2, NoLocal: true})

	var d ClientDetail
	apiJSON(t, h, "GET", "/api/v1/clients/dora", "", http.StatusOK, &d)
	require.True(t, d.Connected)
	require.Equal(t, "dora", d.Username)
	require.Equal(t, 0, *d.Inflight)
	require.Equal(t, []SubscriptionView{{ClientID: "dora", Filter: "a/+", QoS: 2, NoLocal: true}}, d.Subscriptions)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients/nobody", "", ""), http.StatusNotFound, codeClientNotFound)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients/dor", "", ""), http.StatusNotFound, codeClientNotFound)

	// A kick keeps the session; the client is then shown disconnected.
	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/clients/dora", "", "").Code)
	require.Equal(t, mqtt.AdministrativeAction, c.expect(mqtt.TypeDisconnect).ReasonCode)
	waitFor(t, "dora disconnected", func() bool { return len(s.Clients()) == 0 })
	apiJSON(t, h, "GET", "/api/v1/clients/dora", "", http.StatusOK, &d)
	require.False(t, d.Connected)
	require.Len(t, d.Subscriptions, 1)
	requireAPIError(t, apiCall(t, h, "DELETE", "/api/v1/clients/dora", "", ""), http.StatusNotFound, codeNotConnected)
	requireAPIError(t, apiCall(t, h, "DELETE", "/api/v1/clients/dora?session=x", "", ""), http.StatusBadRequest, codeBadRequest)

	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/clients/dora?session=true", "", "").Code)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients/dora", "", ""), http.StatusNotFound, codeClientNotFound)
	requireAPIError(t, apiCall(t, h, "DELETE", "/api/v1/clients/dora?session=true", "", ""), http.StatusNotFound, codeClientNotFound)
	require.Zero(t, s.subs.Len(), "the session's subscriptions left the index")

	// A connected client's session: disconnected (0x98), then deleted; a reconnect with
	// Clean Start 0 finds no session [MQTT-3.2.2-2] v5.
	c = dialRaw(t, addr, mqtt.V5)
	c.connect("eve", true, sessionExpiry(60))
	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/clients/eve?session=true", "", "").Code)
	require.Equal(t, mqtt.AdministrativeAction, c.expect(mqtt.TypeDisconnect).ReasonCode)
	c = dialRaw(t, addr, mqtt.V5)
	require.False(t, c.connect("eve", false, sessionExpiry(60)).SessionPresent)
}

// Ensure that a compact durable session's in-flight and awaiting-PUBREL counts are read from
// storage for GET /api/v1/clients/{id} (a listing shows null: it does not read storage), and
// equal what the loaded session showed; DELETE ?session=true deletes the stored session.
func TestAPIClients_CompactSessionCounts(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	h := srv.APIHandler()
	sub, _ := rawDurable(t, addr, "meter", true, 5)
	sub.subscribe(1, mqtt.Subscription{Filter: "m/#", QoS: mqtt.QoS1})
	sub.publish("in/q2", "inbound", mqtt.QoS2, 7, false)
	require.Equal(t, uint16(7), sub.expect(mqtt.TypePubrec).PacketID)
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("meter-pub", true)
	for i := range 3 {
		pub.publish("m/1", "v", mqtt.QoS1, uint16(10+i), false)
		pub.expect(mqtt.TypePuback)
	}
	for range 3 {
		sub.expect(mqtt.TypePublish) // not acknowledged
	}
	var live ClientDetail
	apiJSON(t, h, "GET", "/api/v1/clients/meter", "", http.StatusOK, &live)
	require.Equal(t, 3, *live.Inflight)
	require.Equal(t, 1, live.AwaitingRel)
	require.True(t, live.Durable)
	sub.close()
	compacted(t, srv, "meter")

	var listed []ClientView
	apiJSON(t, h, "GET", "/api/v1/clients?durable=true", "", http.StatusOK, &listed)
	require.Len(t, listed, 1)
	require.Nil(t, listed[0].Inflight, "a listing does not read a compact session's records")
	require.False(t, listed[0].Connected)
	var d ClientDetail
	apiJSON(t, h, "GET", "/api/v1/clients/meter", "", http.StatusOK, &d)
	require.Equal(t, 3, *d.Inflight)
	require.Equal(t, 1, d.AwaitingRel)
	require.Equal(t, []SubscriptionView{{ClientID: "meter", Filter: "m/#", QoS: 1}}, d.Subscriptions)
	require.Nil(t, srv.loadedSession("meter"), "showing does not load the session")

	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/clients/meter?session=true", "", "").Code)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/clients/meter", "", ""), http.StatusNotFound, codeClientNotFound)
	_, ok, err := srv.durable.store.StoredMeta("meter")
	require.NoError(t, err)
	require.False(t, ok, "the stored session is deleted")
}

// Ensure that subscriptions are listed in pages and by client.
func TestAPISubscriptions_Pages(t *testing.T) {
	s, addr := startServer(t, nil)
	h := s.APIHandler()
	for _, id := range []string{"p", "q"} {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(id, true)
		c.subscribe(1, mqtt.Subscription{Filter: id + "/1"}, mqtt.Subscription{Filter: id + "/2"})
	}
	var got, page []SubscriptionView
	next := "/api/v1/subscriptions?limit=3"
	for next != "" {
		rec := apiJSON(t, h, "GET", next, "", http.StatusOK, &page)
		require.Equal(t, "4", rec.Header().Get("X-Total-Count"))
		got = append(got, page...)
		next = strings.TrimSuffix(strings.TrimPrefix(rec.Header().Get("Link"), "<"), `>; rel="next"`)
	}
	require.Len(t, got, 4)
	require.Equal(t, "p/1", got[0].Filter)
	require.Equal(t, "q/2", got[3].Filter)
	apiJSON(t, h, "GET", "/api/v1/subscriptions?client=q", "", http.StatusOK, &page)
	require.Len(t, page, 2)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/subscriptions?limit=-1", "", ""), http.StatusBadRequest, codeBadRequest)
}

// Ensure that retained messages are listed (all, or by filter), shown with their payload and
// deleted, that POST /api/v1/publish reaches subscribers and retains, and its errors.
func TestAPIRetainedAndPublish(t *testing.T) {
	s, addr := startServer(t, &Options{NodeName: "n1"})
	h := s.APIHandler()
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("watcher", true)
	c.subscribe(1, mqtt.Subscription{Filter: "t/#", QoS: mqtt.QoS1})

	var res PublishResult
	apiJSON(t, h, "POST", "/api/v1/publish", `{"topic": "t/a", "payload": "21.5", "qos": 1, "retain": true}`, http.StatusOK, &res)
	require.Equal(t, 1, res.Delivered)
	p := c.expect(mqtt.TypePublish)
	require.Equal(t, "t/a", p.Topic)
	require.Equal(t, "21.5", string(p.Payload))
	require.Equal(t, mqtt.QoS1, p.QoS)
	c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	apiJSON(t, h, "POST", "/api/v1/publish", `{"topic": "/lead//empty", "payload": "AAH/", "encoding": "base64", "retain": true}`, http.StatusOK, &res)
	require.Zero(t, res.Delivered)
	_, err := s.Publish("$SYS/x", []byte("sys"), mqtt.QoS0, true)
	require.NoError(t, err)

	var list []RetainedView
	rec := apiJSON(t, h, "GET", "/api/v1/retained", "", http.StatusOK, &list)
	require.Equal(t, "3", rec.Header().Get("X-Total-Count"))
	require.Equal(t, []string{"$SYS/x", "/lead//empty", "t/a"}, []string{list[0].Topic, list[1].Topic, list[2].Topic})
	require.Equal(t, 4, list[2].PayloadSize)
	require.Equal(t, byte(1), list[2].QoS)
	apiJSON(t, h, "GET", "/api/v1/retained?filter=%23", "", http.StatusOK, &list)
	require.Len(t, list, 2, `"#" leaves out $ topics [MQTT-4.7.2-1]`)
	apiJSON(t, h, "GET", "/api/v1/retained?filter=t/%2B&limit=1", "", http.StatusOK, &list)
	require.Len(t, list, 1)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/retained?filter=a/%23/b", "", ""), http.StatusBadRequest, codeBadRequest)

	// A topic is one path-escaped segment, so empty levels and a leading '/' survive.
	var m RetainedMessage
	apiJSON(t, h, "GET", "/api/v1/retained/"+url.PathEscape("/lead//empty"), "", http.StatusOK, &m)
	require.Equal(t, []byte{0, 1, 0xff}, m.Payload)
	apiJSON(t, h, "GET", "/api/v1/retained/t/a", "", http.StatusOK, &m)
	require.Equal(t, "21.5", string(m.Payload))
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/retained/t/none", "", ""), http.StatusNotFound, codeTopicNotFound)
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/retained/t/%23", "", ""), http.StatusNotFound, codeTopicNotFound)

	require.Equal(t, http.StatusNoContent, apiCall(t, h, "DELETE", "/api/v1/retained/t/a", "", "").Code)
	requireAPIError(t, apiCall(t, h, "DELETE", "/api/v1/retained/t/a", "", ""), http.StatusNotFound, codeTopicNotFound)
	require.EqualValues(t, 2, s.Metrics().Retained)
	c.expectNothing(50 * time.Millisecond) // deleting publishes nothing

	for _, body := range []string{
		`{"topic": "t/+", "payload": "x"}`,
		`{"topic": "", "payload": "x"}`,
		`{"topic": "$SYS/fake", "payload": "x"}`,
		`{"topic": "t/a", "payload": "x", "qos": 3}`,
		`{"topic": "t/a", "payload": "!!", "encoding": "base64"}`,
		`{"topic": "t/a", "payload": "x", "encoding": "hex"}`,
		`{"topic": "t/a", "payload": "x", "dup": true}`,
		`[]`,
	} {
		requireAPIError(t, apiCall(t, h, "POST", "/api/v1/publish", "", body), http.StatusBadRequest, codeBadRequest)
	}
}

// Ensure that the node status and the /ds routes describe a single node: one site holding
// every shard of the one storage; and a broker without durable storage has no storage.
func TestAPINodeAndDS(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir(), func(o *Options) { o.NodeName = "n1" })
	h := srv.APIHandler()
	dialRaw(t, addr, mqtt.V5).connect("x", true)

	var st NodeStatus
	apiJSON(t, h, "GET", "/api/v1/status", "", http.StatusOK, &st)
	require.Equal(t, "n1", st.Node)
	require.Equal(t, Version, st.Version)
	require.True(t, st.Durable)
	require.EqualValues(t, 1, st.Connections)
	require.Len(t, st.Listeners, 1)
	require.Equal(t, addr, st.Listeners[0].Address)
	require.Positive(t, st.Uptime)

	var storages []StorageView
	apiJSON(t, h, "GET", "/api/v1/ds/storages", "", http.StatusOK, &storages)
	require.Equal(t, []StorageView{{Name: "default", Shards: 4, Generations: 4, DiskBytes: storages[0].DiskBytes,
		Sites: []string{"n1"}}}, storages)
	require.Positive(t, storages[0].DiskBytes)
	var sd StorageDetail
	apiJSON(t, h, "GET", "/api/v1/ds/storages/default", "", http.StatusOK, &sd)
	require.Len(t, sd.ShardList, 4)
	for i, sh := range sd.ShardList {
		require.Equal(t, i, sh.ID)
		require.Equal(t, []ReplicaView{{Site: "n1", Status: "up"}}, sh.Replicas)
		require.Len(t, sh.Generations, 1)
		require.True(t, sh.Generations[0].Current)
	}
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/ds/storages/other", "", ""), http.StatusNotFound, codeStorageNotFound)

	var sites []SiteView
	apiJSON(t, h, "GET", "/api/v1/ds/sites", "", http.StatusOK, &sites)
	require.Equal(t, []SiteView{{Site: "n1", Node: "n1", Up: true, Shards: 4}}, sites)
	var site SiteDetail
	apiJSON(t, h, "GET", "/api/v1/ds/sites/n1", "", http.StatusOK, &site)
	require.Len(t, site.ShardList, 4)
	require.Equal(t, SiteShardView{Storage: "default", Shard: 3, Status: "up"}, site.ShardList[3])
	requireAPIError(t, apiCall(t, h, "GET", "/api/v1/ds/sites/n2", "", ""), http.StatusNotFound, codeSiteNotFound)

	mem, _ := startServer(t, &Options{NodeName: "m"})
	apiJSON(t, mem.APIHandler(), "GET", "/api/v1/ds/storages", "", http.StatusOK, &storages)
	require.Empty(t, storages)
	apiJSON(t, mem.APIHandler(), "GET", "/api/v1/ds/sites", "", http.StatusOK, &sites)
	require.Equal(t, []SiteView{{Site: "m", Node: "m", Up: true}}, sites)
	var ready Health
	apiJSON(t, mem.APIHandler(), "GET", "/readyz", "", http.StatusOK, &ready)
	require.Equal(t, "ready", ready.Status)
	closeServer(t, mem)
	requireAPIError(t, apiCall(t, mem.APIHandler(), "GET", "/readyz", "", ""), http.StatusServiceUnavailable, codeNotReady)
}
