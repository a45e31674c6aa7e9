// Package listeners holds the network transports of the broker: TCP, TLS,
// WebSocket (ws and wss) and an in-process Mock for tests.
//
// Every transport implements the six-method Listener interface. A listener
// binds in Init, runs an accept loop in Serve and hands each accepted
// connection, as a plain net.Conn, to the broker's EstablishFunc in its own
// goroutine. It knows nothing about MQTT: the broker reads packets from the
// net.Conn whatever the transport. Transport-level checks happen before the
// hand-off: the TLS handshake (with its own timeout) and the WebSocket
// upgrade with the "mqtt" subprotocol.
//
// It is not the place for rate limits or connection counts; the broker
// applies those per listener in its EstablishFunc so that every transport
// gets them alike.
//
// Concurrency: Init, Serve and Close are called by the broker, Init before
// Serve; Close may be called from any goroutine and makes Serve return.
//
//	l := listeners.NewTCP("tcp", "127.0.0.1:1883")
//	if err := l.Init(log); err != nil { ... }
//	go l.Serve(func(id string, c net.Conn) { handle(c) })
//	defer l.Close()
package listeners
