package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Validate checks every option and every combination of options, and returns an Errors naming each
// offending key, or nil. It does no I/O: files named by the configuration are opened by the parts that
// use them (server/auth for the password and ACL files).
func (c *Config) Validate() error {
	var v validator
	v.enum("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.enum("log.format", c.Log.Format, "text", "json")
	if c.DataDir == "" {
		v.fail("data_dir", "must not be empty")
	}
	c.validateListeners(&v)
	c.validateAuth(&v)
	c.validateMQTT(&v)
	c.validateLimits(&v)
	c.validateDurable(&v)
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(key+".url", "%q: want http://HOST[:PORT]/PATH or https://...", w.URL)
		}
		if len(w.Events) == 0 {
			v.fail(key+".events", "names no event")
		}
		if w.Topic != "" {
			if err := topic.ValidateFilter(w.Topic); err != nil {
				v.fail(key+".topic", "%q: %v", w.Topic, err)
			}
		}
		v.nonNegative(key+".batch_size", int64(w.BatchSize))
		v.nonNegative(key+".queue_size", int64(w.QueueSize))
		v.nonNegative(key+".timeout", int64(w.Timeout))
	}
	return v.errs.errOrNil()
}

// validator collects problems; each check method records one Error per failed check.
type validator struct{ errs Errors }

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) enum(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.fail(key, "invalid value %q (want one of %s)", val, strings.Join(allowed, ", "))
}

func (v *validator) intRange(key string, val, lo, hi int) {
	if val < lo || val > hi {
		v.fail(key, "%d is out of range [%d, %d]", val, lo, hi)
	}
}

func (v *validator) nonNegative(key string, val int64) {
	if val < 0 {
		v.fail(key, "must not be negative")
	}
}

func (v *validator) positiveDuration(key string, d Duration) {
	if d <= 0 {
		v.fail(key, "must be a positive duration")
	}
}

// seconds checks a duration that goes on the wire as whole seconds in a field of at most max.
func (v *validator) seconds(key string, d Duration, max int64) {
	switch {
	case d < 0:
		v.fail(key, "must not be negative")
	case d.D()%time.Second != 0:
		v.fail(key, "%s is not a whole number of seconds", d)
	case int64(d.D()/time.Second) > max:
		v.fail(key, "%s exceeds the protocol maximum of %d seconds", d, max)
	}
}

// bind checks a host:port listen address. The host may be empty (all interfaces) or a name.
func (v *validator) bind(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(key, "invalid address %q (want host:port, such as 127.0.0.1:1883)", addr)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > math.MaxUint16 {
		v.fail(key, "invalid port %q in %q", port, addr)
	}
}

// isPublic reports whether a bind address may accept connections from other hosts. A malformed
// address is not public: bind reports it on its own.
func isPublic(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.Unmap().IsLoopback()
}

// APIPublic reports whether the API is on and bound to an address other hosts may reach.
func (c *Config) APIPublic() bool { return c.API.Bind != "" && isPublic(c.API.Bind) }

// listenerView is the part of any listener that the cross-listener checks need.
type listenerView struct {
	key          string // listeners.tcp
	enabled      bool
	bind         string
	verifyClient bool
}

func (c *Config) listenerViews() []listenerView {
	l := &c.Listeners
	return []listenerView{
		{"listeners.tcp", l.TCP.Enabled, l.TCP.Bind, false},
		{"listeners.tls", l.TLS.Enabled, l.TLS.Bind, l.TLS.VerifyClient},
		{"listeners.ws", l.WS.Enabled, l.WS.Bind, false},
		{"listeners.wss", l.WSS.Enabled, l.WSS.Bind, l.WSS.VerifyClient},
	}
}

func (c *Config) validateListeners(v *validator) {
	l := &c.Listeners
	for _, lv := range c.listenerViews() {
		v.bind(lv.key+".bind", lv.bind)
	}
	if l.TLS.Enabled {
		validateTLS(v, "listeners.tls", l.TLS.CertFile, l.TLS.KeyFile, l.TLS.CAFile, l.TLS.VerifyClient, l.TLS.UseCNAsUsername)
	}
	if l.WSS.Enabled {
		validateTLS(v, "listeners.wss", l.WSS.CertFile, l.WSS.KeyFile, l.WSS.CAFile, l.WSS.VerifyClient, l.WSS.UseCNAsUsername)
	}
	for _, p := range []struct{ key, path string }{{"listeners.ws.path", l.WS.Path}, {"listeners.wss.path", l.WSS.Path}} {
		if !strings.HasPrefix(p.path, "/") {
			v.fail(p.key, "%q must start with /", p.path)
		}
	}
	enabled := map[string]string{} // bind → listener key, to catch two listeners on one port
	for _, lv := range c.listenerViews() {
		if !lv.enabled {
			continue
		}
		if other, dup := enabled[lv.bind]; dup {
			v.fail(lv.key+".bind", "%s is also the bind address of %s", lv.bind, other)
		}
		enabled[lv.bind] = lv.key
	}
	if c.API.Bind != "" {
		v.bind("api.bind", c.API.Bind)
	}
	if t := c.API.Token; t != "" && (len(t) < 16 || strings.TrimSpace(t) != t) {
		v.fail("api.token", "must be at least 16 characters, without surrounding spaces")
	}
}

func validateTLS(v *validator, key, cert, keyFile, ca string, verify, useCN bool) {
	if cert == "" {
		v.fail(key+".cert_file", "required when %s.enabled is true", key)
	}
	if keyFile == "" {
		v.fail(key+".key_file", "required when %s.enabled is true", key)
	}
	if verify && ca == "" {
		v.fail(key+".ca_file", "required when %s.verify_client is true", key)
	}
	if useCN && !verify {
		v.fail(key+".use_cn_as_username", "requires %s.verify_client: an unverified certificate proves no name", key)
	}
}

func (c *Config) validateAuth(v *validator) {
	a := &c.Auth
	v.enum("auth.acl_nomatch", a.ACLNoMatch, "allow", "deny")
	v.nonNegative("auth.failure_delay", int64(a.FailureDelay))
	for i, id := range a.ClientIDAllowlist {
		if id == "" {
			v.fail(fmt.Sprintf("auth.client_id_allowlist[%d]", i), "empty client id")
		}
	}
	httpAuthn := false
	if h := &a.HTTP; h.URL != "" {
		if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("auth.http.url", "%q: want http://HOST[:PORT]/PATH or https://...", h.URL)
		}
		v.positiveDuration("auth.http.timeout", h.Timeout)
		v.nonNegative("auth.http.cache_ttl", int64(h.CacheTTL))
		v.enum("auth.http.order", h.Order, "first", "last")
		if !h.Authenticate && !h.Authorize {
			v.fail("auth.http", "url is set but neither authenticate nor authorize is on")
		}
		httpAuthn = h.Authenticate
	}
	certAuth := false
	for _, lv := range c.listenerViews() {
		certAuth = certAuth || (lv.enabled && lv.verifyClient)
	}
	if !a.AllowAnonymous && a.PasswordFile == "" && !certAuth && !httpAuthn {
		v.fail("auth.allow_anonymous", "is false but there is no auth.password_file and no listener verifies client certificates: no client could connect")
	}
	if !a.AllowAnonymous || a.PasswordFile != "" || httpAuthn || a.AllowAnonymousOnPublicListeners {
		return
	}
	for _, lv := range c.listenerViews() {
		if lv.enabled && !lv.verifyClient && isPublic(lv.bind) {
			v.fail(lv.key+".bind", "%s is not a loopback address and auth.allow_anonymous is true with no auth.password_file: "+
				"a public listener requires an explicit authentication choice (set auth.password_file, auth.allow_anonymous: false, "+
				"or auth.allow_anonymous_on_public_listeners: true)", lv.bind)
		}
	}
}

func (c *Config) validateMQTT(v *validator) {
	m := &c.MQTT
	// 268,435,455 bytes of remaining length plus a 5-byte fixed header is the largest MQTT packet.
	if m.MaxPacketSize < 16 || m.MaxPacketSize > 268435460 {
		v.fail("mqtt.max_packet_size", "%s is out of range [16, 268435460]", m.MaxPacketSize)
	}
	v.intRange("mqtt.max_topic_levels", m.MaxTopicLevels, 1, 65535)
	v.intRange("mqtt.max_inflight", m.MaxInflight, 1, 65535)
	v.intRange("mqtt.receive_maximum", m.ReceiveMaximum, 1, 65535)
	v.nonNegative("mqtt.max_mqueue_len", int64(m.MaxMqueueLen))
	v.enum("mqtt.mqueue_drop_policy", m.MqueueDropPolicy, "drop_oldest", "drop_newest")
	v.seconds("mqtt.session_expiry_interval", m.SessionExpiryInterval, math.MaxUint32)
	v.seconds("mqtt.max_session_expiry", m.MaxSessionExpiry, math.MaxUint32)
	if m.MaxSessionExpiry > 0 && m.SessionExpiryInterval > m.MaxSessionExpiry {
		v.fail("mqtt.session_expiry_interval", "%s exceeds mqtt.max_session_expiry (%s)", m.SessionExpiryInterval, m.MaxSessionExpiry)
	}
	v.seconds("mqtt.server_keep_alive", m.ServerKeepAlive, math.MaxUint16)
	v.intRange("mqtt.topic_alias_maximum", m.TopicAliasMaximum, 0, 65535)
	v.nonNegative("mqtt.max_awaiting_rel", int64(m.MaxAwaitingRel))
	v.positiveDuration("mqtt.await_rel_timeout", m.AwaitRelTimeout)
	v.nonNegative("mqtt.max_subscriptions", int64(m.MaxSubscriptions))
	v.enum("mqtt.shared_subscription_strategy", m.SharedSubscriptionStrategy, "round_robin", "random", "sticky", "hash_clientid")
	v.positiveDuration("mqtt.idle_timeout", m.IdleTimeout)
	v.intRange("mqtt.flow_high_watermark", m.FlowHighWatermark, -1, math.MaxInt32)
	for i, s := range m.AutoSubscriptions {
		key := fmt.Sprintf("mqtt.auto_subscriptions[%d]", i)
		if err := topic.ValidateFilter(s.Filter); err != nil {
			v.fail(key+".filter", "%v", err)
		}
		v.intRange(key+".qos", s.QoS, 0, 2)
	}
}

func (c *Config) validateLimits(v *validator) {
	l := &c.Limits
	v.nonNegative("limits.max_connections", int64(l.MaxConnections))
	v.nonNegative("limits.connection_rate", int64(l.ConnectionRate))
	v.nonNegative("limits.client_messages_rate", int64(l.ClientMessagesRate))
	v.nonNegative("limits.client_bytes_rate", int64(l.ClientBytesRate))
	v.nonNegative("limits.memory_high_watermark", int64(l.MemoryHighWatermark))
	v.nonNegative("sys.interval", int64(c.Sys.Interval))
}

func (c *Config) validateDurable(v *validator) {
	s := &c.DurableSessions
	v.intRange("durable_sessions.batch_size", s.BatchSize, 1, 65535)
	v.positiveDuration("durable_sessions.idle_poll_interval", s.IdlePollInterval)
	v.positiveDuration("durable_sessions.heartbeat_interval", s.HeartbeatInterval)
	v.positiveDuration("durable_sessions.renew_streams_interval", s.RenewStreamsInterval)
	v.positiveDuration("durable_sessions.session_gc_interval", s.SessionGCInterval)
	v.positiveDuration("durable_sessions.message_retention_period", s.MessageRetentionPeriod)
	v.positiveDuration("durable_sessions.shared_redispatch_timeout", s.SharedRedispatchTimeout)
	for i, rc := range s.RetentionClasses {
		key := fmt.Sprintf("durable_sessions.retention_classes[%d]", i)
		if err := topic.ValidateFilter(rc.Filter); err != nil {
			v.fail(key+".filter", "%v", err)
		}
		v.positiveDuration(key+".period", rc.Period)
	}

	m := &c.DurableStorage.Messages
	v.intRange("durable_storage.messages.n_shards", m.NShards, 1, 65536)
	v.intRange("durable_storage.messages.n_sites", m.NSites, 1, 255)
	v.intRange("durable_storage.messages.replication_factor", m.ReplicationFactor, 1, max(1, m.NSites))
	if m.NSites > 1 {
		if m.Cluster.Bind == "" {
			v.fail("durable_storage.messages.cluster.bind", "must be set when n_sites > 1")
		}
		v.enum("durable_storage.messages.cluster.discovery", m.Cluster.Discovery, "static", "dns")
		switch m.Cluster.Discovery {
		case "static":
			if len(m.Cluster.Seeds) < m.NSites-1 {
				v.fail("durable_storage.messages.cluster.seeds", "lists %d sites, n_sites %d needs at least %d", len(m.Cluster.Seeds), m.NSites, m.NSites-1)
			}
		case "dns":
			if m.Cluster.DNS.Name == "" {
				v.fail("durable_storage.messages.cluster.dns.name", "must be set when cluster.discovery is dns")
			}
			v.enum("durable_storage.messages.cluster.dns.record_type", m.Cluster.DNS.RecordType, "a", "srv")
		}
		if cl := &m.Cluster; cl.CertFile != "" || cl.KeyFile != "" || cl.CAFile != "" {
			for _, f := range []struct{ key, value string }{{"cert_file", cl.CertFile}, {"key_file", cl.KeyFile}, {"ca_file", cl.CAFile}} {
				if f.value == "" {
					v.fail("durable_storage.messages.cluster."+f.key, "required for TLS between sites (cert_file, key_file and ca_file go together)")
				}
			}
		}
	}
	w := &m.LocalWriteBuffer
	v.intRange("durable_storage.messages.local_write_buffer.max_items", w.MaxItems, 1, 1<<20)
	if w.MaxBytes < 1 {
		v.fail("durable_storage.messages.local_write_buffer.max_bytes", "must be at least 1 byte")
	}
	v.positiveDuration("durable_storage.messages.local_write_buffer.flush_interval", w.FlushInterval)
	l := &m.Layout
	v.enum("durable_storage.messages.layout.type", l.Type, "wildcard_optimized", "reference")
	v.intRange("durable_storage.messages.layout.epoch_bits", l.EpochBits, 1, 63)
	v.intRange("durable_storage.messages.layout.bits_per_topic_level", l.BitsPerTopicLevel, 1, 64)
	v.intRange("durable_storage.messages.layout.topic_index_bytes", l.TopicIndexBytes, 1, 8)
}
