// Package server is the mqttds broker: it accepts MQTT 3.1, 3.1.1 and 5.0
// connections on its listeners, keeps a session per client id, routes each
// PUBLISH to the sessions whose subscriptions match, and runs the QoS 1 and
// 2 exchanges, retained messages, Wills, topic aliases and flow control.
//
// It is thin on purpose. The codec is package mqtt, topic rules mqtt/topic,
// the subscription index server/subscriptions, authentication and ACLs
// server/auth, configuration server/config, and transports
// server/listeners. This package connects them. Durable storage enters
// through two seams: the Session interface, implemented by memSession (its
// state in RAM) and durableSession (its state in storage, read by a delivery
// loop; the durable_*.go files with server/durable), and RetainedStore
// (MemRetained, or DSRetained in a ds KV table).
//
// # Reading the source
//
// The data path reads top-down, one concept per file:
//
//	server.go   Server: New, AddListener, AddHook, Start, Close; the session map, take-over, expiry
//	conn.go     one connection: reader (framing, pooled buffers) and the on-demand writer
//	connect.go  CONNECT: client id, limits, authentication, negotiation, CONNACK
//	loop.go     the packet loop and its dispatch; DISCONNECT
//	qos.go      inbound PUBLISH (aliases, QoS 2 de-duplication, ACL, route, then ack)
//	session.go  Session, the connection side both kinds share, and memSession
//	durable_session.go durableSession: state in storage, the delivery loop; durable_server.go
//	            opening storage, loading sessions; durable_publish.go the stored publish path;
//	            durable_timers.go compact sessions' deadlines and evictions; durable_shared.go
//	            durable shared groups
//	router.go   a PUBLISH's routes (matched once), delivery, shared-group picking, redispatch
//	peers.go    Peers, the link to the other brokers of a cluster (server/peering): routes out,
//	            forwarded PUBLISHes in and out
//	subscribe.go SUBSCRIBE/UNSUBSCRIBE, retained delivery, auto subscriptions
//	retained.go RetainedStore and the in-memory store; retained_ds.go the ds one
//	will.go     the end of a connection: goodbye, Will, session end
//	hooks.go    the event Hook interface and Base
//	metrics.go  counters and the Metrics snapshot; sys.go $SYS; api.go REST and /metrics
//	dashboard/  the web dashboard: static files served by APIHandler, a client of the REST API
//	limits.go   connection rate, client rates, memory watermark and its alarm
//
// # Concurrency
//
// Each connection has one reader goroutine, which runs the protocol,
// including routing its own PUBLISHes, and at most one writer goroutine,
// which exists while the connection's bounded outbound queue is non-empty.
// Routing never blocks on the network: a session takes a delivery under its
// own mutex and either queues it or hands it to its connection's queue. Lock
// order: a client id's claim (held by a CONNECT from finding its session to
// attaching to it, so the CONNECTs of one id take over one after the other),
// then Server.connectMu, then Server.mu, then a session's mu, then a
// connection's out mutex; no code holds two sessions' locks at once.
//
// A PUBACK or PUBREC is sent only after the message was handed to every
// matching session [MQTT-4.5.0-1] v5.
//
// # Usage
//
//	s, err := server.New(&server.Options{Logger: log})
//	_ = s.AddListener(listeners.NewTCP("tcp", "127.0.0.1:1883"))
//	if err := s.Start(); err != nil { ... }
//	defer s.Close(ctx) // v5 clients get DISCONNECT 0x8B
package server
