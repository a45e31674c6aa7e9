// Package client is a small, fast MQTT 3.1.1 and 5 client on the mqtt codec, built for load
// generation and tests: connect, publish at QoS 0, 1 and 2 with a bounded in-flight window,
// subscribe, receive with automatic acknowledgement, keep-alive pings, and a clean disconnect, over
// TCP, TLS or WebSocket.
//
// It is not a general-purpose application client: it never reconnects by itself, never resends
// after a reconnect (a new Client starts with an empty in-flight table), keeps no message store, and
// does not use topic aliases or enhanced authentication.
//
// # Usage
//
//	c, err := client.Dial(ctx, &client.Options{Addr: "127.0.0.1:1883", ClientID: "probe",
//		OnMessage: func(m *client.Message) { fmt.Println(m.Topic, len(m.Payload)) }})
//	...
//	codes, err := c.Subscribe(ctx, mqtt.Subscription{Filter: "a/#", QoS: mqtt.QoS1})
//	err = c.Publish(ctx, "a/b", payload, mqtt.QoS1, false, func(err error) { /* acknowledged */ })
//	err = c.Disconnect()
//
// # Concurrency
//
// Publish, Subscribe and Unsubscribe are safe from several goroutines. Three goroutines run per
// client: a reader, which decodes packets, acknowledges inbound messages and calls OnMessage and the
// publish callbacks; a writer, which sends whatever the other goroutines queued in one write (so a
// burst of small packets costs one system call); and a pinger. OnMessage and the publish callbacks
// must not block for long, because the reader waits for them; they must not call Disconnect or Close.
// After Disconnect or Close returns, no callback runs any more.
//
// # Memory
//
// A received Message aliases the reader's buffer: its Topic and Payload are valid only during the
// OnMessage call (copy what you keep). Publish copies the payload into the write queue before it
// returns, so the caller may reuse its buffer at once. The write queue is bounded (Options
// WriteBuffer); Publish blocks while it is full, which is how a QoS 0 publisher feels a slow broker.
package client
