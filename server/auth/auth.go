package auth

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
)

// Credentials is what a connecting client presents. The broker fills it from CONNECT and the
// connection; auth never sees a packet.
type Credentials struct {
	ClientID string
	Username string
	// Password is nil when the client sent none; an empty non-nil slice is an empty password.
	// Authenticators never retain it.
	Password   []byte
	RemoteAddr netip.AddrPort
	// CertCommonName is the common name of a client certificate that the TLS listener verified, and
	// only then; it is "" for unverified or absent certificates.
	CertCommonName string
}

// Decision is an authenticator's verdict.
type Decision uint8

const (
	// Abstain leaves the decision to the next authenticator of a Chain.
	Abstain Decision = iota
	// Allow accepts the client.
	Allow
	// Deny refuses the client; the chain stops.
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	default:
		return "abstain"
	}
}

// Result is the outcome of an authentication.
type Result struct {
	Decision Decision
	// Username is the identity the broker uses from now on (ACL %u, logs). It is the client's own
	// username except where an authenticator establishes another (a certificate's common name).
	Username string
	// Reason says why, for the broker's log. It is never sent to the client, so that a client cannot
	// tell an unknown user from a wrong password.
	Reason string
}

// Authenticator decides whether a client may connect.
//
// Authenticate returns a Result and a nil error for every answer, including a refusal; an error means
// the authenticator could not decide (a backend failed) and the broker refuses the client with
// "server unavailable" rather than "not authorized". Implementations are safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, c Credentials) (Result, error)
}

// Anonymous accepts clients that send no username when Allowed, and refuses them otherwise. It
// abstains on clients that do send one, so put it after the authenticators that check usernames.
type Anonymous struct{ Allowed bool }

// Authenticate implements Authenticator.
func (a Anonymous) Authenticate(_ context.Context, c Credentials) (Result, error) {
	switch {
	case c.Username != "":
		return Result{Decision: Abstain}, nil
	case a.Allowed:
		return Result{Decision: Allow, Reason: "anonymous"}, nil
	default:
		return Result{Decision: Deny, Reason: "anonymous clients are not allowed"}, nil
	}
}

// ClientIDAllowlist refuses every client whose id is not in the list and abstains on the others, so
// that the rest of a chain still checks their credentials. An empty list abstains on everyone.
type ClientIDAllowlist struct{ ids map[string]struct{} }

// NewClientIDAllowlist returns an allowlist of ids.
func NewClientIDAllowlist(ids []string) *ClientIDAllowlist {
	a := &ClientIDAllowlist{ids: make(map[string]struct{}, len(ids))}
	for _, id := range ids {
		a.ids[id] = struct{}{}
	}
	return a
}

// Authenticate implements Authenticator.
func (a *ClientIDAllowlist) Authenticate(_ context.Context, c Credentials) (Result, error) {
	if _, ok := a.ids[c.ClientID]; ok || len(a.ids) == 0 {
		return Result{Decision: Abstain}, nil
	}
	return Result{Decision: Deny, Reason: "client id not in the allowlist"}, nil
}

// CertCommonName accepts every client that presented a verified certificate, with the certificate's
// common name as its username. Use it on listeners with verify_client and use_cn_as_username.
type CertCommonName struct{}

// Authenticate implements Authenticator.
func (CertCommonName) Authenticate(_ context.Context, c Credentials) (Result, error) {
	if c.CertCommonName == "" {
		return Result{Decision: Abstain}, nil
	}
	return Result{Decision: Allow, Username: c.CertCommonName, Reason: "verified certificate"}, nil
}

// Chain asks its authenticators in order; the first that allows or denies decides. If all abstain,
// the client is denied. Chain counts every outcome in its Metrics.
type Chain struct {
	links   []Authenticator
	metrics Metrics
}

// NewChain returns a chain of the authenticators, asked in the given order.
func NewChain(links ...Authenticator) *Chain {
	return &Chain{links: slices.Clone(links)}
}

// Authenticate implements Authenticator. The returned Result's Username is always set for an Allow
// (the client's own username unless an authenticator established another). The caller applies the
// configured failure delay to a Deny before answering the client.
func (ch *Chain) Authenticate(ctx context.Context, c Credentials) (Result, error) {
	ch.metrics.attempts.Add(1)
	for _, l := range ch.links {
		r, err := l.Authenticate(ctx, c)
		if err != nil {
			ch.metrics.errors.Add(1)
			return Result{Decision: Deny}, err
		}
		switch r.Decision {
		case Allow:
			if r.Username == "" {
				r.Username = c.Username
			}
			ch.metrics.allowed.Add(1)
			return r, nil
		case Deny:
			ch.metrics.denied.Add(1)
			return r, nil
		}
	}
	ch.metrics.denied.Add(1)
	return Result{Decision: Deny, Reason: "no authenticator accepted the client"}, nil
}

// Reloader is implemented by authenticators and authorizers backed by a file (PasswordAuthenticator,
// ACL). Reload re-reads the file; on error the old contents stay in force.
type Reloader interface {
	Reload() error
}

// Reload reloads every link of the chain that is a Reloader, so that the broker's reload signal needs
// one call for all authentication files. It returns every failure, joined.
func (ch *Chain) Reload() error {
	var errs []error
	for _, l := range ch.links {
		if r, ok := l.(Reloader); ok {
			if err := r.Reload(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Metrics returns a snapshot of the chain's counters.
func (ch *Chain) Metrics() MetricsSnapshot { return ch.metrics.snapshot() }

// Metrics counts authentication outcomes. The zero value is ready.
type Metrics struct {
	attempts, allowed, denied, errors atomic.Int64
}

// MetricsSnapshot is a point-in-time copy of Metrics. Attempts = Allowed + Denied + Errors once no
// authentication is in progress.
type MetricsSnapshot struct {
	Attempts, Allowed, Denied, Errors int64
}

func (m *Metrics) snapshot() MetricsSnapshot {
	return MetricsSnapshot{
		Attempts: m.attempts.Load(),
		Allowed:  m.allowed.Load(),
		Denied:   m.denied.Load(),
		Errors:   m.errors.Load(),
	}
}

// Sub returns the counts between an earlier snapshot and s.
func (s MetricsSnapshot) Sub(earlier MetricsSnapshot) MetricsSnapshot {
	return MetricsSnapshot{
		Attempts: s.Attempts - earlier.Attempts,
		Allowed:  s.Allowed - earlier.Allowed,
		Denied:   s.Denied - earlier.Denied,
		Errors:   s.Errors - earlier.Errors,
	}
}
