package server

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/durable"
	"github.com/stretchr/testify/require"
)

// scaleConfig sizes TestSoak_DurableScale from the environment: MQTTDS_SCALE=1 turns it on
// (MQTTDS_SOAK too, so that `make soak` runs it), MQTTDS_SCALE_SESSIONS and
// MQTTDS_SCALE_MESSAGES change the defaults of 100k sessions and 1M stored messages;
// MQTTDS_SCALE_HEAPPROFILE and MQTTDS_SCALE_CPUPROFILE name files for a heap profile taken
// after the restart and a CPU profile of the restart.
type scaleConfig struct {
	sessions, messages int
}

func scaleFromEnv(t *testing.T) scaleConfig {
	if os.Getenv("MQTTDS_SCALE") == "" && os.Getenv("MQTTDS_SOAK") == "" {
		t.Skip("set MQTTDS_SCALE=1 (or run make soak)")
	}
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		require.NoError(t, err, name)
		return n
	}
	return scaleConfig{sessions: num("MQTTDS_SCALE_SESSIONS", 100_000), messages: num("MQTTDS_SCALE_MESSAGES", 1_000_000)}
}

// memUse is what the process holds after a full collection: live heap and resident set.
type memUse struct{ heap, rss int64 }

func measureMem(t *testing.T) memUse {
	runtime.GC()
	debug.FreeOSMemory()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	raw, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(raw))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return memUse{heap: int64(s[0].Value.Uint64()), rss: pages * int64(os.Getpagesize())}
}

// scaleFilter is session i's one subscription: every session has its own filter, the worst
// case for the route index (nothing is shared).
func scaleFilter(i int) string { return fmt.Sprintf("dev/%d/cmd", i) }

// createScaleSessions writes n durable sessions with one subscription each through the durable
// store (the broker's own path, without the network), many at a time so that their commits
// share fsyncs.
func createScaleSessions(t *testing.T, db *ds.DB, n int) {
	st, err := durable.Open(db, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	const workers = 256
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				s, err := st.Create(context.Background(), fmt.Sprintf("scale-%06d", i), time.Hour)
				if err == nil {
					_, err = s.Subscribe(durable.Subscription{Filter: scaleFilter(i), QoS: 1})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(t, <-errs)
}

// storeScaleMessages writes n messages to the sessions' topics straight through ds, in large
// batches (one publisher per shard, one fsync per batch).
func storeScaleMessages(t *testing.T, db *ds.DB, n, sessions int) {
	shards := db.NumShards()
	pubs := make([]string, shards)
	for i, found := 0, 0; found < shards; i++ {
		id := fmt.Sprintf("scale-pub-%d", i)
		if s := ds.ShardOf(id, shards); pubs[s] == "" {
			pubs[s] = id
			found++
		}
	}
	const batch = 10_000
	payload := make([]byte, 32)
	var wg sync.WaitGroup
	errs := make(chan error, shards)
	for shard := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := n / shards
			if shard < n%shards {
				mine++
			}
			for done := 0; done < mine; {
				b := db.NewBatch(shard)
				for j := 0; j < batch && done < mine; j, done = j+1, done+1 {
					b.AddMessage(&ds.Message{ClientID: pubs[shard], Topic: scaleFilter((done*shards + shard) % sessions),
						Payload: payload, QoS: 1})
				}
				if err := db.Apply(context.Background(), b, ds.Sync); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(t, <-errs)
}

// restartTimes are the phases of a restart.
type restartTimes struct {
	storage time.Duration // ds.Open
	total   time.Duration // ds.Open to the first CONNACK (durable.Open and the broker's load within)
}

func (r restartTimes) String() string {
	return fmt.Sprintf("%v (storage open %v, sessions and broker %v)", r.total.Round(time.Millisecond),
		r.storage.Round(time.Millisecond), (r.total - r.storage).Round(time.Millisecond))
}

// openScaleBroker opens the store in dir and a broker on it, and returns the broker, its
// address and how long each step took up to the first CONNACK. The broker and the store are
// closed at the end of the test, or by closeScaleBroker.
func openScaleBroker(t *testing.T, dir string) (*Server, string, restartTimes) {
	start := time.Now()
	db, err := ds.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() }) // after the broker's Close; closeScaleBroker may have
	var took restartTimes
	took.storage = time.Since(start)
	srv, addr := durableServer(t, dir, func(o *Options) { o.Durable.DB = db })
	c := dialRaw(t, addr, mqtt.V5)
	ack := c.connect("scale-probe", true)
	took.total = time.Since(start)
	require.Equal(t, mqtt.Success, ack.ReasonCode)
	c.close()
	return srv, addr, took
}

// closeScaleBroker closes a broker of openScaleBroker and its store.
func closeScaleBroker(t *testing.T, srv *Server) {
	db := srv.Storage()
	closeServer(t, srv)
	require.NoError(t, db.Close())
}

// TestSoak_DurableScale measures what offline durable sessions cost the broker. It stores
// messages (default 1M) directly through ds, copies that store, adds sessions (default 100k,
// one subscription each) to the copy through the durable store, and opens a broker on each
// copy: the one without sessions is the baseline, so the difference is what the sessions cost
// (the store's own memory, its memtables and caches, is in both). It reports the time from
// New to the first CONNACK, and the heap and RSS per session after a collection. The issue's
// budget: at most 500 bytes of RSS per session, and under 3 s to restart with 100k sessions
// and 10M messages.
func TestSoak_DurableScale(t *testing.T) {
	cfg := scaleFromEnv(t)
	base, dir := t.TempDir(), t.TempDir()

	// 1. The stored state: messages in base, copied to dir, where the sessions are added.
	start := time.Now()
	db, err := ds.Open(base, nil)
	require.NoError(t, err)
	storeScaleMessages(t, db, cfg.messages, cfg.sessions)
	require.NoError(t, db.Close())
	t.Logf("stored %d messages in %v", cfg.messages, time.Since(start).Round(time.Millisecond))
	require.NoError(t, os.CopyFS(dir, os.DirFS(base)))
	start = time.Now()
	db, err = ds.Open(dir, nil)
	require.NoError(t, err)
	createScaleSessions(t, db, cfg.sessions)
	storeScaleMessages(t, db, cfg.sessions, cfg.sessions) // one each, to be delivered at the end
	require.NoError(t, db.Close())
	t.Logf("created %d sessions in %v", cfg.sessions, time.Since(start).Round(time.Millisecond))

	// 2. The memory baseline: a broker on the messages alone; then the restart with the
	// sessions, next to it.
	before := measureMem(t)
	srv0, _, took0 := openScaleBroker(t, base)
	mid := measureMem(t)
	srv, _, took := openScaleBroker(t, dir)
	require.Equal(t, cfg.sessions, srv.DurableMetrics().Sessions)
	after := measureMem(t)
	if path := os.Getenv("MQTTDS_SCALE_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, pprof.WriteHeapProfile(f))
		require.NoError(t, f.Close())
	}
	closeScaleBroker(t, srv)
	closeScaleBroker(t, srv0)

	// 3. The restart again, alone.
	if path := os.Getenv("MQTTDS_SCALE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		defer f.Close()
	}
	srv, addr, alone := openScaleBroker(t, dir)
	pprof.StopCPUProfile()

	// 4. What the sessions cost.
	per := func(v int64) float64 { return float64(v) / float64(cfg.sessions) }
	t.Logf("restart to CONNACK with %d sessions and %d messages: %v", cfg.sessions, cfg.messages, alone)
	t.Logf("the first time, next to the baseline broker: %v", took)
	t.Logf("restart to CONNACK with the messages alone: %v", took0)
	// The heap difference of the two brokers is the sessions' own; RSS also holds the second
	// store's memtables and caches (and moves with what the allocators keep), so it is an
	// upper bound.
	heap := per((after.heap - mid.heap) - (mid.heap - before.heap))
	t.Logf("per session: heap %.0f B (minus the broker without sessions), RSS at most %.0f B (all the second broker holds)",
		heap, per(after.rss-mid.rss))
	t.Logf("RSS: %d MB at start, %d MB with the baseline broker, %d MB with both", before.rss>>20, mid.rss>>20, after.rss>>20)
	if cfg.sessions >= 50_000 {
		require.Less(t, heap, 500.0, "bytes of heap per offline session")
	}

	// 5. A stored session still works: it resumes and receives what was stored for it.
	sub, ack := rawDurable(t, addr, "scale-000007", false, 10)
	require.True(t, ack.SessionPresent)
	p := sub.expect(mqtt.TypePublish)
	require.Equal(t, scaleFilter(7), p.Topic)
}

// compacted waits until the broker has dropped id's durable session back to its compact entry.
func compacted(t *testing.T, srv *Server, id string) {
	t.Helper()
	waitFor(t, id+" compact", func() bool {
		_, ok := srv.durable.store.Offline(id)
		return ok && srv.loadedSession(id) == nil
	})
}

// Ensure that a durable session evicted to its compact form and loaded again when its client
// returns carries on as if it had stayed in memory: Session Present, its subscription, the
// in-flight window re-sent in order with DUP and the same packet ids, a PUBREC'd QoS 2 message
// only as PUBREL [MQTT-4.4.0-1], and an inbound QoS 2 packet id still awaiting PUBREL.
func TestDurable_CompactSessionResumes(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	sub, _ := rawDurable(t, addr, "cs", true, 2)
	sub.subscribe(1, mqtt.Subscription{Filter: "c/#", QoS: mqtt.QoS2})
	sub.publish("in/q2", "inbound", mqtt.QoS2, 7, false)
	require.Equal(t, uint16(7), sub.expect(mqtt.TypePubrec).PacketID)

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("cs-pub", true)
	pub.publish("c/a", "q2", mqtt.QoS2, 1, false)
	pub.expect(mqtt.TypePubrec)
	for i := range 3 {
		pub.publish("c/a", fmt.Sprint(i), mqtt.QoS1, uint16(10+i), false)
		pub.expect(mqtt.TypePuback)
	}
	first := sub.expect(mqtt.TypePublish)
	require.Equal(t, "q2", string(first.Payload))
	second := sub.expect(mqtt.TypePublish)
	require.Equal(t, "0", string(second.Payload))
	sub.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: first.PacketID})
	sub.expect(mqtt.TypePubrel)
	sub.close()
	compacted(t, srv, "cs")

	sub, ack := rawDurable(t, addr, "cs", false, 10)
	require.True(t, ack.SessionPresent)
	require.Equal(t, first.PacketID, sub.expect(mqtt.TypePubrel).PacketID)
	again := sub.expect(mqtt.TypePublish)
	require.True(t, again.Dup)
	require.Equal(t, second.PacketID, again.PacketID)
	require.Equal(t, "0", string(again.Payload))
	for i := 1; i < 3; i++ {
		p := sub.expect(mqtt.TypePublish)
		require.False(t, p.Dup)
		require.Equal(t, fmt.Sprint(i), string(p.Payload))
		sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	}
	sub.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: first.PacketID})
	sub.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: again.PacketID})
	// The inbound QoS 2 exchange finishes: the packet id is still known [MQTT-4.3.3-11].
	sub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: 7})
	comp := sub.expect(mqtt.TypePubcomp)
	require.Equal(t, mqtt.Success, comp.ReasonCode)
	// The subscription came back without a SUBSCRIBE.
	pub.publish("c/b", "after", mqtt.QoS1, 20, false)
	pub.expect(mqtt.TypePuback)
	require.Equal(t, "after", string(sub.expect(mqtt.TypePublish).Payload))
}

// Ensure that the Will and expiry of compact sessions fire from the shared timer: a Will whose
// delay passes while the session is compact is published [MQTT-3.1.3-9], and a compact session
// whose expiry passes ends [MQTT-4.1.0-2]; a client back within the Will delay cancels its Will
// [MQTT-3.1.3-9]; the sweep ends compact sessions too. (A Will due at expiry after a restart is covered by
// TestDurable_WillsAcrossRestart: on a lost connection the broker publishes a Will whose delay
// is not shorter than the expiry at once.)
func TestDurable_CompactSessionTimers(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	watcher := dialRaw(t, addr, mqtt.V5)
	watcher.connect("cw", true)
	watcher.subscribe(1, mqtt.Subscription{Filter: "will/#", QoS: mqtt.QoS1})
	withWill := func(id string, clean bool) *rawClient {
		c := dialRaw(t, addr, mqtt.V5)
		c.connect(id, clean, sessionExpiry(3600), func(p *mqtt.Packet) {
			p.Connect.Will = &mqtt.Will{Topic: "will/" + id, Payload: []byte(id), QoS: mqtt.QoS1}
			p.Connect.Will.Properties.WillDelay = 3
			p.Connect.Will.Properties.Present.Add(mqtt.PropWillDelay)
		})
		return c
	}
	withWill("delayed", true).close() // no DISCONNECT: the Will stands
	withWill("back", true).close()
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("ending", true, sessionExpiry(3))
	c.close()
	compacted(t, srv, "delayed")
	compacted(t, srv, "back")
	compacted(t, srv, "ending")
	back := withWill("back", false)
	defer back.close()
	watcher.expectNothing(100 * time.Millisecond)

	p := watcher.expect(mqtt.TypePublish)
	require.Equal(t, "delayed", string(p.Payload))
	watcher.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	waitFor(t, "ending gone", func() bool {
		_, ok := srv.durable.store.Offline("ending")
		return !ok && srv.loadedSession("ending") == nil
	})
	compacted(t, srv, "delayed") // back to compact once its Will is gone
	e, ok := srv.durable.store.Offline("delayed")
	require.True(t, ok)
	_, will := e.WillAt()
	require.False(t, will, "published once")
	watcher.expectNothing(100 * time.Millisecond) // not back's
	require.Equal(t, 2, srv.DurableMetrics().Sessions)

	srv.durable.gc(time.Now().Add(2 * time.Hour))
	_, ok = srv.durable.store.Offline("delayed")
	require.False(t, ok, "swept")
	require.Nil(t, srv.session("delayed"))
	require.Equal(t, 1, srv.DurableMetrics().Sessions, "back is online")
}

// Ensure that the API lists a compact session and its subscriptions, read from storage
// without loading the session.
func TestDurable_CompactSessionListed(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	c, _ := rawDurable(t, addr, "listed", true, 10)
	c.subscribe(1, mqtt.Subscription{Filter: "l/+/x", QoS: mqtt.QoS1}, mqtt.Subscription{Filter: "l/y", QoS: mqtt.QoS2})
	c.close()
	compacted(t, srv, "listed")

	var sessions []SessionInfo
	for _, s := range srv.Sessions() {
		if s.ClientID == "listed" {
			sessions = append(sessions, s)
		}
	}
	require.Len(t, sessions, 1)
	require.True(t, sessions[0].Durable)
	require.False(t, sessions[0].Online)
	require.Equal(t, time.Hour, sessions[0].Expiry)
	require.False(t, sessions[0].Created.IsZero())
	require.Equal(t, []SubscriptionView{
		{ClientID: "listed", Filter: "l/+/x", QoS: 1},
		{ClientID: "listed", Filter: "l/y", QoS: 2},
	}, srv.Subscriptions("listed"))
	require.Len(t, srv.Subscriptions(""), 2)
	require.Nil(t, srv.loadedSession("listed"), "listing does not load the session")
	require.Equal(t, int64(1), srv.Metrics().Sessions.Total)
}

// Ensure that the deadlines a client leaves behind each time its session goes compact again do
// not pile up: past a bound the heap is rebuilt from the compact sessions.
func TestDurable_CompactDeadlinesBounded(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	c, _ := rawDurable(t, addr, "churn", true, 10)
	c.close()
	compacted(t, srv, "churn")
	tm := &srv.durable.timers
	stale := make([]deadline, 2000)
	for i := range stale {
		stale[i] = deadline{at: time.Now().Add(time.Hour).UnixNano() + int64(i), id: "churn"}
	}
	tm.add(stale, srv.durable.store)
	tm.mu.Lock()
	n := len(tm.deadlines)
	tm.mu.Unlock()
	require.Equal(t, 1, n, "one expiry deadline for the one compact session")
}

// Ensure that sessions going compact and coming back while their clients reconnect all the time
// lose nothing: every resume finds the session (Session Present), and every message published
// while a client is away arrives once it is back. Evictions are made almost immediate so that
// they race the reconnects.
func TestDurable_CompactChurn(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	srv.durable.timers.delay.Store(int64(time.Millisecond))
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("churn-pub", true)
	const clients, rounds = 3, 15
	for i := range clients {
		c, _ := rawDurable(t, addr, fmt.Sprintf("churn-%d", i), true, 10)
		c.subscribe(1, mqtt.Subscription{Filter: fmt.Sprintf("churn/%d", i), QoS: mqtt.QoS1})
		c.close()
	}
	pid := uint16(0)
	for r := range rounds {
		for i := range clients {
			pid++
			pub.publish(fmt.Sprintf("churn/%d", i), fmt.Sprint(r), mqtt.QoS1, pid, false)
			pub.expect(mqtt.TypePuback)
		}
		time.Sleep(time.Duration(r%4) * time.Millisecond) // sometimes before, sometimes after eviction
		for i := range clients {
			c, ack := rawDurable(t, addr, fmt.Sprintf("churn-%d", i), false, 10)
			require.True(t, ack.SessionPresent, "round %d client %d", r, i)
			p := c.expect(mqtt.TypePublish)
			require.Equal(t, fmt.Sprint(r), string(p.Payload), "round %d client %d", r, i)
			c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
			c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
			c.expectClosed()
		}
	}
	for i := range clients {
		compacted(t, srv, fmt.Sprintf("churn-%d", i))
	}
	m := srv.DurableMetrics()
	require.Equal(t, clients, m.Sessions)
	require.Positive(t, m.Evictions)
	require.Positive(t, m.Loads, "some resumes found their session compact")
	t.Logf("%d resumes: %d loads, %d evictions", clients*rounds, m.Loads, m.Evictions)
}
