package durable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mqttds/mqttds/ds"
)

// Entry is an offline session kept compact: what the broker needs to list it and to run its
// timers, and nothing else. Its subscriptions stay counted in the route index, so messages for
// it are still stored; everything else (cursors, in-flight entries, the Will itself) is read
// from the session table when the session is loaded (Store.Load), typically because its client
// connects.
//
// An Entry is about 32 bytes; a loaded Session with its maps is several KB. Open loads no
// client session fully (only their meta records are read), and Store.Evict turns a loaded
// offline session back into an Entry.
type Entry struct {
	created   int64  // µs since the epoch
	lastAlive int64  // µs since the epoch; expiry and Will delay count from here
	expiry    uint32 // seconds, 0xFFFFFFFF for NeverExpire (as the meta record stores it)
	willDelay uint32 // seconds
	hasWill   bool
}

func entryOf(m *Meta) Entry {
	e := Entry{created: int64(micros(m.Created)), lastAlive: int64(micros(m.LastAlive)),
		expiry: uint32(expirySeconds(m.Expiry))}
	if m.Will != nil {
		e.hasWill, e.willDelay = true, uint32(min(m.Will.Delay/time.Second, 0xFFFFFFFF))
	}
	return e
}

// Created returns when the session was created.
func (e Entry) Created() time.Time { return fromMicros(uint64(e.created)) }

// LastAlive returns when the session's last connection ended.
func (e Entry) LastAlive() time.Time { return fromMicros(uint64(e.lastAlive)) }

// Expiry returns the session expiry interval (NeverExpire for none).
func (e Entry) Expiry() time.Duration { return expiryFromSeconds(uint64(e.expiry)) }

// ExpiresAt returns when the session expires; ok is false if it never does.
func (e Entry) ExpiresAt() (at time.Time, ok bool) {
	if e.Expiry() == NeverExpire {
		return time.Time{}, false
	}
	return e.LastAlive().Add(e.Expiry()), true
}

// WillAt returns when the session's Will is due; ok is false when it has none, or when the
// session expires first (the Will is then published as the session ends).
func (e Entry) WillAt() (at time.Time, ok bool) {
	delay := time.Duration(e.willDelay) * time.Second
	if !e.hasWill || delay >= e.Expiry() {
		return time.Time{}, false
	}
	return e.LastAlive().Add(delay), true
}

// Expired reports whether the expiry interval has passed at now.
func (e Entry) Expired(now time.Time) bool {
	at, ok := e.ExpiresAt()
	return ok && !now.Before(at)
}

// OfflineSession is a compact session with its client id.
type OfflineSession struct {
	ClientID string
	Entry
}

// Offline returns the compact entry of clientID, if the session is stored and not loaded.
//
// On a shared store (Options.Shared) a session this node has not heard of may have been
// created through another node since the directory was loaded: it is looked up in the
// session table and joins the directory.
func (st *Store) Offline(clientID string) (Entry, bool) {
	st.mu.Lock()
	e, ok := st.mu.offline[clientID]
	_, loaded := st.mu.sessions[clientID]
	st.mu.Unlock()
	if ok || loaded || !st.opts.Shared {
		return e, ok
	}
	m, found, err := st.StoredMeta(clientID)
	if err != nil || !found {
		return Entry{}, false
	}
	e = entryOf(&m)
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, loaded := st.mu.sessions[clientID]; loaded {
		return Entry{}, false
	}
	if _, known := st.mu.offline[clientID]; !known {
		for f := range m.Subs {
			if !IsShared(f) {
				st.routes.Add(f)
			}
		}
		st.mu.offline[clientID] = e
	}
	return e, true
}

// OfflineLen returns the number of compact sessions.
func (st *Store) OfflineLen() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.mu.offline)
}

// OfflineSessions returns every compact session, sorted by client id.
func (st *Store) OfflineSessions() []OfflineSession {
	st.mu.Lock()
	out := make([]OfflineSession, 0, len(st.mu.offline))
	for id, e := range st.mu.offline {
		out = append(out, OfflineSession{ClientID: id, Entry: e})
	}
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b OfflineSession) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// StoredMeta reads the meta record of clientID from the session table, without loading the
// session (the API's details of a compact session). ok is false when no such session is stored.
func (st *Store) StoredMeta(clientID string) (m Meta, ok bool, err error) {
	v, err := st.tab.Get(ds.ShardOf(clientID, st.db.NumShards()), metaKey(clientID))
	if errors.Is(err, ds.ErrNotFound) {
		return Meta{}, false, nil
	}
	if err != nil {
		return Meta{}, false, err
	}
	p, err := decodeMeta(v)
	if err != nil {
		return Meta{}, false, fmt.Errorf("session %q: %w", clientID, err)
	}
	return *p, true, nil
}

// Load returns the session of clientID, reading its records from the session table if it is
// compact; nil if no such session is stored. Every Session method works on a loaded session.
func (st *Store) Load(clientID string) (*Session, error) {
	st.loadMu.Lock()
	defer st.loadMu.Unlock()
	if s := st.loaded(clientID); s != nil {
		return s, nil
	}
	if _, ok := st.Offline(clientID); !ok {
		return nil, nil
	}
	s, err := st.read(clientID)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	delete(st.mu.offline, clientID)
	if s != nil {
		st.mu.sessions[clientID] = s
	}
	st.mu.Unlock()
	st.stats.loads.Add(1)
	return s, nil
}

// read builds a Session from its records: the meta record, then one prefix scan per kind of
// record. It returns nil if the session has no meta record.
func (st *Store) read(clientID string) (*Session, error) {
	s := newSession(st, clientID)
	for _, kind := range []byte{kindMeta, kindCursor, kindInflight, kindRel, kindHold} {
		err := st.tab.Scan(s.shard, sessionPrefix(kind, clientID), func(k, v []byte) error {
			kind, cid, rest, err := parseSessionKey(k)
			if err != nil {
				return err
			}
			if cid != clientID || (kind == kindMeta && len(rest) != 0) {
				return nil // not this session's (defensive: the prefix names one client id)
			}
			if err := s.loadRecord(kind, rest, k, v); err != nil {
				return fmt.Errorf("session %q key %x: %w", clientID, k, err)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("durable: loading session %q: %w", clientID, err)
		}
		if kind == kindMeta && s.mu.meta == nil {
			return nil, nil
		}
	}
	s.mu.Lock()
	s.finishLoad() // may queue rewrites (older record formats) and start the committer
	s.mu.Unlock()
	return s, nil
}

// Evict turns a loaded offline session back into its compact entry, and reports whether it
// did. It does so only when nothing of the session lives in memory alone: no connection, no
// change waiting to be committed, no transient in-flight entry (those are not stored), and no
// shared subscription (a durable group's members stay loaded; group.go). The evicted Session
// is finished: the caller drops it and calls Load the next time it needs the session.
func (st *Store) Evict(s *Session) bool {
	st.loadMu.Lock()
	defer st.loadMu.Unlock()
	s.mu.Lock()
	ok := s.evictableLocked()
	var e Entry
	if ok {
		e = entryOf(s.mu.meta)
		// The object no longer stands for the session: from now on it refuses changes
		// (ErrSessionEnded), and Load builds a new one from the stored records.
		s.mu.ended = true
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	st.mu.Lock()
	if st.mu.sessions[s.id] == s {
		delete(st.mu.sessions, s.id)
	}
	st.mu.offline[s.id] = e
	st.mu.Unlock()
	st.stats.evictions.Add(1)
	return true
}

func (s *Session) evictableLocked() bool {
	// Every change committed: nothing queued, and no batch being written (a committer may
	// still be on its way out; it finds nothing to write).
	if s.mu.online || s.mu.ended || len(s.mu.pending) > 0 || len(s.mu.dirty) > 0 ||
		s.mu.committed != s.mu.ticket || s.mu.err != nil {
		return false
	}
	if _, _, group := ParseGroupSessionID(s.id); group || hasShared(s.mu.meta) {
		return false
	}
	for _, f := range s.mu.inflight {
		if f.transient {
			return false
		}
	}
	return true
}

func hasShared(m *Meta) bool {
	for f := range m.Subs {
		if IsShared(f) {
			return true
		}
	}
	return false
}

// clearOrphans deletes the records a deletion cut short left under clientID (records without
// a meta record), so that a new session of that id starts empty. Open does not look for them:
// it reads meta records only.
func (st *Store) clearOrphans(ctx context.Context, clientID string) error {
	shard := ds.ShardOf(clientID, st.db.NumShards())
	b := st.db.NewBatch(shard)
	for _, kind := range []byte{kindCursor, kindInflight, kindRel, kindHold} {
		err := st.tab.Scan(shard, sessionPrefix(kind, clientID), func(k, _ []byte) error {
			b.Delete(st.tab, k)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return st.db.Apply(ctx, b, ds.Sync)
}

// loadMetas is Open's scan: it reads the meta records of one shard (never the cursors or
// in-flight records), counts every session's subscriptions in the route index, keeps client
// sessions as compact entries and loads fully only the sessions that must stay loaded (durable
// groups and their members). A session that was online when the previous process ended is
// marked offline, aging from that process's last heartbeat.
func (st *Store) loadMetas(shard int, now time.Time) error {
	var full []string
	fix := st.db.NewBatch(shard)
	err := st.tab.Scan(shard, []byte{kindMeta}, func(k, v []byte) error {
		_, cid, rest, err := parseSessionKey(k)
		if err == nil && len(rest) != 0 {
			err = fmt.Errorf("%w: meta key with %d trailing bytes", ErrCorruption, len(rest))
		}
		if err != nil {
			return err
		}
		m, err := decodeMeta(v)
		if err != nil {
			return fmt.Errorf("session %q key %x: %w", cid, k, err)
		}
		if m.Online {
			m.Online = false
			m.LastAlive = latest(m.LastAlive, st.lastHeartbeat)
			if m.LastAlive.After(now) {
				m.LastAlive = now
			}
			fix.Put(st.tab, k, encodeMeta(m))
		}
		for f := range m.Subs {
			if !IsShared(f) {
				st.routes.Add(f)
			}
		}
		if _, _, group := ParseGroupSessionID(cid); group || hasShared(m) {
			full = append(full, cid)
		}
		st.mu.offline[cid] = entryOf(m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("durable: loading shard %d: %w", shard, err)
	}
	if fix.Len() > 0 {
		if err := st.db.Apply(context.Background(), fix, ds.Sync); err != nil {
			return err
		}
	}
	for _, cid := range full {
		if _, err := st.Load(cid); err != nil {
			return err
		}
	}
	return nil
}
