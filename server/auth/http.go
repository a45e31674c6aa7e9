package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPOptions configures an HTTP authentication and authorization backend.
type HTTPOptions struct {
	// URL receives a POST of an HTTPRequest (JSON) for every decision not in the cache.
	URL string
	// Timeout bounds one request; default 5s. A request that fails or times out decides
	// nothing (Abstain): the chain goes on to its next link.
	Timeout time.Duration
	// CacheTTL is how long an allow or deny is reused; default 1m, negative: no cache.
	CacheTTL time.Duration
	// CacheSize bounds the cached decisions; default 10,000.
	CacheSize int
	// Client sends the requests; default a client with Timeout.
	Client *http.Client
	// Logger reports failed requests; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the cache; default time.Now.
	Now func() time.Time
}

// HTTPRequest is the body POSTed to the backend (EMQX's HTTP authentication and authorization
// requests, in one shape). Action is connect, publish or subscribe; Password is sent for
// connect only, Topic for publish (a topic name) and subscribe (a filter).
type HTTPRequest struct {
	Action   string `json:"action"`
	ClientID string `json:"client_id"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	// Peer is the client's address: host:port for connect, the host for publish and subscribe.
	Peer  string `json:"peer"`
	Topic string `json:"topic,omitempty"`
}

// HTTPResponse is what the backend answers, with status 200: allow, deny, or ignore (this
// backend has no opinion: the next link decides). A 204 with no body is an allow; any other
// status is a failure, which ignores.
type HTTPResponse struct {
	Result string `json:"result"`
}

// HTTP is an HTTP backend: an Authenticator and an AuthzSource. Decisions are cached by
// request (the password by its SHA-256) for CacheTTL.
type HTTP struct {
	o      HTTPOptions
	cache  sync.Map // key string → cached
	size   atomic.Int64
	counts HTTPMetrics
}

type cached struct {
	d       Decision
	expires time.Time
}

// HTTPMetrics counts an HTTP backend's work.
type HTTPMetrics struct {
	Requests, CacheHits, Failures atomic.Int64
}

// NewHTTP returns an HTTP backend.
func NewHTTP(o HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: http backend url %q: want http://HOST[:PORT]/PATH or https://", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &HTTP{o: o}, nil
}

// Metrics returns the backend's counters.
func (h *HTTP) Metrics() *HTTPMetrics { return &h.counts }

// Authenticate implements Authenticator.
func (h *HTTP) Authenticate(ctx context.Context, c Credentials) (Result, error) {
	peer, host := "", ""
	if c.RemoteAddr.IsValid() {
		peer, host = c.RemoteAddr.String(), c.RemoteAddr.Addr().String()
	}
	req := HTTPRequest{Action: "connect", ClientID: c.ClientID, Username: c.Username, Password: string(c.Password), Peer: peer}
	d := h.decide(ctx, req, host)
	return Result{Decision: d, Reason: "http backend: " + d.String()}, nil
}

// Decide implements AuthzSource.
func (h *HTTP) Decide(ctx context.Context, id Identity, act Action, topicOrFilter string) (Decision, error) {
	peer := ""
	if id.Addr.IsValid() {
		peer = id.Addr.String()
	}
	return h.decide(ctx, HTTPRequest{Action: act.String(), ClientID: id.ClientID, Username: id.Username, Peer: peer,
		Topic: topicOrFilter}, peer), nil
}

// decide answers req from the cache or the backend. The cache key has the peer's host only
// (cacheHost), not its port, which changes with every connection.
func (h *HTTP) decide(ctx context.Context, req HTTPRequest, cacheHost string) Decision {
	keyed := req
	keyed.Peer = cacheHost
	key := cacheKey(keyed)
	now := h.o.Now()
	if h.o.CacheTTL > 0 {
		if v, ok := h.cache.Load(key); ok {
			if c := v.(cached); now.Before(c.expires) {
				h.counts.CacheHits.Add(1)
				return c.d
			}
			h.cache.Delete(key)
			h.size.Add(-1)
		}
	}
	h.counts.Requests.Add(1)
	d, err := h.ask(ctx, req)
	if err != nil {
		h.counts.Failures.Add(1)
		h.o.Logger.Warn("http auth backend failed; its decision is skipped", "action", req.Action, "client", req.ClientID, "err", err)
		return Abstain
	}
	if h.o.CacheTTL > 0 && d != Abstain {
		if h.size.Load() >= int64(h.o.CacheSize) {
			h.prune(now)
		}
		if _, loaded := h.cache.Swap(key, cached{d: d, expires: now.Add(h.o.CacheTTL)}); !loaded {
			h.size.Add(1)
		}
	}
	return d
}

// prune drops the expired decisions, and all of them if that leaves the cache full: a full
// cache of live entries is rare (CacheSize distinct requests within one TTL), and asking the
// backend again is always correct.
func (h *HTTP) prune(now time.Time) {
	h.cache.Range(func(k, v any) bool {
		if !now.Before(v.(cached).expires) {
			if _, ok := h.cache.LoadAndDelete(k); ok {
				h.size.Add(-1)
			}
		}
		return true
	})
	if h.size.Load() >= int64(h.o.CacheSize) {
		h.cache.Clear()
		h.size.Store(0)
	}
}

func cacheKey(r HTTPRequest) string {
	pw := sha256.Sum256([]byte(r.Password))
	var b strings.Builder
	for _, s := range []string{r.Action, r.ClientID, r.Username, string(pw[:]), r.Peer, r.Topic} {
		fmt.Fprintf(&b, "%d:%s", len(s), s)
	}
	return b.String()
}

func (h *HTTP) ask(ctx context.Context, req HTTPRequest) (Decision, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Abstain, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.o.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL, bytes.NewReader(body))
	if err != nil {
		return Abstain, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := h.o.Client.Do(hr)
	if err != nil {
		return Abstain, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Abstain, err
	}
	switch resp.StatusCode {
	case http.StatusNoContent:
		return Allow, nil
	case http.StatusOK:
	default:
		return Abstain, fmt.Errorf("status %s", resp.Status)
	}
	var r HTTPResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return Abstain, fmt.Errorf("answer is not {\"result\": ...}: %v", err)
	}
	switch r.Result {
	case "allow":
		return Allow, nil
	case "deny":
		return Deny, nil
	case "ignore":
		return Abstain, nil
	}
	return Abstain, errors.New(`result is not "allow", "deny" or "ignore": ` + strconv.Quote(r.Result))
}

// AuthzSource is one link of an AuthzChain: it allows, denies, or abstains (Abstain).
type AuthzSource interface {
	Decide(ctx context.Context, id Identity, act Action, topicOrFilter string) (Decision, error)
}

// Decide implements AuthzSource: a matching rule decides, no match abstains (the chain's
// no-match decision then applies, not the file's own).
func (a *ACL) Decide(_ context.Context, id Identity, act Action, topicOrFilter string) (Decision, error) {
	if act != Publish && act != Subscribe {
		return Deny, fmt.Errorf("auth: Decide wants publish or subscribe, not %v", act)
	}
	d, rule := a.Check(id, act, topicOrFilter)
	if rule == nil {
		return Abstain, nil
	}
	return d, nil
}

// AuthzChain asks its sources in order; the first that allows or denies decides, and when
// all abstain NoMatch does.
type AuthzChain struct {
	Sources []AuthzSource
	NoMatch Decision
}

// Authorize implements Authorizer.
func (ch *AuthzChain) Authorize(ctx context.Context, id Identity, act Action, topicOrFilter string) (bool, error) {
	for _, s := range ch.Sources {
		d, err := s.Decide(ctx, id, act, topicOrFilter)
		if err != nil {
			return false, err
		}
		if d != Abstain {
			return d == Allow, nil
		}
	}
	return ch.NoMatch == Allow, nil
}

// Reload reloads every source that is a Reloader.
func (ch *AuthzChain) Reload() error {
	var errs []error
	for _, s := range ch.Sources {
		if r, ok := s.(Reloader); ok {
			if err := r.Reload(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
