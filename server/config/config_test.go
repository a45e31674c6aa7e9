package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Ensure that the defaults are a valid configuration: a broker started with no file must run.
func TestDefault_Valid(t *testing.T) {
	require.NoError(t, Default().Validate())
}

// Ensure that `mqttds config defaults` output parses back to exactly the defaults, and that a
// configuration using every kind of value (lists, sizes, odd durations) survives the same round trip.
func TestWriteAnnotated_RoundTrip(t *testing.T) {
	custom := Default()
	custom.Auth.ClientIDAllowlist = []string{"pump-1", "a b"}
	custom.MQTT.AutoSubscriptions = []AutoSubscription{{Filter: "cmd/%c/#", QoS: 1}}
	custom.DurableSessions.RetentionClasses = []RetentionClass{{Filter: "audit/#", Period: Duration(90 * time.Minute)}}
	custom.MQTT.MaxPacketSize = 1500
	custom.Limits.MemoryHighWatermark = 3 << 30
	custom.DurableStorage.Messages.LocalWriteBuffer.FlushInterval = Duration(1500 * time.Microsecond)
	custom.Listeners.TCP.Bind = "[::1]:1883"
	for name, cfg := range map[string]*Config{"defaults": Default(), "custom": custom} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteAnnotated(&buf, cfg))
			got, err := Parse(buf.Bytes())
			require.NoError(t, err, buf.String())
			require.Equal(t, cfg, got)
		})
	}
}

// Ensure that every option, and nothing else, is documented in the annotated output.
func TestDocs_CoverEveryOption(t *testing.T) {
	leaves := leafKeys(reflect.TypeFor[Config](), "")
	for _, k := range leaves {
		require.NotEmpty(t, docs[k], "option %s has no doc comment", k)
	}
	var buf bytes.Buffer
	require.NoError(t, WriteAnnotated(&buf, Default()))
	for k := range docs {
		require.True(t, slices.Contains(leaves, k) || slices.ContainsFunc(leaves, func(l string) bool {
			return strings.HasPrefix(l, k+".")
		}), "doc for unknown key %s", k)
		last := k[strings.LastIndex(k, ".")+1:]
		require.Contains(t, buf.String(), last+":", "key %s missing from output", k)
	}
}

// Ensure that no two options map to one environment variable.
func TestEnvName_Unique(t *testing.T) {
	seen := map[string]string{}
	for _, k := range leafKeys(reflect.TypeFor[Config](), "") {
		name := EnvName(k)
		require.NotContains(t, seen, name, "%s and %s share %s", k, seen[name], name)
		seen[name] = k
	}
	require.Equal(t, "MQTTDS_LISTENERS_TCP_BIND", EnvName("listeners.tcp.bind"))
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		check   func(t *testing.T, c *Config)
		errKeys []string // every key named by the returned Errors, in order
		errText string   // a fragment of the error message
	}{
		{name: "empty file keeps defaults", yaml: "", check: func(t *testing.T, c *Config) {
			require.Equal(t, Default(), c)
		}},
		{name: "comments only", yaml: "# nothing\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, Default(), c)
		}},
		{name: "nested values", yaml: `
data_dir: /var/lib/mqttds
listeners:
  tcp: {bind: "0.0.0.0:1883"}
  ws:
    enabled: true
mqtt:
  max_packet_size: 64KiB
  session_expiry_interval: 1h30m
  auto_subscriptions:
    - {filter: "cmd/%c", qos: 2}
auth:
  client_id_allowlist: [a, b]
`, check: func(t *testing.T, c *Config) {
			require.Equal(t, "/var/lib/mqttds", c.DataDir)
			require.Equal(t, "0.0.0.0:1883", c.Listeners.TCP.Bind)
			require.True(t, c.Listeners.TCP.Enabled, "untouched sibling keeps its default")
			require.True(t, c.Listeners.WS.Enabled)
			require.Equal(t, "/mqtt", c.Listeners.WS.Path)
			require.Equal(t, ByteSize(65536), c.MQTT.MaxPacketSize)
			require.Equal(t, Duration(90*time.Minute), c.MQTT.SessionExpiryInterval)
			require.Equal(t, []AutoSubscription{{"cmd/%c", 2}}, c.MQTT.AutoSubscriptions)
			require.Equal(t, []string{"a", "b"}, c.Auth.ClientIDAllowlist)
		}},
		{name: "null section keeps defaults", yaml: "log:\nmqtt: ~\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, Default(), c)
		}},
		{name: "anchors and aliases", yaml: "log: &l {level: debug}\nsys: {interval: 5s}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, "debug", c.Log.Level)
		}},
		{name: "unknown top-level key", yaml: "datadir: x\n", errKeys: []string{"datadir"}, errText: "line 1: datadir: unknown key"},
		{name: "unknown nested key with suggestion", yaml: "listeners:\n  tcp:\n    binds: x\n",
			errKeys: []string{"listeners.tcp.binds"}, errText: "did you mean bind?"},
		{name: "every problem at once", yaml: `
log: {level: 3, colour: red}
mqtt:
  max_inflight: lots
  await_rel_timeout: 300
  retain_available: maybe
  max_packet_size: 1 MiBi
`, errKeys: []string{"log.colour", "mqtt.max_inflight", "mqtt.await_rel_timeout", "mqtt.retain_available", "mqtt.max_packet_size"}},
		{name: "number into string is fine, mapping is not", yaml: "log: {level: {a: 1}}\n",
			errKeys: []string{"log.level"}, errText: "want a string, got a mapping"},
		{name: "section given a scalar", yaml: "listeners: 5\n", errKeys: []string{"listeners"}, errText: "want a mapping"},
		{name: "list given a scalar", yaml: "auth: {client_id_allowlist: abc}\n", errKeys: []string{"auth.client_id_allowlist"}},
		{name: "bad list element", yaml: "mqtt:\n  auto_subscriptions:\n    - {filter: a, qos: x, extra: 1}\n",
			errKeys: []string{"mqtt.auto_subscriptions[0].qos", "mqtt.auto_subscriptions[0].extra"}},
		{name: "duplicate key", yaml: "log:\n  level: info\n  level: debug\n", errKeys: []string{"log.level"}, errText: "duplicate key"},
		{name: "syntax error", yaml: "log: [\n", errKeys: []string{"(document)"}},
		{name: "two documents", yaml: "log: {}\n---\nsys: {}\n", errKeys: []string{"(document)"}, errText: "more than one"},
		{name: "top level is a list", yaml: "- a\n", errKeys: []string{"(document)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.errKeys == nil {
				require.NoError(t, err)
				tc.check(t, c)
				return
			}
			require.Error(t, err)
			var es Errors
			require.ErrorAs(t, err, &es)
			require.Equal(t, tc.errKeys, es.Keys(), err.Error())
			require.Contains(t, err.Error(), tc.errText)
		})
	}
}

func TestApplyEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		check   func(t *testing.T, c *Config)
		errKeys []string
	}{
		{name: "scalars", env: []string{
			"MQTTDS_LISTENERS_TCP_BIND=127.0.0.1:1884",
			"MQTTDS_DATA_DIR=/tmp/x",
			"MQTTDS_AUTH_ALLOW_ANONYMOUS=false",
			"MQTTDS_MQTT_MAX_INFLIGHT=7",
			"MQTTDS_MQTT_MAX_PACKET_SIZE=2MiB",
			"MQTTDS_SYS_INTERVAL=5s",
			"MQTTDS_LOG_LEVEL=*", // taken verbatim, not parsed as YAML (Validate rejects it later)
			"PATH=/bin",
		}, check: func(t *testing.T, c *Config) {
			require.Equal(t, "127.0.0.1:1884", c.Listeners.TCP.Bind)
			require.Equal(t, "/tmp/x", c.DataDir)
			require.False(t, c.Auth.AllowAnonymous)
			require.Equal(t, 7, c.MQTT.MaxInflight)
			require.Equal(t, ByteSize(2<<20), c.MQTT.MaxPacketSize)
			require.Equal(t, Duration(5*time.Second), c.Sys.Interval)
			require.Equal(t, "*", c.Log.Level)
		}},
		{name: "lists", env: []string{
			"MQTTDS_AUTH_CLIENT_ID_ALLOWLIST=pump-1, pump-2,",
			`MQTTDS_MQTT_AUTO_SUBSCRIPTIONS=[{filter: "cmd/%c", qos: 1}]`,
			`MQTTDS_DURABLE_SESSIONS_RETENTION_CLASSES=[{filter: "a/#", period: 1h}]`,
		}, check: func(t *testing.T, c *Config) {
			require.Equal(t, []string{"pump-1", "pump-2"}, c.Auth.ClientIDAllowlist)
			require.Equal(t, []AutoSubscription{{"cmd/%c", 1}}, c.MQTT.AutoSubscriptions)
			require.Equal(t, []RetentionClass{{"a/#", Duration(time.Hour)}}, c.DurableSessions.RetentionClasses)
		}},
		{name: "flow list of strings", env: []string{`MQTTDS_AUTH_CLIENT_ID_ALLOWLIST=["a,b", c]`},
			check: func(t *testing.T, c *Config) { require.Equal(t, []string{"a,b", "c"}, c.Auth.ClientIDAllowlist) }},
		{name: "names outside the option sections are ignored", env: []string{"MQTTDS_SOAK=5m", "MQTTDS_CONFIG=x"},
			check: func(t *testing.T, c *Config) { require.Equal(t, Default(), c) }},
		{name: "invalid values and typos name their key", env: []string{
			"MQTTDS_MQTT_MAX_INFLIGHT=many",
			"MQTTDS_LISTENERS_TCP_BINDD=x",
			"MQTTDS_SYS_INTERVAL=60",
			"MQTTDS_MQTT_AUTO_SUBSCRIPTIONS=[{filter: a, qos: one}]",
		}, errKeys: []string{"listeners.?", "mqtt.auto_subscriptions[0].qos", "mqtt.max_inflight", "sys.interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := c.ApplyEnv(tc.env)
			if tc.errKeys == nil {
				require.NoError(t, err)
				tc.check(t, c)
				return
			}
			var es Errors
			require.ErrorAs(t, err, &es)
			require.Equal(t, tc.errKeys, es.Keys(), err.Error())
			require.Contains(t, err.Error(), "env MQTTDS_")
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(c *Config)
		errKeys []string
	}{
		{"enums", func(c *Config) {
			c.Log.Level, c.Log.Format = "verbose", "xml"
			c.Auth.ACLNoMatch = "maybe"
			c.MQTT.MqueueDropPolicy = "drop_random"
			c.MQTT.SharedSubscriptionStrategy = "least_loaded"
			c.DurableStorage.Messages.Layout.Type = "btree"
		}, []string{"log.level", "log.format", "auth.acl_nomatch", "mqtt.mqueue_drop_policy",
			"mqtt.shared_subscription_strategy", "durable_storage.messages.layout.type"}},
		{"bind addresses", func(c *Config) {
			c.Listeners.TCP.Bind = "1883"
			c.Listeners.WS.Bind = "127.0.0.1:99999"
			c.API.Bind = "localhost"
		}, []string{"listeners.tcp.bind", "listeners.ws.bind", "api.bind"}},
		{"api disabled by empty bind", func(c *Config) { c.API.Bind = "" }, nil},
		{"api token too short", func(c *Config) { c.API.Token = "short" }, []string{"api.token"}},
		{"http auth", func(c *Config) {
			c.Auth.HTTP.URL, c.Auth.HTTP.Order, c.Auth.HTTP.Timeout, c.Auth.HTTP.CacheTTL = "ftp://x", "middle", 0, -1
		}, []string{"auth.http.url", "auth.http.timeout", "auth.http.cache_ttl", "auth.http.order"}},
		{"http auth does nothing", func(c *Config) {
			c.Auth.HTTP.URL, c.Auth.HTTP.Authenticate, c.Auth.HTTP.Authorize = "http://127.0.0.1:9/auth", false, false
		}, []string{"auth.http"}},
		{"http auth is an authentication choice", func(c *Config) {
			c.Auth.HTTP.URL, c.Auth.AllowAnonymous = "http://127.0.0.1:9/auth", false
			c.Listeners.TCP.Bind = "0.0.0.0:1883"
		}, nil},
		{"two listeners on one address", func(c *Config) {
			c.Listeners.WS.Enabled, c.Listeners.WS.Bind = true, c.Listeners.TCP.Bind
		}, []string{"listeners.ws.bind"}},
		{"tls needs files", func(c *Config) {
			c.Listeners.TLS.Enabled = true
			c.Listeners.TLS.VerifyClient = true
			c.Listeners.WSS.Enabled = true
			c.Listeners.WSS.CertFile, c.Listeners.WSS.KeyFile = "c.pem", "k.pem"
			c.Listeners.WSS.UseCNAsUsername = true
		}, []string{"listeners.tls.cert_file", "listeners.tls.key_file", "listeners.tls.ca_file", "listeners.wss.use_cn_as_username"}},
		{"ws path", func(c *Config) { c.Listeners.WS.Path = "mqtt" }, []string{"listeners.ws.path"}},
		{"public listener, anonymous, no passwords", func(c *Config) {
			c.Listeners.TCP.Bind = "0.0.0.0:1883"
			c.Listeners.WS.Enabled, c.Listeners.WS.Bind = true, ":8083"
			c.Listeners.TLS.Bind = "0.0.0.0:8883" // disabled: not checked
		}, []string{"listeners.tcp.bind", "listeners.ws.bind"}},
		{"public listener with a password file", func(c *Config) {
			c.Listeners.TCP.Bind, c.Auth.PasswordFile = "0.0.0.0:1883", "passwd"
		}, nil},
		{"public listener, anonymous acknowledged", func(c *Config) {
			c.Listeners.TCP.Bind, c.Auth.AllowAnonymousOnPublicListeners = "0.0.0.0:1883", true
		}, nil},
		{"public listener, anonymous off", func(c *Config) {
			c.Listeners.TCP.Bind, c.Auth.AllowAnonymous, c.Auth.PasswordFile = "10.0.0.1:1883", false, "passwd"
		}, nil},
		{"public listener verifying client certificates", func(c *Config) {
			c.Listeners.TCP.Enabled = false
			tls := &c.Listeners.TLS
			tls.Enabled, tls.Bind, tls.CertFile, tls.KeyFile, tls.CAFile, tls.VerifyClient = true, ":8883", "c", "k", "ca", true
		}, nil},
		{"loopback spellings", func(c *Config) {
			c.Listeners.TCP.Bind = "localhost:1883"
			c.Listeners.WS.Enabled, c.Listeners.WS.Bind = true, "[::1]:8083"
			c.Listeners.WSS.Bind = "127.0.0.2:8084"
		}, nil},
		{"nobody could connect", func(c *Config) { c.Auth.AllowAnonymous = false }, []string{"auth.allow_anonymous"}},
		{"mqtt ranges", func(c *Config) {
			m := &c.MQTT
			m.MaxPacketSize = 300 << 20
			m.MaxTopicLevels = 0
			m.MaxInflight = 70000
			m.ReceiveMaximum = 0
			m.MaxMqueueLen = -1
			m.TopicAliasMaximum = 65536
			m.MaxAwaitingRel = -1
			m.AwaitRelTimeout = 0
			m.MaxSubscriptions = -5
			m.IdleTimeout = -1
			m.FlowHighWatermark = -2
		}, []string{"mqtt.max_packet_size", "mqtt.max_topic_levels", "mqtt.max_inflight", "mqtt.receive_maximum",
			"mqtt.max_mqueue_len", "mqtt.topic_alias_maximum", "mqtt.max_awaiting_rel", "mqtt.await_rel_timeout",
			"mqtt.max_subscriptions", "mqtt.idle_timeout", "mqtt.flow_high_watermark"}},
		{"wire seconds", func(c *Config) {
			c.MQTT.SessionExpiryInterval = Duration(1500 * time.Millisecond)
			c.MQTT.MaxSessionExpiry = Duration(200 * 365 * 24 * time.Hour)
			c.MQTT.ServerKeepAlive = Duration(20 * time.Hour)
		}, []string{"mqtt.session_expiry_interval", "mqtt.max_session_expiry", "mqtt.server_keep_alive"}},
		{"expiry above its cap", func(c *Config) { c.MQTT.MaxSessionExpiry = Duration(time.Hour) },
			[]string{"mqtt.session_expiry_interval"}},
		{"filters", func(c *Config) {
			c.MQTT.AutoSubscriptions = []AutoSubscription{{"ok/%c/#", 1}, {"a/#/b", 3}, {"", 0}}
			c.DurableSessions.RetentionClasses = []RetentionClass{{"x+/y", Duration(time.Hour)}, {"z", 0}}
		}, []string{"mqtt.auto_subscriptions[1].filter", "mqtt.auto_subscriptions[1].qos", "mqtt.auto_subscriptions[2].filter",
			"durable_sessions.retention_classes[0].filter", "durable_sessions.retention_classes[1].period"}},
		{"limits and storage", func(c *Config) {
			c.DataDir = ""
			c.Limits.MaxConnections = -1
			c.Limits.ClientBytesRate = -1
			c.Sys.Interval = -1
			c.Auth.FailureDelay = -1
			c.Auth.ClientIDAllowlist = []string{"a", ""}
			c.DurableSessions.BatchSize = 0
			c.DurableSessions.HeartbeatInterval = 0
			m := &c.DurableStorage.Messages
			m.NShards = 0
			m.LocalWriteBuffer.MaxItems = 0
			m.LocalWriteBuffer.MaxBytes = 0
			m.LocalWriteBuffer.FlushInterval = 0
			m.Layout.EpochBits = 64
			m.Layout.BitsPerTopicLevel = 0
			m.Layout.TopicIndexBytes = 9
		}, []string{"data_dir", "auth.failure_delay", "auth.client_id_allowlist[1]", "limits.max_connections",
			"limits.client_bytes_rate", "sys.interval", "durable_sessions.batch_size", "durable_sessions.heartbeat_interval",
			"durable_storage.messages.n_shards", "durable_storage.messages.local_write_buffer.max_items",
			"durable_storage.messages.local_write_buffer.max_bytes", "durable_storage.messages.local_write_buffer.flush_interval",
			"durable_storage.messages.layout.epoch_bits", "durable_storage.messages.layout.bits_per_topic_level",
			"durable_storage.messages.layout.topic_index_bytes"}},
		{"cluster", func(c *Config) {
			m := &c.DurableStorage.Messages
			m.NSites = 3
			m.ReplicationFactor = 4
			m.Cluster.Seeds = []string{"10.0.0.2:7000"}
		}, []string{"durable_storage.messages.replication_factor", "durable_storage.messages.cluster.bind",
			"durable_storage.messages.cluster.seeds"}},
		{"cluster DNS discovery needs a name", func(c *Config) {
			m := &c.DurableStorage.Messages
			m.NSites, m.ReplicationFactor = 3, 3
			m.Cluster.Bind = "127.0.0.1:7000"
			m.Cluster.Discovery = "dns"
			m.Cluster.DNS.RecordType = "mx"
		}, []string{"durable_storage.messages.cluster.dns.name", "durable_storage.messages.cluster.dns.record_type"}},
		{"cluster discovery is static or dns", func(c *Config) {
			m := &c.DurableStorage.Messages
			m.NSites, m.ReplicationFactor = 3, 3
			m.Cluster.Bind = "127.0.0.1:7000"
			m.Cluster.Discovery = "gossip"
		}, []string{"durable_storage.messages.cluster.discovery"}},
		{"cluster TLS needs all three files", func(c *Config) {
			m := &c.DurableStorage.Messages
			m.NSites, m.ReplicationFactor = 3, 3
			m.Cluster.Bind = "127.0.0.1:7000"
			m.Cluster.Seeds = []string{"a:1", "b:1"}
			m.Cluster.CertFile = "site.crt"
		}, []string{"durable_storage.messages.cluster.key_file", "durable_storage.messages.cluster.ca_file"}},
		{"cluster with fewer replicas than sites (a site reads the others at their leader)", func(c *Config) {
			m := &c.DurableStorage.Messages
			m.NSites = 5
			m.ReplicationFactor = 3
			m.Cluster.Bind = "127.0.0.1:7000"
			m.Cluster.Seeds = []string{"a:1", "b:1", "c:1", "d:1"}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(c)
			err := c.Validate()
			if tc.errKeys == nil {
				require.NoError(t, err)
				return
			}
			var es Errors
			require.ErrorAs(t, err, &es)
			require.Equal(t, tc.errKeys, es.Keys(), err.Error())
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mqttds.yaml")
	require.NoError(t, os.WriteFile(path, []byte("listeners:\n  tcp:\n    bind: 127.0.0.1:2883\nlog: {level: debug}\n"), 0o600))

	c, err := Load(path, []string{"MQTTDS_LOG_LEVEL=warn"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:2883", c.Listeners.TCP.Bind, "file over defaults")
	require.Equal(t, "warn", c.Log.Level, "environment over file")

	c, err = Load("", nil)
	require.NoError(t, err)
	require.Equal(t, Default(), c)

	_, err = Load(filepath.Join(dir, "missing.yaml"), nil)
	require.ErrorIs(t, err, os.ErrNotExist)

	_, err = Load(path, []string{"MQTTDS_LISTENERS_TCP_BIND=0.0.0.0:1883"})
	require.ErrorContains(t, err, "requires an explicit authentication choice")

	require.NoError(t, os.WriteFile(path, []byte("log:\n  level: debug\n  levle: x\n"), 0o600))
	_, err = Load(path, nil)
	require.ErrorContains(t, err, path+":3: log.levle: unknown key")
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"10ms", 10 * time.Millisecond, "10ms"},
		{"2h", 2 * time.Hour, "2h"},
		{"1h30m", 90 * time.Minute, "90m"},
		{"300s", 300 * time.Second, "5m"},
		{"1.5s", 1500 * time.Millisecond, "1500ms"},
		{"0", 0, "0s"},
		{"7ns", 7, "7ns"},
		{"2500us", 2500 * time.Microsecond, "2500us"},
	} {
		d, err := ParseDuration(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, d.D(), tc.in)
		require.Equal(t, tc.out, d.String(), tc.in)
	}
	for _, bad := range []string{"60", "1 day", "", "-"} {
		_, err := ParseDuration(bad)
		require.ErrorContains(t, err, "invalid duration", bad)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		out  string
	}{
		{"1048576", 1 << 20, "1MiB"},
		{"1MiB", 1 << 20, "1MiB"},
		{"512 KiB", 512 << 10, "512KiB"},
		{"1MB", 1e6, "1000000"},
		{"3GiB", 3 << 30, "3GiB"},
		{"2TiB", 2 << 40, "2TiB"},
		{"1500", 1500, "1500"},
		{"0", 0, "0"},
		{"10B", 10, "10"},
	} {
		b, err := ParseByteSize(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, int64(b), tc.in)
		require.Equal(t, tc.out, b.String(), tc.in)
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "-1", "1 mib", "9999999TiB", "ten"} {
		_, err := ParseByteSize(bad)
		require.Error(t, err, bad)
	}
}
