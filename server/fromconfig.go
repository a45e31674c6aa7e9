package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/config"
	"github.com/mqttds/mqttds/server/listeners"
)

// queueLimit maps the configuration's max_mqueue_len, where 0 means no
// limit, to Options.MaxQueued, where 0 means the default.
func queueLimit(n int) int {
	if n == 0 {
		return math.MaxInt
	}
	return n
}

// FromConfig turns a validated configuration into broker Options and the
// listeners it names. It loads what the configuration points at (TLS
// material, password file, ACL file), so its errors name the file.
func FromConfig(cfg *config.Config, log *slog.Logger) (*Options, []listeners.Listener, error) {
	m, l := cfg.MQTT, cfg.Limits
	o := &Options{
		Logger:               log,
		MaxPacketSize:        uint32(m.MaxPacketSize),
		MaxTopicLevels:       m.MaxTopicLevels,
		ReceiveMaximum:       uint16(m.ReceiveMaximum),
		MaxInflight:          uint16(m.MaxInflight),
		MaxQueued:            queueLimit(m.MaxMqueueLen),
		QueueQoS0:            m.MqueueStoreQoS0,
		SessionExpiryV3:      m.SessionExpiryInterval.D(),
		MaxSessionExpiry:     m.MaxSessionExpiry.D(),
		ServerKeepAlive:      m.ServerKeepAlive.D(),
		TopicAliasMaximum:    m.TopicAliasMaximum,
		MaxAwaitingRel:       m.MaxAwaitingRel,
		AwaitRelTimeout:      m.AwaitRelTimeout.D(),
		MaxSubscriptions:     m.MaxSubscriptions,
		RetainNotAvailable:   !m.RetainAvailable,
		WildcardNotAvailable: !m.WildcardSubscriptionAvailable,
		SharedNotAvailable:   !m.SharedSubscriptionAvailable,
		SharedStrategy:       m.SharedSubscriptionStrategy,
		IdleTimeout:          m.IdleTimeout.D(),
		NoPayloadFormatCheck: !m.CheckPayloadFormat,
		FlowHighWatermark:    m.FlowHighWatermark,
		AuthFailureDelay:     cfg.Auth.FailureDelay.D(),
		MaxConnections:       l.MaxConnections,
		ConnectionRate:       l.ConnectionRate,
		ClientMessageRate:    l.ClientMessagesRate,
		ClientByteRate:       int(l.ClientBytesRate),
		MemoryHighWatermark:  uint64(l.MemoryHighWatermark),
		SysInterval:          cfg.Sys.Interval.D(),
		UseCNAsUsername:      map[string]bool{},
	}
	o.Durable = durableOptionsFromConfig(cfg)
	if m.MqueueDropPolicy == "drop_newest" {
		o.DropPolicy = DropNewest
	}
	if m.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = -1 // configured off, not "default"
	}
	for _, a := range m.AutoSubscriptions {
		o.AutoSubscriptions = append(o.AutoSubscriptions, AutoSubscription{Filter: a.Filter, QoS: byte(a.QoS)})
	}
	ls, err := configListeners(cfg, o)
	if err != nil {
		return nil, nil, err
	}
	if err := configAuth(cfg, o); err != nil {
		return nil, nil, err
	}
	return o, ls, nil
}

// configListeners builds the enabled listeners.
func configListeners(cfg *config.Config, o *Options) ([]listeners.Listener, error) {
	var ls []listeners.Listener
	lc := cfg.Listeners
	if lc.TCP.Enabled {
		ls = append(ls, listeners.NewTCP("tcp", lc.TCP.Bind))
	}
	if lc.TLS.Enabled {
		tc, err := tlsConfig(lc.TLS.CertFile, lc.TLS.KeyFile, lc.TLS.CAFile, lc.TLS.VerifyClient)
		if err != nil {
			return nil, fmt.Errorf("listeners.tls: %w", err)
		}
		ls = append(ls, listeners.NewTLS("tls", lc.TLS.Bind, tc))
		o.UseCNAsUsername["tls"] = lc.TLS.UseCNAsUsername
	}
	if lc.WS.Enabled {
		ls = append(ls, listeners.NewWebSocket("ws", lc.WS.Bind, lc.WS.Path, nil))
	}
	if lc.WSS.Enabled {
		tc, err := tlsConfig(lc.WSS.CertFile, lc.WSS.KeyFile, lc.WSS.CAFile, lc.WSS.VerifyClient)
		if err != nil {
			return nil, fmt.Errorf("listeners.wss: %w", err)
		}
		ls = append(ls, listeners.NewWebSocket("wss", lc.WSS.Bind, lc.WSS.Path, tc))
		o.UseCNAsUsername["wss"] = lc.WSS.UseCNAsUsername
	}
	if len(ls) == 0 {
		return nil, errors.New("server: no listener enabled")
	}
	return ls, nil
}

// tlsConfig loads a server certificate and, when clients are verified,
// the CA that signs their certificates.
func tlsConfig(certFile, keyFile, caFile string, verifyClient bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", caFile)
		}
		tc.ClientCAs = pool
	}
	if verifyClient {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// configAuth builds the authenticator chain and the authorizer. The chain asks, in order: the
// client id allowlist, a verified certificate (when a listener uses the CN as username), the HTTP
// backend if auth.http.order is first, the password file, the HTTP backend if it is last, then
// the anonymous rule. Authorization asks the HTTP backend and the ACL file in the same order; when
// neither decides, auth.acl_nomatch does.
func configAuth(cfg *config.Config, o *Options) error {
	a := cfg.Auth
	var web *auth.HTTP
	if a.HTTP.URL != "" {
		var err error
		web, err = auth.NewHTTP(auth.HTTPOptions{URL: a.HTTP.URL, Timeout: a.HTTP.Timeout.D(), CacheTTL: httpCacheTTL(a.HTTP.CacheTTL.D()),
			Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("auth.http.url: %w", err)
		}
		o.httpAuth = web
	}
	first, last := a.HTTP.Order != "last", a.HTTP.Order == "last"
	var chain []auth.Authenticator
	if len(a.ClientIDAllowlist) > 0 {
		chain = append(chain, auth.NewClientIDAllowlist(a.ClientIDAllowlist))
	}
	for _, on := range o.UseCNAsUsername {
		if on {
			chain = append(chain, auth.CertCommonName{})
			break
		}
	}
	httpAuthn := web != nil && a.HTTP.Authenticate
	if httpAuthn && first {
		chain = append(chain, web)
	}
	if a.PasswordFile != "" {
		pa, err := auth.NewPasswordAuthenticator(a.PasswordFile)
		if err != nil {
			return fmt.Errorf("auth.password_file: %w", err)
		}
		chain = append(chain, pa)
	}
	if httpAuthn && last {
		chain = append(chain, web)
	}
	if a.PasswordFile == "" && a.AllowAnonymous {
		// No password file to check names against: a username is only a
		// label, as it is for anonymous clients.
		chain = append(chain, acceptAll{})
	} else {
		chain = append(chain, auth.Anonymous{Allowed: a.AllowAnonymous})
	}
	o.Authenticator = auth.NewChain(chain...)
	noMatch := auth.Allow
	if strings.EqualFold(a.ACLNoMatch, "deny") {
		noMatch = auth.Deny
	}
	var acl *auth.ACL
	if a.ACLFile != "" {
		var err error
		if acl, err = auth.LoadACL(a.ACLFile, noMatch); err != nil {
			return fmt.Errorf("auth.acl_file: %w", err)
		}
		o.Authorizer = acl
	}
	if web != nil && a.HTTP.Authorize {
		ch := &auth.AuthzChain{NoMatch: noMatch}
		if first {
			ch.Sources = append(ch.Sources, web)
		}
		if acl != nil {
			ch.Sources = append(ch.Sources, acl)
		}
		if last {
			ch.Sources = append(ch.Sources, web)
		}
		o.Authorizer = ch
	}
	return nil
}

// httpCacheTTL maps auth.http.cache_ttl, where 0 means no cache, to HTTPOptions.CacheTTL,
// where 0 means the default.
func httpCacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// acceptAll allows every client.
type acceptAll struct{}

func (acceptAll) Authenticate(context.Context, auth.Credentials) (auth.Result, error) {
	return auth.Result{Decision: auth.Allow, Reason: "anonymous allowed, no password file"}, nil
}
