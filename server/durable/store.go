package durable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/ds"
)

// TableName is the ds KV table that holds session state.
const TableName = "sessions"

// Options configure a Store. A nil *Options means all defaults; a zero field means that
// field's default.
type Options struct {
	// BatchSize is the most messages one Fetch reads from one stream. Default 100.
	BatchSize int
	// HeartbeatInterval is how often the store records that this node is alive, so that after
	// a crash the sessions that were online age from the last heartbeat. Default 5s.
	HeartbeatInterval time.Duration
	// RenewInterval spaces the stream renewals (ds.GetStreams per filter) of a session under
	// steady traffic: new streams are rare (a new topic structure, a new generation), commits
	// are not. Zero renews on every Fetch that follows a commit, so that Fetch sees every
	// message committed before it; with an interval, a new stream may wait until the session
	// fetches again after it (see Session.RenewPending).
	RenewInterval time.Duration
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
	// Shared is set when other brokers write the same store (a replicated ds, one broker per
	// site): a session unknown here is looked up in the store before it is taken for new.
	Shared bool
}

// EnsureDefaults fills zero fields and returns o (a nil o is allocated).
func (o *Options) EnsureDefaults() *Options {
	if o == nil {
		o = &Options{}
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store keeps durable sessions in a ds.DB: their state in the TableName KV table and the
// messages they receive in the DB's message streams, written once whatever the number of
// subscribers. It owns the durable route index.
//
// Every method is safe for concurrent use.
type Store struct {
	db     *ds.DB
	tab    *ds.Table
	opts   Options
	routes RouteIndex
	// lastHeartbeat is the heartbeat found at open: when the previous process was last known
	// alive.
	lastHeartbeat time.Time

	// loadMu serializes Load and Evict, the two moves between a compact entry and a loaded
	// Session, so that a session is never both or neither.
	loadMu sync.Mutex

	mu struct {
		sync.Mutex
		// sessions are the loaded sessions: online ones, durable groups and their members,
		// and offline ones not evicted yet.
		sessions map[string]*Session
		// offline are the stored sessions not loaded (directory.go).
		// Invariant: a client id is in sessions or in offline, never in both.
		offline map[string]Entry
	}
	stats struct {
		persisted, persistSkipped, persistErrors atomic.Int64
		fetched, replayed, expired, lostStreams  atomic.Int64
		readsShared                              atomic.Int64
		commits, commitErrors                    atomic.Int64
		loads, evictions                         atomic.Int64
	}
	// epochs count the commit notifications of each shard (ds.Watch) and the messages this
	// store wrote; commits counts the messages this store wrote. A session does not read again
	// a stream it drained until its shard's epoch moves, nor look for new streams until commits
	// moves (or Touch: messages written to the DB by others are found on the fallback).
	epochs   []atomic.Uint64
	commits  atomic.Uint64
	watchers []*ds.Watcher
	reads    readCache

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open reads the meta record of every stored session (never their cursors or in-flight
// records, and no message), rebuilds the route index, keeps client sessions as compact entries
// (Store.Load reads one in full), and starts the heartbeat. Sessions that were online when the
// previous process stopped are marked offline, aging from its last heartbeat.
func Open(db *ds.DB, opts *Options) (*Store, error) {
	o := *opts.EnsureDefaults()
	tab, err := db.Table(TableName)
	if err != nil {
		return nil, err
	}
	st := &Store{db: db, tab: tab, opts: o, stop: make(chan struct{})}
	st.mu.sessions = make(map[string]*Session)
	st.mu.offline = make(map[string]Entry)
	if err := st.load(); err != nil {
		return nil, err
	}
	if err := st.heartbeat(); err != nil {
		return nil, err
	}
	st.epochs = make([]atomic.Uint64, db.NumShards())
	for shard := range db.NumShards() {
		// Messages only: the sessions' own KV commits would make every drained cursor of
		// the shard look again for nothing.
		w, err := db.WatchMessages(shard)
		if err != nil {
			st.stopWatchers()
			return nil, err
		}
		st.watchers = append(st.watchers, w)
		st.wg.Add(1)
		go st.watch(shard, w)
	}
	st.wg.Add(1)
	go st.heartbeatLoop()
	return st, nil
}

// watch follows one shard's message commit notifications (other writers' messages: replicas,
// programs sharing the store).
func (st *Store) watch(shard int, w *ds.Watcher) {
	defer st.wg.Done()
	// On a shared store the messages other brokers wrote arrive this way: they count as
	// commits, so that sessions look for new streams.
	for range w.C {
		st.noteCommit(shard, st.opts.Shared)
	}
}

// noteCommit records that shard committed (messages: a message this store wrote).
func (st *Store) noteCommit(shard int, messages bool) {
	st.epochs[shard].Add(1)
	if messages {
		st.commits.Add(1)
	}
}

func (st *Store) stopWatchers() {
	for _, w := range st.watchers {
		w.Close()
	}
}

// load reads the last heartbeat and every shard's meta records (directory.go).
func (st *Store) load() error {
	now := st.opts.Now()
	v, err := st.tab.Get(0, []byte{kindHeartbeat})
	switch {
	case err == nil:
		if st.lastHeartbeat, err = decodeTime(v); err != nil {
			return fmt.Errorf("durable: heartbeat: %w", err)
		}
	case !errors.Is(err, ds.ErrNotFound):
		return err
	}
	for shard := range st.db.NumShards() {
		if err := st.loadMetas(shard, now); err != nil {
			return err
		}
	}
	return nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// heartbeat records now as this node's last sign of life (shard 0).
func (st *Store) heartbeat() error {
	return st.tab.Put(context.Background(), 0, []byte{kindHeartbeat}, encodeTime(st.opts.Now()))
}

func (st *Store) heartbeatLoop() {
	defer st.wg.Done()
	t := time.NewTicker(st.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			if err := st.heartbeat(); err != nil && !errors.Is(err, ds.ErrClosed) {
				st.stats.commitErrors.Add(1)
			}
		}
	}
}

// Close stops the heartbeat and waits for pending session writes. It does not close the DB.
func (st *Store) Close() error {
	select {
	case <-st.stop:
		return nil
	default:
	}
	close(st.stop)
	st.stopWatchers()
	st.wg.Wait()
	var errs []error
	for _, s := range st.Sessions() {
		if err := s.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DB returns the store's ds.DB.
func (st *Store) DB() *ds.DB { return st.db }

// Persists reports whether a message on topic is stored: a durable subscription matches it, or
// the store is shared (Options.Shared), where the route index knows only this broker's
// subscriptions and every message is stored.
func (st *Store) Persists(topic string) bool {
	return st.Stores(st.routes.Match(topic))
}

// Stores is Persists for a message whose route match the caller made: routed reports that
// the route index (Routes) matches its topic.
func (st *Store) Stores(routed bool) bool { return st.opts.Shared || routed }

// Routes returns the durable route index.
func (st *Store) Routes() *RouteIndex { return &st.routes }

// LastHeartbeat returns when the previous process was last known alive (zero for a new store).
func (st *Store) LastHeartbeat() time.Time { return st.lastHeartbeat }

// Sessions returns every loaded session, sorted by client id (OfflineSessions lists the
// others).
func (st *Store) Sessions() []*Session {
	st.mu.Lock()
	out := make([]*Session, 0, len(st.mu.sessions))
	for _, s := range st.mu.sessions {
		out = append(out, s)
	}
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b *Session) int { return strings.Compare(a.id, b.id) })
	return out
}

// Session returns the session of clientID, loading it if it is compact (Load), or nil if there
// is none or it could not be read (Load returns that error).
func (st *Store) Session(clientID string) *Session {
	if s := st.loaded(clientID); s != nil {
		return s
	}
	s, _ := st.Load(clientID)
	return s
}

// loaded returns the session of clientID if it is loaded.
func (st *Store) loaded(clientID string) *Session {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.mu.sessions[clientID]
}

// Create makes a new, empty session for clientID and writes it durably. A session that already
// exists under that id is deleted first (Clean Start, or an expired session).
func (st *Store) Create(ctx context.Context, clientID string, expiry time.Duration) (*Session, error) {
	return st.create(ctx, clientID, expiry, nil, false)
}

// CreateOnline is Create for a session that a connection attaches to at once: the one record
// it writes also holds the connection's Will and marks the session online, as SetConfig and
// SetOnline(true) would, so that a CONNECT that creates its session waits for one commit
// before its CONNACK, not two.
func (st *Store) CreateOnline(ctx context.Context, clientID string, expiry time.Duration, will *Will) (*Session, error) {
	return st.create(ctx, clientID, expiry, will, true)
}

func (st *Store) create(ctx context.Context, clientID string, expiry time.Duration, will *Will, online bool) (*Session, error) {
	old, err := st.Load(clientID)
	if err != nil {
		return nil, err
	}
	if old != nil {
		if err := old.Delete(ctx); err != nil {
			return nil, err
		}
	} else if err := st.clearOrphans(ctx, clientID); err != nil {
		return nil, err
	}
	s := newSession(st, clientID)
	now := st.opts.Now()
	s.mu.meta = &Meta{Created: now, LastAlive: now, Expiry: expiry, Online: online, Will: will,
		Subs: map[string]Subscription{}}
	s.mu.online = online
	s.mu.Lock()
	t := s.putMetaLocked()
	s.mu.Unlock()
	if err := s.wait(t); err != nil {
		return nil, err
	}
	st.mu.Lock()
	st.mu.sessions[clientID] = s
	st.mu.Unlock()
	return s, nil
}

// Persist writes m to the messages database if a durable subscription matches its topic, and
// returns once it is durable: SubmitPersist followed by its Wait.
func (st *Store) Persist(ctx context.Context, m *ds.Message, publisher *Session, pid uint16) (stored bool, err error) {
	p, err := st.SubmitPersist(m, st.routes.Match(m.Topic), publisher, pid)
	if err != nil {
		return false, err
	}
	return p.Wait(ctx)
}

// SubmitPersist queues m for the messages database if a durable subscription matches its topic
// (on a shared store, always), and returns without waiting for the write; PendingPersist.Wait
// does. routed is the caller's match of the topic against the route index (Routes().Match),
// made once for each message and used for routing too. Messages submitted one
// after the other are stored, and read, in that order: a connection submits its PUBLISHes as
// they arrive and waits for each before its PUBACK, which keeps the publisher's order
// [MQTT-4.6.0-5] while its writes share group commits. m.ClientID is the publisher. When the
// publisher itself has a durable session and this is a QoS 2 PUBLISH, pass it and the packet id:
// the packet id is recorded as awaiting PUBREL in the same atomic batch as the message, so a
// PUBLISH re-sent after a crash is recognized and not stored twice [MQTT-4.3.3-10].
func (st *Store) SubmitPersist(m *ds.Message, routed bool, publisher *Session, pid uint16) (*PendingPersist, error) {
	match := st.Stores(routed)
	if !match && (publisher == nil || pid == 0) {
		st.stats.persistSkipped.Add(1)
		return &PendingPersist{}, nil
	}
	b := st.db.NewBatch(ds.ShardOf(m.ClientID, st.db.NumShards()))
	if match {
		b.AddMessage(m)
	}
	if publisher != nil && pid != 0 {
		if publisher.shard != b.Shard() {
			return nil, fmt.Errorf("durable: publisher %q is not the message's client id %q", publisher.id, m.ClientID)
		}
		b.Put(st.tab, pidKey(kindRel, publisher.id, pid), encodeTime(st.opts.Now()))
	}
	p, err := st.db.Submit(b)
	if err != nil {
		st.stats.persistErrors.Add(1)
		return nil, err
	}
	return &PendingPersist{st: st, p: p, shard: b.Shard(), match: match}, nil
}

// PendingPersist is a message submitted by SubmitPersist.
type PendingPersist struct {
	st    *Store
	p     *ds.Pending // nil: nothing to write
	shard int
	match bool
	// counted is set once the outcome was counted in the store's statistics.
	counted bool
}

// Wait returns once the message is durable; stored reports whether it was written to the
// messages database (false when no durable subscription matched). If ctx ends first it returns
// ctx.Err(), and the message may or may not be stored; a later Wait may still learn the
// outcome. Not safe for concurrent use.
func (pp *PendingPersist) Wait(ctx context.Context) (stored bool, err error) {
	if pp.p == nil {
		return false, nil
	}
	err = pp.p.Wait(ctx)
	if ctx.Err() != nil && err == ctx.Err() {
		return false, err
	}
	if !pp.counted {
		pp.counted = true
		switch {
		case err != nil:
			pp.st.stats.persistErrors.Add(1)
		case pp.match:
			pp.st.stats.persisted.Add(1)
			// Readers need not wait for the watcher to learn of it.
			pp.st.noteCommit(pp.shard, true)
		}
	}
	if err != nil {
		return false, err
	}
	return pp.match, nil
}

func (st *Store) forget(s *Session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.sessions[s.id] == s {
		delete(st.mu.sessions, s.id)
	}
}

// Metrics is a snapshot of the store's counters.
type Metrics struct {
	Sessions       int   // client sessions in the store
	Groups         int   // durable shared groups (group.go)
	Online         int   // of which online
	Routes         int   // distinct durable filters
	Persisted      int64 // messages written because a durable subscription matched
	PersistSkipped int64 // messages not written: no durable subscription matched
	PersistErrors  int64
	Fetched        int64 // messages handed to sessions from storage
	ReadsShared    int64 // stream reads answered by another session's read of the same position
	Replayed       int64 // in-flight messages re-sent after a reconnect or restart
	Expired        int64 // messages skipped: message expiry passed or their generation was dropped
	LostStreams    int64 // streams whose generation retention dropped before they were read to their end
	Commits        int64 // session state batches committed
	CommitErrors   int64
	Loads          int64 // compact sessions loaded (Load)
	Evictions      int64 // loaded sessions made compact (Evict)
}

// Metrics returns a snapshot.
func (st *Store) Metrics() Metrics {
	m := Metrics{Routes: st.routes.Len()}
	m.Sessions = st.OfflineLen() // compact sessions are offline client sessions
	for _, s := range st.Sessions() {
		if _, _, group := ParseGroupSessionID(s.id); group {
			m.Groups++
			continue
		}
		m.Sessions++
		if s.Online() {
			m.Online++
		}
	}
	m.Persisted = st.stats.persisted.Load()
	m.PersistSkipped = st.stats.persistSkipped.Load()
	m.PersistErrors = st.stats.persistErrors.Load()
	m.Fetched = st.stats.fetched.Load()
	m.ReadsShared = st.stats.readsShared.Load()
	m.Replayed = st.stats.replayed.Load()
	// Expired while in flight or on fetch (message expiry, dropped generations) plus those
	// the storage read filter skipped for their retention class.
	m.Expired = st.stats.expired.Load() + int64(st.db.ExpiredByRetention())
	m.LostStreams = st.stats.lostStreams.Load()
	m.Commits = st.stats.commits.Load()
	m.CommitErrors = st.stats.commitErrors.Load()
	m.Loads = st.stats.loads.Load()
	m.Evictions = st.stats.evictions.Load()
	return m
}
