// Package durable is the storage side of mqttds durable sessions: a session's state (its
// subscriptions, stream positions, packet ids in flight, inbound QoS 2 state, Will, expiry and
// last-alive time) kept in a ds KV table, and the messages it receives read from the ds message
// streams, never copied per session. It has no network code: package server adapts a Session
// to its connections.
//
// # Writing a message
//
// Store.Persist writes a published message to the messages database once, whatever the number
// of durable subscribers, and only if the RouteIndex (the filters of every durable
// subscription, rebuilt from the session records at Open) matches its topic. It returns once
// the message is durable, so the publisher's PUBACK/PUBREC follows the fsync. A durable
// publisher's inbound QoS 2 packet id is written in the same atomic batch as its message, so a
// PUBLISH re-sent after a crash is answered without being stored again.
//
// # Delivering
//
// Session.Fetch reads the session's streams (ds.GetStreams per filter, one cursor per stream)
// in batches of Options.BatchSize, gives each QoS 1/2 message a packet id, and returns once the
// packet ids and the advanced cursors are durable; Session.FetchWindow returns at once with
// the commit to wait for, so that the caller reads the next window while this one commits.
// The QoS 1/2 messages of one read of one stream share one in-flight record, a batch
// (batch.go): the serialized iterator right before the read, and per message its packet id,
// state and key. After a restart Session.Replay reads each batch again with one ds.Next and
// re-sends exactly its unfinished messages with DUP and the same packet ids; everything
// before a cursor that is in no batch is done. PUBREC moves an entry to "released" durably
// before PUBREL goes out, so a released QoS 2 message is never sent as PUBLISH again. PUBACK
// and PUBCOMP mark the entry done; the batch record is rewritten (or deleted, when all of it
// is done) by the next commit (group commit), not awaited.
//
// The caller decides how much to Fetch (its window: the client's Receive Maximum minus what is
// in flight) and when: typically when ds.Watch reports a commit, when an acknowledgement frees
// the window, and on a slow fallback timer. An idle session runs no goroutine.
//
// # Shared subscriptions
//
// A durable shared group ("$share/{name}/{filter}") is a Session of its own, named by
// GroupSessionID and subscribed to the plain filter: its cursors are the group's position and
// its in-flight table holds the messages handed to some member and not yet acknowledged, so
// the backlog and the unfinished hand-outs survive restarts like any session's. Its hold
// records say which member has each QoS 2 hand-out under which packet id, so that after a
// restart a message goes back to the member that had it (group_hold.go). A member keeps
// the shared filter among its subscriptions (IsShared) but neither routes nor reads it; the
// broker deals the group's messages out to its members (group.go).
//
// # Session table (format v3)
//
// All keys of a session live in its client id's shard (ds.ShardOf), so a publisher's message
// and its session writes can share one atomic batch:
//
//	meta      | 'm' | len(cid) | cid |                          → Meta (records.go)
//	cursor    | 'c' | len(cid) | cid | len(filter) | filter | stream | → | v | ended | iterator |
//	batch     | 'f' | len(cid) | cid | id = first seq (BE64) | → | v | read | filter | sub ids | iterator before | n | entries |
//	  entry:    | pid − previous pid | flags: QoS, retain, state (done/sent/released) | shared key prefix | key suffix |
//	inflight  | 'f' | len(cid) | cid | packet id (BE16) |      → | 1 | seq | QoS | state | retain | sub ids | filter | key | iterator before |
//	            (format v1: one record per message; read, and rewritten as a batch of one)
//	await-rel | 'r' | len(cid) | cid | packet id (BE16) |      → | v | received µs |
//	hold      | 'h' | len(cid) | cid | group packet id (BE16) | → | v ≥ 3 | member | member packet id | QoS | state |
//	            (group sessions only; state 1 sent, 2 released)
//	heartbeat | 'n' |  (shard 0)                               → | v | µs |
//
// Lengths and integers are uvarints; every value starts with its FormatVersion byte, and a
// reader refuses versions it does not know (ErrFormatVersion). Meta, cursor and time values
// are the same in v1, v2 and v3; v3 adds the hold record, v2 the batch record.
//
// # Concurrency
//
// Store and Session methods are safe for concurrent use. Fetch and Replay are meant for one
// goroutine per session (its delivery loop); acknowledgements come from another.
//
// Example:
//
//	st, err := durable.Open(db, nil)
//	s, err := st.Create(ctx, "client-1", time.Hour)
//	_, err = s.Subscribe(durable.Subscription{Filter: "sensors/#", QoS: 1})
//	_, err = st.Persist(ctx, &ds.Message{ClientID: "pub", Topic: "sensors/1", QoS: 1}, nil, 0)
//	ds, err := s.Fetch(ctx, 32) // send them; on PUBACK: s.Complete(pid)
package durable
