package config

import "time"

// Config is the whole broker configuration. The zero value is not useful: start from Default() and
// let Parse or Load lay a file and the environment over it.
//
// Every field carries a yaml tag; the dotted path of those tags (for example listeners.tcp.bind) is the
// key that error messages, the annotated defaults and the MQTTDS_ environment overrides use.
type Config struct {
	DataDir         string          `yaml:"data_dir"`
	Log             Log             `yaml:"log"`
	Listeners       Listeners       `yaml:"listeners"`
	Auth            Auth            `yaml:"auth"`
	MQTT            MQTT            `yaml:"mqtt"`
	Limits          Limits          `yaml:"limits"`
	Sys             Sys             `yaml:"sys"`
	API             API             `yaml:"api"`
	DurableSessions DurableSessions `yaml:"durable_sessions"`
	DurableStorage  DurableStorage  `yaml:"durable_storage"`
	Webhooks        []Webhook       `yaml:"webhooks"`
}

// Webhook sends hook events to one URL (see server.WebhookOptions for the defaults of zero fields).
type Webhook struct {
	URL        string   `yaml:"url"`
	Events     []string `yaml:"events"`
	Topic      string   `yaml:"topic"`
	BatchSize  int      `yaml:"batch_size"`
	QueueSize  int      `yaml:"queue_size"`
	MaxRetries int      `yaml:"max_retries"`
	Timeout    Duration `yaml:"timeout"`
}

// Log selects how the broker logs.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Listeners holds one entry per transport. A listener runs only when Enabled.
type Listeners struct {
	TCP TCPListener `yaml:"tcp"`
	TLS TLSListener `yaml:"tls"`
	WS  WSListener  `yaml:"ws"`
	WSS WSSListener `yaml:"wss"`
}

// TCPListener is plain MQTT over TCP.
type TCPListener struct {
	Enabled bool   `yaml:"enabled"`
	Bind    string `yaml:"bind"`
}

// TLSListener is MQTT over TLS.
type TLSListener struct {
	Enabled  bool   `yaml:"enabled"`
	Bind     string `yaml:"bind"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile holds the CAs that client certificates must chain to; required by VerifyClient.
	CAFile       string `yaml:"ca_file"`
	VerifyClient bool   `yaml:"verify_client"`
	// UseCNAsUsername makes the verified certificate's common name the client's username.
	UseCNAsUsername bool `yaml:"use_cn_as_username"`
}

// WSListener is MQTT over WebSocket.
type WSListener struct {
	Enabled bool   `yaml:"enabled"`
	Bind    string `yaml:"bind"`
	Path    string `yaml:"path"`
}

// WSSListener is MQTT over WebSocket over TLS; it carries its own certificate settings because it is
// often fronted by a different host name than the raw TLS port.
type WSSListener struct {
	Enabled         bool   `yaml:"enabled"`
	Bind            string `yaml:"bind"`
	Path            string `yaml:"path"`
	CertFile        string `yaml:"cert_file"`
	KeyFile         string `yaml:"key_file"`
	CAFile          string `yaml:"ca_file"`
	VerifyClient    bool   `yaml:"verify_client"`
	UseCNAsUsername bool   `yaml:"use_cn_as_username"`
}

// Auth configures authentication and authorization (package server/auth).
type Auth struct {
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// AllowAnonymousOnPublicListeners acknowledges that a listener bound to a non-loopback address
	// accepts clients without credentials. Without it such a configuration is refused at startup.
	AllowAnonymousOnPublicListeners bool     `yaml:"allow_anonymous_on_public_listeners"`
	PasswordFile                    string   `yaml:"password_file"`
	ACLFile                         string   `yaml:"acl_file"`
	ACLNoMatch                      string   `yaml:"acl_nomatch"` // allow | deny
	ClientIDAllowlist               []string `yaml:"client_id_allowlist"`
	FailureDelay                    Duration `yaml:"failure_delay"`
	HTTP                            HTTPAuth `yaml:"http"`
}

// HTTPAuth is an HTTP service asked to authenticate clients and authorize their actions.
type HTTPAuth struct {
	URL          string   `yaml:"url"`
	Timeout      Duration `yaml:"timeout"`
	CacheTTL     Duration `yaml:"cache_ttl"`
	Authenticate bool     `yaml:"authenticate"`
	Authorize    bool     `yaml:"authorize"`
	Order        string   `yaml:"order"` // first | last
}

// MQTT holds the protocol limits and features the broker announces and enforces.
type MQTT struct {
	MaxPacketSize                 ByteSize           `yaml:"max_packet_size"`
	MaxTopicLevels                int                `yaml:"max_topic_levels"`
	MaxInflight                   int                `yaml:"max_inflight"`
	ReceiveMaximum                int                `yaml:"receive_maximum"`
	MaxMqueueLen                  int                `yaml:"max_mqueue_len"`
	MqueueStoreQoS0               bool               `yaml:"mqueue_store_qos0"`
	MqueueDropPolicy              string             `yaml:"mqueue_drop_policy"` // drop_oldest | drop_newest
	SessionExpiryInterval         Duration           `yaml:"session_expiry_interval"`
	MaxSessionExpiry              Duration           `yaml:"max_session_expiry"`
	ServerKeepAlive               Duration           `yaml:"server_keep_alive"`
	TopicAliasMaximum             int                `yaml:"topic_alias_maximum"`
	MaxAwaitingRel                int                `yaml:"max_awaiting_rel"`
	AwaitRelTimeout               Duration           `yaml:"await_rel_timeout"`
	MaxSubscriptions              int                `yaml:"max_subscriptions"`
	RetainAvailable               bool               `yaml:"retain_available"`
	WildcardSubscriptionAvailable bool               `yaml:"wildcard_subscription_available"`
	SharedSubscriptionAvailable   bool               `yaml:"shared_subscription_available"`
	SharedSubscriptionStrategy    string             `yaml:"shared_subscription_strategy"`
	IdleTimeout                   Duration           `yaml:"idle_timeout"`
	AutoSubscriptions             []AutoSubscription `yaml:"auto_subscriptions"`
	CheckPayloadFormat            bool               `yaml:"check_payload_format"`
	FlowHighWatermark             int                `yaml:"flow_high_watermark"`
}

// AutoSubscription is a subscription the broker adds to every connecting client. %c in Filter stands
// for the client id and %u for the username.
type AutoSubscription struct {
	Filter string `yaml:"filter"`
	QoS    int    `yaml:"qos"`
}

// Limits protect the node from overload. Zero turns a limit off.
type Limits struct {
	MaxConnections      int      `yaml:"max_connections"`
	ConnectionRate      int      `yaml:"connection_rate"`      // new connections per second, per listener
	ClientMessagesRate  int      `yaml:"client_messages_rate"` // PUBLISH packets per second, per client
	ClientBytesRate     ByteSize `yaml:"client_bytes_rate"`    // inbound bytes per second, per client
	MemoryHighWatermark ByteSize `yaml:"memory_high_watermark"`
}

// Sys configures the $SYS topics.
type Sys struct {
	Interval Duration `yaml:"interval"`
}

// API configures the HTTP endpoint for REST and Prometheus /metrics.
type API struct {
	Bind string `yaml:"bind"`
	// Token is a bearer token accepted besides the API keys; empty for none.
	Token string `yaml:"token"`
	// MetricsAuth requires a credential on /metrics too.
	MetricsAuth bool `yaml:"metrics_auth"`
	// LocalToken writes a fresh token to <data_dir>/api.token at each start, for `mqttds ctl`
	// on this host.
	LocalToken bool `yaml:"local_token"`
}

// DurableSessions configures sessions whose state lives in durable storage.
type DurableSessions struct {
	Enable                 bool             `yaml:"enable"`
	BatchSize              int              `yaml:"batch_size"`
	IdlePollInterval       Duration         `yaml:"idle_poll_interval"`
	HeartbeatInterval      Duration         `yaml:"heartbeat_interval"`
	RenewStreamsInterval   Duration         `yaml:"renew_streams_interval"`
	SessionGCInterval      Duration         `yaml:"session_gc_interval"`
	MessageRetentionPeriod Duration         `yaml:"message_retention_period"`
	RetentionClasses       []RetentionClass `yaml:"retention_classes"`
	// SharedRedispatchTimeout is how long a member of a durable shared group may hold a QoS 1
	// message unacknowledged before it goes to another member.
	SharedRedispatchTimeout Duration `yaml:"shared_redispatch_timeout"`
}

// RetentionClass keeps the messages whose topics match Filter for Period instead of the default
// message_retention_period. The first matching class wins.
type RetentionClass struct {
	Filter string   `yaml:"filter"`
	Period Duration `yaml:"period"`
}

// DurableStorage configures the ds databases.
type DurableStorage struct {
	Messages MessagesDB `yaml:"messages"`
}

// MessagesDB configures the database that stores published messages.
type MessagesDB struct {
	NShards           int    `yaml:"n_shards"`
	NSites            int    `yaml:"n_sites"`
	ReplicationFactor int    `yaml:"replication_factor"`
	DataDir           string `yaml:"data_dir"`
	// Cluster is where the sites of a replicated store meet (n_sites > 1).
	Cluster          Cluster          `yaml:"cluster"`
	LocalWriteBuffer LocalWriteBuffer `yaml:"local_write_buffer"`
	Layout           Layout           `yaml:"layout"`
}

// Cluster configures the site-to-site links of a replicated store.
type Cluster struct {
	Bind string `yaml:"bind"`
	// Discovery is how a site finds the others at its first start: "static" (Seeds) or "dns"
	// (DNS's A or SRV records).
	Discovery string     `yaml:"discovery"`
	Seeds     []string   `yaml:"seeds"`
	DNS       ClusterDNS `yaml:"dns"`
	// CertFile, KeyFile and CAFile, all three or none, make every site-to-site link mutual
	// TLS: the site's certificate (for both accepting and dialing) and the cluster's CA.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

// ClusterDNS names the DNS records that list the sites (Cluster.Discovery "dns").
type ClusterDNS struct {
	Name string `yaml:"name"`
	// RecordType "a": the name's A and AAAA records, each address with cluster.bind's port;
	// "srv": the name's SRV records, each a host and port.
	RecordType string `yaml:"record_type"`
}

// LocalWriteBuffer bounds a shard's group-commit batch.
type LocalWriteBuffer struct {
	MaxItems      int      `yaml:"max_items"`
	MaxBytes      ByteSize `yaml:"max_bytes"`
	FlushInterval Duration `yaml:"flush_interval"`
}

// Layout selects and tunes the storage layout of new generations.
type Layout struct {
	Type              string `yaml:"type"` // wildcard_optimized | reference
	EpochBits         int    `yaml:"epoch_bits"`
	BitsPerTopicLevel int    `yaml:"bits_per_topic_level"`
	TopicIndexBytes   int    `yaml:"topic_index_bytes"`
}

// Default returns the configuration the broker runs with when no file and no environment override
// says otherwise. Each call returns a fresh value that the caller may modify.
func Default() *Config {
	return &Config{
		DataDir: "./data",
		Log:     Log{Level: "info", Format: "text"},
		Listeners: Listeners{
			TCP: TCPListener{Enabled: true, Bind: "127.0.0.1:1883"},
			TLS: TLSListener{Bind: "127.0.0.1:8883"},
			WS:  WSListener{Bind: "127.0.0.1:8083", Path: "/mqtt"},
			WSS: WSSListener{Bind: "127.0.0.1:8084", Path: "/mqtt"},
		},
		Auth: Auth{
			AllowAnonymous: true,
			ACLNoMatch:     "allow",
			FailureDelay:   Duration(time.Second),
			HTTP: HTTPAuth{Timeout: Duration(5 * time.Second), CacheTTL: Duration(time.Minute), Authenticate: true,
				Authorize: true, Order: "first"},
		},
		MQTT: MQTT{
			MaxPacketSize:                 1 << 20,
			MaxTopicLevels:                128,
			MaxInflight:                   32,
			ReceiveMaximum:                32,
			MaxMqueueLen:                  1000,
			MqueueStoreQoS0:               true,
			MqueueDropPolicy:              "drop_oldest",
			SessionExpiryInterval:         Duration(2 * time.Hour),
			TopicAliasMaximum:             65535,
			MaxAwaitingRel:                100,
			AwaitRelTimeout:               Duration(300 * time.Second),
			RetainAvailable:               true,
			WildcardSubscriptionAvailable: true,
			SharedSubscriptionAvailable:   true,
			SharedSubscriptionStrategy:    "round_robin",
			IdleTimeout:                   Duration(15 * time.Second),
			CheckPayloadFormat:            true,
		},
		Sys: Sys{Interval: Duration(60 * time.Second)},
		API: API{Bind: "127.0.0.1:18083", LocalToken: true},
		DurableSessions: DurableSessions{
			Enable:                  true,
			BatchSize:               100,
			IdlePollInterval:        Duration(time.Second),
			HeartbeatInterval:       Duration(5 * time.Second),
			RenewStreamsInterval:    Duration(10 * time.Millisecond),
			SessionGCInterval:       Duration(10 * time.Minute),
			MessageRetentionPeriod:  Duration(24 * time.Hour),
			SharedRedispatchTimeout: Duration(30 * time.Second),
		},
		DurableStorage: DurableStorage{Messages: MessagesDB{
			NShards:           16,
			NSites:            1,
			ReplicationFactor: 1,
			Cluster:           Cluster{Discovery: "static", DNS: ClusterDNS{RecordType: "a"}},
			LocalWriteBuffer: LocalWriteBuffer{
				MaxItems:      1000,
				MaxBytes:      1 << 20,
				FlushInterval: Duration(10 * time.Millisecond),
			},
			Layout: Layout{
				Type:              "wildcard_optimized",
				EpochBits:         20,
				BitsPerTopicLevel: 64,
				TopicIndexBytes:   4,
			},
		}},
	}
}
