package auth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeBackend is an HTTP auth service on loopback that answers by a rule of the request, and
// keeps the requests it got.
type fakeBackend struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []HTTPRequest
}

func newFakeBackend(t *testing.T, answer func(r HTTPRequest, w http.ResponseWriter)) *fakeBackend {
	f := &fakeBackend{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		var req HTTPRequest
		b, _ := io.ReadAll(r.Body)
		require.NoError(t, json.Unmarshal(b, &req), string(b))
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		answer(req, w)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeBackend) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func result(w http.ResponseWriter, r string) { _ = json.NewEncoder(w).Encode(HTTPResponse{Result: r}) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Ensure that the backend's allow, deny and ignore become Allow, Deny and Abstain, for CONNECT
// (with the password and the peer address) and for publish and subscribe; that a 204 allows;
// and that decisions are cached for the TTL, by request, password included.
func TestHTTP_DecisionsAndCache(t *testing.T) {
	f := newFakeBackend(t, func(r HTTPRequest, w http.ResponseWriter) {
		switch {
		case r.Action == "connect" && r.Username == "alice" && r.Password == "secret":
			result(w, "allow")
		case r.Action == "connect" && r.Username == "alice":
			result(w, "deny")
		case r.Action == "connect" && r.Username == "nobody":
			w.WriteHeader(http.StatusNoContent)
		case r.Action == "publish" && strings.HasPrefix(r.Topic, "alice/"):
			result(w, "allow")
		case r.Action == "subscribe" && r.Topic == "secret/#":
			result(w, "deny")
		default:
			result(w, "ignore")
		}
	})
	now := time.Unix(1000, 0)
	h, err := NewHTTP(HTTPOptions{URL: f.URL + "/auth", CacheTTL: time.Minute, Logger: quiet, Now: func() time.Time { return now }})
	require.NoError(t, err)
	ctx := context.Background()
	peer := netip.MustParseAddrPort("10.0.0.7:4711")
	authn := func(user, pass string) Decision {
		r, err := h.Authenticate(ctx, Credentials{ClientID: "c1", Username: user, Password: []byte(pass), RemoteAddr: peer})
		require.NoError(t, err)
		return r.Decision
	}
	require.Equal(t, Allow, authn("alice", "secret"))
	require.Equal(t, Deny, authn("alice", "wrong"))
	require.Equal(t, Allow, authn("nobody", ""))
	require.Equal(t, Abstain, authn("bob", "x"))
	f.mu.Lock()
	require.Equal(t, HTTPRequest{Action: "connect", ClientID: "c1", Username: "alice", Password: "secret", Peer: "10.0.0.7:4711"}, f.reqs[0])
	f.mu.Unlock()

	id := Identity{ClientID: "c1", Username: "alice", Addr: peer.Addr()}
	decide := func(act Action, topic string) Decision {
		d, err := h.Decide(ctx, id, act, topic)
		require.NoError(t, err)
		return d
	}
	require.Equal(t, Allow, decide(Publish, "alice/x"))
	require.Equal(t, Abstain, decide(Publish, "bob/x"))
	require.Equal(t, Deny, decide(Subscribe, "secret/#"))
	f.mu.Lock()
	require.Equal(t, HTTPRequest{Action: "subscribe", ClientID: "c1", Username: "alice", Peer: "10.0.0.7", Topic: "secret/#"}, f.reqs[6])
	f.mu.Unlock()

	// Within the TTL the answers come from the cache; an ignore is not cached.
	asked := f.count()
	require.Equal(t, Allow, authn("alice", "secret"))
	require.Equal(t, Deny, authn("alice", "wrong"))
	require.Equal(t, Allow, decide(Publish, "alice/x"))
	require.Equal(t, asked, f.count())
	require.EqualValues(t, 3, h.Metrics().CacheHits.Load())
	require.Equal(t, Abstain, decide(Publish, "bob/x"))
	require.Equal(t, asked+1, f.count())

	now = now.Add(time.Minute)
	require.Equal(t, Allow, authn("alice", "secret"))
	require.Equal(t, asked+2, f.count(), "past the TTL the backend is asked again")
}

// Ensure that a backend that fails (time-out, error status, nonsense) decides nothing, so the
// chain goes on, and that failures are counted; and that a full cache is pruned.
func TestHTTP_FailuresFallThrough(t *testing.T) {
	release := make(chan struct{})
	f := newFakeBackend(t, func(r HTTPRequest, w http.ResponseWriter) {
		switch r.Username {
		case "slow":
			<-release
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
		case "junk":
			io.WriteString(w, "<html>")
		case "odd":
			result(w, "maybe")
		default:
			result(w, "allow")
		}
	})
	defer close(release)
	h, err := NewHTTP(HTTPOptions{URL: f.URL, Timeout: 50 * time.Millisecond, CacheSize: 2, Logger: quiet})
	require.NoError(t, err)
	chain := NewChain(h, Anonymous{Allowed: false}, acceptUsers{})
	for i, user := range []string{"slow", "500", "junk", "odd"} {
		r, err := chain.Authenticate(context.Background(), Credentials{ClientID: "c", Username: user})
		require.NoError(t, err, user)
		require.Equal(t, Allow, r.Decision, "%s: the next link decides", user)
		require.Equal(t, "accepted by the last link", r.Reason)
		require.EqualValues(t, i+1, h.Metrics().Failures.Load())
	}
	for _, user := range []string{"a", "b", "c", "d"} {
		r, err := h.Authenticate(context.Background(), Credentials{ClientID: "c", Username: user})
		require.NoError(t, err)
		require.Equal(t, Allow, r.Decision)
	}
	require.LessOrEqual(t, h.size.Load(), int64(2))

	_, err = NewHTTP(HTTPOptions{URL: "ftp://x"})
	require.Error(t, err)
}

type acceptUsers struct{}

func (acceptUsers) Authenticate(context.Context, Credentials) (Result, error) {
	return Result{Decision: Allow, Reason: "accepted by the last link"}, nil
}

// Ensure that an AuthzChain asks its sources in order, an ACL file abstaining where no rule
// matches, and applies NoMatch when all abstain.
func TestAuthzChain(t *testing.T) {
	rules, err := ParseACL(strings.NewReader("allow user alice publish alice/#\ndeny all subscribe secret/#\n"), "acl")
	require.NoError(t, err)
	acl := NewACL(rules, Deny)
	f := newFakeBackend(t, func(r HTTPRequest, w http.ResponseWriter) {
		if r.Topic == "shared/x" {
			result(w, "allow")
			return
		}
		result(w, "ignore")
	})
	h, err := NewHTTP(HTTPOptions{URL: f.URL, Logger: quiet})
	require.NoError(t, err)
	ctx := context.Background()
	alice := Identity{ClientID: "a", Username: "alice"}
	for _, tc := range []struct {
		sources []AuthzSource
		noMatch Decision
		act     Action
		topic   string
		want    bool
	}{
		{[]AuthzSource{acl, h}, Deny, Publish, "alice/1", true},
		{[]AuthzSource{acl, h}, Deny, Publish, "shared/x", true},
		{[]AuthzSource{acl, h}, Deny, Publish, "other", false},
		{[]AuthzSource{acl, h}, Allow, Publish, "other", true},
		{[]AuthzSource{acl, h}, Allow, Subscribe, "secret/#", false},
		{[]AuthzSource{h, acl}, Deny, Subscribe, "secret/#", false},
	} {
		ok, err := (&AuthzChain{Sources: tc.sources, NoMatch: tc.noMatch}).Authorize(ctx, alice, tc.act, tc.topic)
		require.NoError(t, err)
		require.Equal(t, tc.want, ok, "%v %s", tc.act, tc.topic)
	}
}
