// Package mqttbench is the load generator behind `mqttds bench`: it connects many MQTT clients to a
// broker, publishes and receives at a chosen rate, and measures what users judge a broker by —
// connection rate and memory, message throughput, end-to-end latency percentiles, and, exactly,
// lost, duplicated and reordered messages. In the spirit of emqtt-bench and `mqttx bench`.
//
// It is not a correctness test suite for brokers and not a general client library (see
// mqtt/client, which it drives).
//
// # Modes
//
//   - conn: open connections at a rate and hold them; with RSSPid, the broker's memory per
//     connection.
//   - sub: subscribers only; publishers run elsewhere (another bench process).
//   - pub: publishers, and optionally subscribers in the same process, which makes the loss count
//     exact: the receivers know how many messages each publisher sent or got acknowledged.
//   - durable: an offline persistent session, messages published to it, an optional broker
//     restart, and a count of the acknowledged messages that reach the session afterwards.
//
// # Accounting
//
// Every payload starts with a Header (run id, publisher, sequence number, send time; see the
// diagram on Header). Each receiver keeps one SeqTracker per publisher, a set of sequence-number
// runs that classifies every arrival as in order, reordered or duplicate in O(1) for in-order
// traffic. Latency is receive time minus send time (publisher and receiver share a clock on one
// host), kept in HDR histograms: one for the current second, one for the run.
//
// # Bounds
//
// A run always ends by itself: Duration is required and capped, message counts are bounded by
// Limit or Duration, and a drain period caps the wait for stragglers. Targets must be loopback
// addresses unless AllowRemote is set.
//
// # Concurrency
//
// Run is safe to call from one goroutine at a time per Config. Internally each client's callbacks
// run on that client's reader goroutine; shared counters are atomics and the histograms have a
// mutex each.
package mqttbench
