// Package replication replicates the shards of a ds store across the sites of a cluster with
// go.etcd.io/raft/v3: every shard is one raft group whose replicas are the shard's sites
// (placement.go), whose log holds the batches the shard's leader prepared
// (layout.CookedBatch), and whose state machine is the shard's span of the replica's ds store.
//
// # Write path
//
// ds prepares a batch on the replica that leads the shard (timestamps, layout writes) and
// hands it to the Applier (ds.Options.NewApplier), which proposes it to the shard's group. A
// batch is acknowledged once a quorum has it in its log, synced, and the leader has applied
// it. Followers apply every committed batch to their pebble instance and call
// ds.DB.ApplyReplicated, so their readers see it. Reads of a shard this site holds are served
// locally; a follower may lag its leader by a replication round, so a reader that must see
// every write acknowledged anywhere calls Node.Barrier first (barrier.go: raft's ReadIndex,
// then a wait until the read index is applied; ds.DB.Barrier reaches it through the
// Forwarder). Reads of a shard this site does not hold go to its leader (reads.go).
//
// # The Ready contract
//
// One goroutine drives each group's raft.RawNode (group.run). Every pass follows these steps
// in order; TestReadyContractOrder checks the order of the steps against this list:
//
//  1. step: feed raft the messages received from peers and the ticks that elapsed, and
//     propose the batches ds handed over (only on a leader whose state is current); ask raft
//     for the read index of new read barriers (rn.ReadIndex), and again for those whose
//     answer was lost.
//  2. ready: take rn.Ready(); nothing below runs if raft has nothing ready.
//  3. leadership: on a change of raft state, a replica that lost leadership fails every batch
//     still in flight with ds.ErrNotCommitted (they may still commit; ds rebuilds its state
//     from pebble), and a new leader accepts no batch until everything up to its first entry
//     is applied.
//  4. leader-send: a leader hands rd.Messages to the transport at once, so that its followers
//     write the entries while it writes them itself (Raft thesis §10.2.1; etcd does the same):
//     a leader's messages promise nothing about its own log.
//  5. persist: install rd.Snapshot if there is one (an atomic ingest of the staged shard
//     data and the group's new raft state, snapshot.go), then store rd.Entries and
//     rd.HardState in one pebble batch (raftstore.Save), synced when raft needs it
//     (rd.MustSync: entries, or a new term or vote; not for a new commit index alone).
//  6. send: any other replica hands rd.Messages to the transport only now, since its answers
//     (votes, append acknowledgements) promise what it has persisted. Send never blocks; a
//     MsgSnap (a leader's) is streamed by a goroutine of its own instead (snapshot.go).
//  7. apply: apply rd.CommittedEntries in order; each batch's writes and the group's applied
//     index go into one pebble batch, so a restart resumes exactly after the last applied
//     entry; configuration changes go through rn.ApplyConfChange and are stored.
//  8. reads: hand rd.ReadStates (the read indexes raft confirmed, asked for in step 1 by
//     Node.Barrier) to their barriers, and release every barrier whose index is now applied,
//     so that what a barrier's caller reads next includes the entries just applied.
//  9. advance: rn.Advance(rd), and repeat from 2 while raft has more ready.
//
// # Durability
//
// The log is synced on append; the state machine is written without sync, because pebble's
// write-ahead log is one sequence: any later synced write (the next append) makes it durable,
// and until then a crash loses at most applied entries that the log still holds and replays.
//
// # Compaction
//
// A leader proposes a compaction entry once Config.CompactEntries applied entries are held by
// every voter (raft's Progress.Match); every replica discards its log up to it when it applies
// it. A voter that is down holds compaction back until it is Config.SnapshotLag entries behind;
// then it catches up from a snapshot of the shard (snapshot.go), so logs stay bounded.
//
// # Membership changes
//
// Each shard's group carries a target replica set in its own log (members.go); its leader
// moves the configuration towards it one raft configuration change at a time (add a learner,
// wait until it caught up, promote it, remove a replica that leaves), never below the target's
// size in voters, and resumes from the applied target and configuration after a restart or a
// change of leader. Node.SetReplicas, JoinSite, LeaveSite and ForgetSite compute the targets
// (PlanTargets balances every site's share) on any site and hand them to the shards' leaders.
// A site that is added starts an empty group when the leader asks and catches up from a
// snapshot; a site that is removed stops its group and drops the shard's data.
//
// # What is not here yet
//
// The cluster's sites are the founding ones plus those that joined the formed cluster
// (discover.go); the joined and the forgotten ones are kept in every site's SITES file and
// exchanged between sites until their lists agree, not in a replicated metadata group.
//
// # Forwarding
//
// A write on a replica that does not lead its shard goes to the leader (forward.go, through
// ds.Options.Forwarder), so every replica takes writes; so does a read of a shard this site
// holds no replica of (reads.go, through ds.RemoteReader), so every site reads every shard.
package replication
