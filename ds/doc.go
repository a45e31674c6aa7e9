// Package ds is the durable storage of mqttds: a store of MQTT messages and small key-value
// tables on one pebble instance, usable on its own by any Go program.
//
// # Model
//
// A store (DB, one directory) holds the "messages" database and named KV tables, split into
// NumShards shards (fixed at creation). A message goes to the shard of its publisher
// (ShardOf: xxh3 of the client id), so one publisher's messages keep their order. Each shard
// is cut in time into generations; each generation stores its messages through its own
// layout (package layout), which groups topics into streams. Dropping a generation is one
// range delete; retention rotates and drops generations on its own (RetentionOptions).
//
// # Writing
//
// Store hands messages to their shards' write buffers and returns once they are durable
// (fsynced), or with the error of the flush that carried them. A flush is one pebble batch:
//
//  1. prepare (the shard's flusher goroutine): assign timestamps, µs, strictly increasing per
//     shard (max(previous+1, now)), never going back across restarts because the shard clock
//     is written in the same batch; let the layout encode keys and learned structure into a
//     layout.CookedBatch; add KV writes;
//  2. apply (an Applier): commit the batch atomically and durably. The local applier uses
//     pebble directly; the replicated one (package replication) goes through raft. Apply is
//     deterministic: the cooked batch is plain writes.
//
// Replicas (replica.go, forward.go): on a replica that does not lead a shard, the Applier
// refuses batches, the leader's batches arrive through ApplyReplicated, and with a Forwarder
// the shard's writes go to the leader as they are before preparing (StoreForwarded). Reads
// are the local replica's, which may lag the leader; DB.Barrier waits until it has every
// write acknowledged before the call (a Forwarder that is a ReadBarrier does the work).
//
// Group commit: a flush starts at once while fewer than four flushes of the shard are
// committing, so a lone message waits for one fsync, not a timer, and a new batch joins the
// next WAL sync instead of waiting for a commit to return; beyond that the next batch fills,
// and it starts when it is full (Buffer.MaxItems/MaxBytes), when a commit ahead of it finishes,
// or, when Buffer.MaxInFlight is above four, once its oldest write has waited
// Buffer.FlushInterval. Pebble shares each WAL sync between every batch appended before it,
// across shards.
//
// A failed commit returns its error to every writer of the flush. Pebble cannot continue after
// a failed WAL write, so the next flush reopens pebble and reloads the shards from what is
// durable; while the disk still fails, writes return the error, and once it works they
// succeed again, without reopening the DB.
//
// A Batch groups messages and KV writes of one shard into one atomic flush, e.g. a session's
// state change with the messages it publishes.
//
// # Reading
//
// GetStreams(filter, since) returns the streams that may hold matching messages, ranked by
// (shard, generation). MakeIterator makes an iterator (a plain, serializable value) and Next
// returns up to n messages and the advanced iterator: deterministic, never a message twice,
// never a timestamp whose commit has not returned (reads are bounded by the shard's committed
// high-water mark). ErrEndOfStream is returned only for a closed generation that has been
// read to its end; within a shard, a consumer finishes generation N before N+1. Watch gives a
// channel that signals new commits of a shard, so consumers need not poll.
//
// # Ownership and concurrency
//
// Every exported method of DB, Table and Watcher is safe for concurrent use; Batch and
// Iterator values are not shared mutable state (Next returns a new Iterator). Methods do not
// retain the slices they are given; slices they return belong to the caller. Layout-specific
// caveats are on the methods.
//
// # Files
//
// A store directory holds the MQTTDS format marker (see marker.go), the MQTTDS.LOCK lock file,
// and pebble's files. Every file goes through Options.FS (pebble's vfs), which is how the tests
// simulate crashes (vfs.NewCrashableMem) and I/O errors (errorfs).
//
// Example:
//
//	db, err := ds.Open("data", nil)
//	...
//	err = db.Store(ctx, []ds.Message{{ClientID: "c1", Topic: "t/1", Payload: p}}, ds.Sync)
//	streams, err := db.GetStreams("t/+", 0)
//	it, err := db.MakeIterator(streams[0].Stream, "t/+", 0)
//	msgs, it, err := db.Next(ctx, it, 100)
package ds
