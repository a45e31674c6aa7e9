package server

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// ClientFilter selects clients and sessions for a listing; the zero value selects all.
type ClientFilter struct {
	// Connected, if set, keeps the clients with (true) or without (false) a connection.
	Connected *bool
	// Durable, if set, keeps the durable (true) or in-memory (false) sessions.
	Durable *bool
	// Prefix keeps the client ids that start with it.
	Prefix string
	// Username keeps the connected clients that logged in with it (a disconnected session keeps
	// no username).
	Username string
}

func (f *ClientFilter) keeps(v *ClientView) bool {
	return (f.Connected == nil || *f.Connected == v.Connected) && (f.Durable == nil || *f.Durable == v.Durable) &&
		strings.HasPrefix(v.ClientID, f.Prefix) && (f.Username == "" || f.Username == v.Username)
}

// ClientList lists the clients the broker knows, sorted by client id: the connected ones and
// the disconnected ones whose session lives on, as f selects. Inflight is left out (nil) for
// a compact durable session, whose in-flight state is on disk only: ClientDetail reads it.
func (s *Server) ClientList(f ClientFilter) []ClientView {
	conns := map[string]ClientView{}
	for _, c := range s.Clients() {
		conns[c.ClientID] = c
	}
	out := []ClientView{}
	for _, si := range s.Sessions() {
		v, connected := conns[si.ClientID]
		delete(conns, si.ClientID)
		if !connected {
			v = ClientView{ClientID: si.ClientID}
		}
		v.Connected = connected
		v.Durable, v.Expiry, v.Queued, v.Created = si.Durable, si.Expiry, si.Queued, si.Created
		if si.Durable && !connected && s.loadedSession(si.ClientID) == nil {
			v.Inflight = nil // compact: its in-flight state is on disk only
		} else {
			n := si.Inflight
			v.Inflight = &n
		}
		if f.keeps(&v) {
			out = append(out, v)
		}
	}
	// A connection whose session was not in the listing (it came or went between the reads).
	for _, v := range conns {
		v.Connected = true
		if f.keeps(&v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b ClientView) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// ClientDetail is one client with its session's state, as GET /api/v1/clients/{id} shows it.
type ClientDetail struct {
	ClientView
	// AwaitingRel is how many inbound QoS 2 messages wait for the client's PUBREL.
	AwaitingRel   int                `json:"awaiting_rel"`
	Subscriptions []SubscriptionView `json:"subscriptions"`
}

// Client returns the client or session with clientID; ok is false if the broker knows neither.
// For a compact durable session the in-flight counts are read from storage.
func (s *Server) Client(clientID string) (ClientDetail, bool, error) {
	var d ClientDetail
	found := false
	for _, v := range s.ClientList(ClientFilter{Prefix: clientID}) {
		if v.ClientID == clientID {
			d.ClientView, found = v, true
			break
		}
	}
	if !found {
		return ClientDetail{}, false, nil
	}
	if d.Inflight == nil && s.durable != nil {
		inflight, rel, ok, err := s.durable.store.StoredCounts(clientID)
		if err != nil {
			return ClientDetail{}, false, err
		}
		if ok {
			d.Inflight, d.AwaitingRel = &inflight, rel
		}
	} else if sess := s.loadedSession(clientID); sess != nil {
		d.AwaitingRel = sess.awaitingRelLen()
	}
	if d.Inflight == nil {
		zero := 0
		d.Inflight = &zero // the session ended while it was read
	}
	d.Subscriptions = s.Subscriptions(clientID)
	return d, true, nil
}

// DeleteSession ends the session of clientID, connected or not: a connected client is
// disconnected first (v5: DISCONNECT 0x98, Administrative action), then the session is
// discarded as a Clean Start would discard it, its Will published [MQTT-3.1.2-8] v5, and a
// durable session's stored state deleted. It reports whether there was a session.
func (s *Server) DeleteSession(clientID string) bool {
	deadline := time.Now().Add(10 * time.Second)
	found := false
	for time.Now().Before(deadline) {
		s.connectMu.Lock()
		sess := s.session(clientID)
		if sess == nil {
			s.connectMu.Unlock()
			return found
		}
		found = true
		if c := sess.currentConn(); c != nil {
			s.connectMu.Unlock()
			s.log.Info("client kicked via the API", "client", clientID, "session", "deleted")
			c.disconnect(CauseAdmin, mqtt.AdministrativeAction)
			c.waitFinished(5 * time.Second)
			continue
		}
		if sess.isEnded() { // being released by its last connection's end
			s.connectMu.Unlock()
			s.awaitRelease(sess)
			continue
		}
		s.endSession(sess, "deleted")
		s.connectMu.Unlock()
		s.log.Info("session deleted via the API", "client", clientID)
		return true
	}
	return found
}

// Pagination: lists are sorted by a key (client id, topic, …) and a page starts after the key
// of the previous page's last item, so items added or removed between two pages shift nothing.
// The cursor is that key, base64url-encoded (opaque to clients, safe in a URL).
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// page reads ?limit= and ?after=.
func page(r *http.Request) (limit int, after string, err error) {
	q := r.URL.Query()
	limit = defaultPageLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageLimit {
			return 0, "", fmt.Errorf("limit %q: want 1 to %d", l, maxPageLimit)
		}
		limit = n
	}
	if a := q.Get("after"); a != "" {
		b, err := base64.RawURLEncoding.DecodeString(a)
		if err != nil {
			return 0, "", fmt.Errorf("after %q: not a cursor from a Link header", a)
		}
		after = string(b)
	}
	return limit, after, nil
}

// writePage answers one page of items (sorted by key): the JSON array, X-Total-Count (items
// in the whole listing) and, when more follow, a Link rel="next" header and X-Next-Cursor.
func writePage[T any](w http.ResponseWriter, r *http.Request, items []T, key func(T) string) {
	limit, after, err := page(r)
	if err != nil {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "%v", err)
		return
	}
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(items, after, func(it T, k string) int { return strings.Compare(key(it), k) })
		if start < len(items) && key(items[start]) == after {
			start++
		}
	}
	end := min(start+limit, len(items))
	w.Header().Set("X-Total-Count", strconv.Itoa(len(items)))
	if end < len(items) {
		cursor := base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
		q := r.URL.Query()
		q.Set("after", cursor)
		q.Set("limit", strconv.Itoa(limit))
		next := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
		w.Header().Set("X-Next-Cursor", cursor)
	}
	writeJSON(w, items[start:end])
}

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string) (*bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("%s %q: want true or false", name, v)
	}
	return &b, nil
}

func clientFilter(r *http.Request) (ClientFilter, error) {
	f := ClientFilter{Prefix: r.URL.Query().Get("client_id_prefix"), Username: r.URL.Query().Get("username")}
	var err error
	if f.Connected, err = boolParam(r, "connected"); err != nil {
		return f, err
	}
	f.Durable, err = boolParam(r, "durable")
	return f, err
}

func (s *Server) apiClients(w http.ResponseWriter, r *http.Request) {
	f, err := clientFilter(r)
	if err != nil {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "%v", err)
		return
	}
	writePage(w, r, s.ClientList(f), func(v ClientView) string { return v.ClientID })
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) {
	f, err := clientFilter(r)
	if err != nil {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "%v", err)
		return
	}
	var keep func(string) bool
	if f.Username != "" { // sessions have no username: join with the connected clients
		ids := map[string]bool{}
		for _, c := range s.Clients() {
			ids[c.ClientID] = c.Username == f.Username
		}
		keep = func(id string) bool { return ids[id] }
	}
	out := []SessionInfo{}
	for _, si := range s.Sessions() {
		if (f.Connected == nil || *f.Connected == si.Online) && (f.Durable == nil || *f.Durable == si.Durable) &&
			strings.HasPrefix(si.ClientID, f.Prefix) && (keep == nil || keep(si.ClientID)) {
			out = append(out, si)
		}
	}
	writePage(w, r, out, func(v SessionInfo) string { return v.ClientID })
}

func (s *Server) apiClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok, err := s.Client(id)
	switch {
	case err != nil:
		apiFail(w, http.StatusInternalServerError, codeInternal, "reading the session of %q: %v", id, err)
	case !ok:
		apiFail(w, http.StatusNotFound, codeClientNotFound, "no client or session %q", id)
	default:
		writeJSON(w, d)
	}
}

// apiDeleteClient disconnects a client; with ?session=true it also deletes its session,
// whether connected or not.
func (s *Server) apiDeleteClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	session, err := boolParam(r, "session")
	if err != nil {
		apiFail(w, http.StatusBadRequest, codeBadRequest, "%v", err)
		return
	}
	if session != nil && *session {
		if !s.DeleteSession(id) {
			apiFail(w, http.StatusNotFound, codeClientNotFound, "no client or session %q", id)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !s.Kick(id) {
		apiFail(w, http.StatusNotFound, codeNotConnected, "client %q is not connected", id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs := s.Subscriptions(r.URL.Query().Get("client"))
	// Sorted by client id then filter already; the key keeps that order ("\x00" sorts first).
	writePage(w, r, subs, func(v SubscriptionView) string { return v.ClientID + "\x00" + v.Filter })
}
