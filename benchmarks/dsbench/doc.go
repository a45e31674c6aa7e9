// Package dsbench profiles the storage layouts: it writes a synthetic fleet workload into a
// fresh ds store and replays topic filters through ds's public API (GetStreams, MakeIterator,
// Next), reading the layouts' seek, next and collision counters from ds.Metrics. It is the
// library behind `mqttds dsbench`.
//
// It is not a broker benchmark (see package bench) and not a correctness test, though it
// checks one thing exactly: a complete replay returns as many messages as were written to
// the topics its filter matches (ErrMismatch otherwise).
//
// # Workload
//
// A Template such as site/{0..99}/dev/{0..999}/temp names the topics; every topic is one
// publisher (its client id is the topic, which picks its shard). The writer sends
// MessagesPerTopic rounds, each a fresh shuffle of all topics, in Store calls of Batch
// messages. The store's clock is simulated at Rate messages per second, so how many messages
// share an epoch of 2^epoch_bits µs is the same on every machine; only the measured
// throughputs depend on the machine.
//
// # Replay
//
// By default the written generation is closed before the replay (AddGeneration), so every
// epoch is complete and wildcard streams are read in key order, jumping over the keys the
// filter excludes: the replay of history a reconnecting durable session does. Live replays
// the current generation instead, where the open epoch is read in time order. For each
// filter, every stream of the written generation is read with Next until it ends; keys read
// = seeks + nexts (each lands on at most one key).
//
// # Bounds
//
// Config.MaxMessages refuses large workloads before anything is written; the caller's
// context (the command's --max-duration) stops a run in any phase, and what was measured is
// reported as truncated.
//
// # Go benchmarks
//
// Write returns the written Store, which Replay reads as often as needed: BenchmarkReplay
// replays a fleet per layout and reports keys/msg and seeks/op next to the time, for
// benchstat comparisons of layout changes.
//
// # Concurrency
//
// Run, Execute and Write may be called from several goroutines with different Configs; each
// has its own store and one writer. The Replay calls of one Store must not overlap.
//
// Example:
//
//	res, err := dsbench.Run(ctx, dsbench.Config{Topics: "a/{0..9}/b", Filters: []string{"a/+/b"}})
//	fmt.Println(res.Filters[0].Returned, res.Filters[0].KeysPerMsg)
package dsbench
