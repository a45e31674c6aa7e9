package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// docs holds the comment printed above each key by WriteAnnotated. Every option has one
// (TestDocsCoverEveryOption), so `mqttds config defaults` is the reference for the file format.
var docs = map[string]string{
	"data_dir": "Directory for the durable storage (messages, sessions, retained messages). Created if missing.",

	"log":        "Logging.",
	"log.level":  "Least severe level logged: debug | info | warn | error.",
	"log.format": "text (human readable, key=value) | json (one object per line).",

	"listeners":                        "Network listeners. A listener bound to a non-loopback address needs an authentication choice, see auth.",
	"listeners.tcp":                    "MQTT over plain TCP.",
	"listeners.tcp.enabled":            "Run this listener.",
	"listeners.tcp.bind":               "host:port to listen on. An empty host or 0.0.0.0 listens on every interface.",
	"listeners.tls":                    "MQTT over TLS.",
	"listeners.tls.enabled":            "Run this listener; needs cert_file and key_file.",
	"listeners.tls.bind":               "host:port to listen on.",
	"listeners.tls.cert_file":          "PEM server certificate chain.",
	"listeners.tls.key_file":           "PEM private key of cert_file.",
	"listeners.tls.ca_file":            "PEM CAs that client certificates must chain to; required by verify_client.",
	"listeners.tls.verify_client":      "Require and verify a client certificate.",
	"listeners.tls.use_cn_as_username": "Use the verified certificate's common name as the username (needs verify_client).",
	"listeners.ws":                     "MQTT over WebSocket.",
	"listeners.ws.enabled":             "Run this listener.",
	"listeners.ws.bind":                "host:port to listen on.",
	"listeners.ws.path":                "HTTP path that accepts the WebSocket upgrade.",
	"listeners.wss":                    "MQTT over WebSocket over TLS.",
	"listeners.wss.enabled":            "Run this listener; needs cert_file and key_file.",
	"listeners.wss.bind":               "host:port to listen on.",
	"listeners.wss.path":               "HTTP path that accepts the WebSocket upgrade.",
	"listeners.wss.cert_file":          "PEM server certificate chain.",
	"listeners.wss.key_file":           "PEM private key of cert_file.",
	"listeners.wss.ca_file":            "PEM CAs that client certificates must chain to; required by verify_client.",
	"listeners.wss.verify_client":      "Require and verify a client certificate.",
	"listeners.wss.use_cn_as_username": "Use the verified certificate's common name as the username (needs verify_client).",

	"auth":                 "Authentication and authorization.",
	"auth.allow_anonymous": "Accept clients that send no username.",
	"auth.allow_anonymous_on_public_listeners": "Confirm that anonymous clients may connect through a non-loopback listener.\nWithout it, allow_anonymous with no password_file and a public listener is a startup error.",
	"auth.password_file":                       "File of user:hash lines (bcrypt or argon2id), managed with `mqttds passwd`. Empty: no passwords.",
	"auth.acl_file":                            "Access control rules, one per line (see `mqttds help` and DESIGN.md). Empty: every action passes\nto acl_nomatch.",
	"auth.acl_nomatch":                         "Decision when no ACL rule matches: allow | deny.",
	"auth.client_id_allowlist":                 "If not empty, only these client ids may connect. Example: [pump-1, pump-2]",
	"auth.failure_delay":                       "Wait this long before answering a failed authentication, to slow down password guessing.",
	"auth.http":                                "An HTTP service that decides CONNECT, PUBLISH and SUBSCRIBE: POST of JSON {action, client_id,\nusername, password (connect), peer, topic}; it answers 200 {\"result\": \"allow\" | \"deny\" | \"ignore\"} (204: allow).\nIgnore, a failure or a time-out leaves the decision to the next link.",
	"auth.http.url":                            "http:// or https:// URL of the service; empty: no HTTP backend.",
	"auth.http.timeout":                        "Longest wait for one answer; past it the backend decides nothing.",
	"auth.http.cache_ttl":                      "How long an allow or deny is reused for the same request (password compared by hash); 0 = no cache.",
	"auth.http.authenticate":                   "Ask the service at CONNECT.",
	"auth.http.authorize":                      "Ask the service for PUBLISH and SUBSCRIBE.",
	"auth.http.order":                          "first: asked before the password and ACL files; last: after them (before the anonymous rule\nand acl_nomatch).",

	"mqtt":                                 "MQTT protocol limits and features.",
	"mqtt.max_packet_size":                 "Largest packet accepted or sent, in bytes (\"1MiB\", \"65536\").",
	"mqtt.max_topic_levels":                "Most levels a topic name or filter may have.",
	"mqtt.max_inflight":                    "Most unacknowledged QoS 1/2 messages sent to one client (also capped by the client's Receive Maximum).",
	"mqtt.receive_maximum":                 "Most unacknowledged QoS 1/2 messages a client may send us (announced in CONNACK).",
	"mqtt.max_mqueue_len":                  "Most messages queued for an in-memory session whose in-flight window is full; 0 = unlimited.",
	"mqtt.mqueue_store_qos0":               "Queue QoS 0 messages for offline in-memory sessions too.",
	"mqtt.mqueue_drop_policy":              "Which message goes when the queue is full: drop_oldest | drop_newest.",
	"mqtt.session_expiry_interval":         "Session expiry given to MQTT 3.1.1 clients that connect with clean session false.",
	"mqtt.max_session_expiry":              "Cap on the session expiry any client may ask for; 0 = no cap.",
	"mqtt.server_keep_alive":               "Keep alive the server imposes (MQTT 5 Server Keep Alive); 0 = use the client's.",
	"mqtt.topic_alias_maximum":             "Most topic aliases a client may use towards us; 0 disables aliases.",
	"mqtt.max_awaiting_rel":                "Most QoS 2 messages a client may leave waiting for PUBREL.",
	"mqtt.await_rel_timeout":               "How long a QoS 2 message waits for PUBREL before it is dropped.",
	"mqtt.max_subscriptions":               "Most subscriptions per client; 0 = unlimited.",
	"mqtt.retain_available":                "Support retained messages.",
	"mqtt.wildcard_subscription_available": "Support wildcard (+, #) subscriptions.",
	"mqtt.shared_subscription_available":   "Support $share/group/filter subscriptions.",
	"mqtt.shared_subscription_strategy":    "How a shared subscription picks a member: round_robin | random | sticky | hash_clientid.",
	"mqtt.idle_timeout":                    "Close a connection that has not sent CONNECT within this time.",
	"mqtt.auto_subscriptions":              "Subscriptions added to every client at connect; %c is the client id, %u the username.\nExample: [{filter: \"cmd/%c/#\", qos: 1}]",
	"mqtt.check_payload_format":            "Refuse an MQTT 5 PUBLISH or Will whose Payload Format Indicator says UTF-8 when the payload\nis not: PUBACK/PUBREC 0x99 at QoS 1/2, DISCONNECT 0x99 at QoS 0, CONNACK 0x99 for a Will.",
	"mqtt.flow_high_watermark":             "Back-pressure: messages waiting for one online subscriber above which the publishers sending\nto it are paused until half of them went out (at most 1 s per pause). Capped at 512 (half the\noutbound queue). 0 = default (256), -1 = off.",

	"limits":                       "Overload protection. 0 turns a limit off.",
	"limits.max_connections":       "Most concurrent client connections on this node.",
	"limits.connection_rate":       "New connections accepted per second, per listener.",
	"limits.client_messages_rate":  "PUBLISH packets accepted per second from one client.",
	"limits.client_bytes_rate":     "Inbound bytes accepted per second from one client (\"1MiB\").",
	"limits.memory_high_watermark": "Refuse new connections while the Go heap is above this size (\"2GiB\").",

	"sys":          "$SYS topics.",
	"sys.interval": "How often $SYS statistics are published; 0 = never.",

	"webhooks": "HTTP webhooks: each POSTs JSON arrays of the events it names to its url, in batches (batch_size,\ndefault 100) from a bounded queue (queue_size, default 10000; a full queue drops and counts), retried\nmax_retries times (default 3) with back-off; topic keeps only message.* events on matching topics.\nEvents: client.connected, client.disconnected, client.subscribe, client.unsubscribe, session.created,\nsession.resumed, session.subscribed, session.unsubscribed, session.terminated, message.publish,\nmessage.delivered, message.acked, message.dropped.\nExample: [{url: \"http://127.0.0.1:9000/mqtt\", events: [client.connected, client.disconnected]}]",

	"api":              "HTTP API.",
	"api.bind":         "host:port of the REST API and Prometheus /metrics; empty disables it. Every route but\n/healthz, /readyz, /metrics and /api/v1/openapi.json needs an API key or a token. A non-loopback\naddress needs an API key (`mqttds ctl api-key create`) or api.token, or the broker does not start.",
	"api.token":        "Bearer token accepted besides the API keys (at least 16 characters); empty for none. Prefer\nthe environment (MQTTDS_API_TOKEN) to the file.",
	"api.metrics_auth": "Require an API key or token on /metrics too.",
	"api.local_token":  "Write a fresh random token to <data_dir>/api.token (mode 0600) at each start, removed at stop,\nwhich `mqttds ctl` on this host reads: file permissions decide who may manage the broker.",

	"durable_sessions":                          "Sessions whose state and messages survive restarts (session expiry > 0).",
	"durable_sessions.enable":                   "Keep sessions with an expiry interval in durable storage.",
	"durable_sessions.batch_size":               "Most messages read from storage for one session in one step.",
	"durable_sessions.idle_poll_interval":       "How often an idle session checks storage when no new-data notification arrived (a fallback).",
	"durable_sessions.heartbeat_interval":       "How often a node refreshes the liveness of the sessions it hosts.",
	"durable_sessions.renew_streams_interval":   "Least time between two looks of a session for new streams (new topics, generations) while its shards commit; no commits, no looks.",
	"durable_sessions.session_gc_interval":      "How often expired sessions are deleted.",
	"durable_sessions.message_retention_period": "How long stored messages are kept, unless a retention class says otherwise.",
	"durable_sessions.retention_classes":        "Per-topic retention: a message whose topic matches a class's filter is kept for its period instead of message_retention_period; the first matching class wins. Storage never hands a durable session a message older than its period (one already in flight is still delivered); storage is freed with whole generations after the longest period, and sooner for streams whose topics all have shorter periods.\nExample: [{filter: \"telemetry/#\", period: 1h}, {filter: \"audit/#\", period: 720h}]",

	"durable_sessions.shared_redispatch_timeout": "How long a member of a durable shared subscription may hold a QoS 1 message unacknowledged before it goes to another member.",

	"durable_storage":                                            "Storage engine.",
	"durable_storage.messages":                                   "The database of published messages.",
	"durable_storage.messages.n_shards":                          "Number of shards; a publisher's messages all go to one shard, keeping their order. Fixed at creation.",
	"durable_storage.messages.n_sites":                           "Number of sites (broker nodes) of the cluster; 1 runs alone. With more, every shard is a raft group replicated on replication_factor sites, and the sites wait for each other at first start to place the shards.",
	"durable_storage.messages.replication_factor":                "Sites that hold each shard (1 to n_sites); a shard stays writable while a majority of them is up. A site reads the shards it holds from its own replicas and the others at their leader.",
	"durable_storage.messages.data_dir":                          "Directory of the store; empty: <data_dir>/ds.",
	"durable_storage.messages.cluster":                           "Site-to-site links (raft and forwarded writes), used when n_sites > 1.",
	"durable_storage.messages.cluster.bind":                      "host:port this site listens on for the other sites.",
	"durable_storage.messages.cluster.seeds":                     "cluster.bind addresses of the other sites (at least n_sites - 1), asked for their site ids at first start (discovery static).",
	"durable_storage.messages.cluster.discovery":                 "How a site finds the others at its first start: static (cluster.seeds) or dns (the records cluster.dns names, looked up again until n_sites answered).",
	"durable_storage.messages.cluster.dns.name":                  "DNS name whose records list the sites (discovery dns), e.g. a headless service's name.",
	"durable_storage.messages.cluster.dns.record_type":           "a: the name's A/AAAA records, each with cluster.bind's port; srv: its SRV records, each a host and port.",
	"durable_storage.messages.cluster.cert_file":                 "PEM certificate of this site for mutual TLS between sites (with key_file and ca_file; all three or none). It must allow server and client authentication and name the host in the other sites' seeds.",
	"durable_storage.messages.cluster.key_file":                  "PEM private key of cluster.cert_file.",
	"durable_storage.messages.cluster.ca_file":                   "PEM CA that signs every site's certificate; a peer whose certificate does not chain to it is refused.",
	"durable_storage.messages.local_write_buffer":                "Group commit: one fsync per batch.",
	"durable_storage.messages.local_write_buffer.max_items":      "Most messages in one batch.",
	"durable_storage.messages.local_write_buffer.max_bytes":      "Most payload bytes in one batch.",
	"durable_storage.messages.local_write_buffer.flush_interval": "Longest a message waits in a batch while an earlier batch commits.",
	"durable_storage.messages.layout":                            "Key layout of new generations.",
	"durable_storage.messages.layout.type":                       "wildcard_optimized (learned topic structure, fast wildcard reads) | reference (time order, full scans).",
	"durable_storage.messages.layout.epoch_bits":                 "Low timestamp bits (microseconds) below the topic hashes: 20 bits groups about one second.",
	"durable_storage.messages.layout.bits_per_topic_level":       "Bits of each varying topic level's hash stored in the key (1-64).",
	"durable_storage.messages.layout.topic_index_bytes":          "Bytes of the learned-structure index at the start of each key (1-8).",
}

const annotatedHeader = `# mqttds configuration: every option with its value and what it does.
# Any option can be overridden by an environment variable: listeners.tcp.bind is MQTTDS_LISTENERS_TCP_BIND.
# Durations are Go durations (10ms, 15s, 2h); sizes are bytes or take a unit (64KiB, 1MiB, 1GB).

`

// WriteAnnotated writes c as YAML with a comment above every key. Its output parses back to c.
func WriteAnnotated(w io.Writer, c *Config) error {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	annotate(&root, "")
	var buf bytes.Buffer
	buf.WriteString(annotatedHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	_, err := w.Write(spaceSections(buf.Bytes()))
	return err
}

// annotate sets the doc comment of every mapping key under n, whose dotted key is prefix.
func annotate(n *yaml.Node, prefix string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := joinKey(prefix, n.Content[i].Value)
		n.Content[i].HeadComment = docs[key]
		annotate(n.Content[i+1], key)
	}
}

// spaceSections puts a blank line before each top-level key's comment, which yaml.v3 cannot emit.
func spaceSections(out []byte) []byte {
	lines := strings.SplitAfter(string(out), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i > 0 && strings.HasPrefix(l, "# ") && !strings.HasPrefix(lines[i-1], "#") && lines[i-1] != "\n" {
			b.WriteString("\n")
		}
		b.WriteString(l)
	}
	return []byte(b.String())
}
