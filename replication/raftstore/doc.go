// Package raftstore keeps the log, hard state and configuration of raft groups in pebble and
// serves them to go.etcd.io/raft through its Storage interface.
//
// Every group has its own key span in the node's one pebble instance:
//
//	0x02 <group:4> 'c'            configuration (raftpb.ConfState)
//	0x02 <group:4> 'h'            hard state (raftpb.HardState)
//	0x02 <group:4> 'l' <index:8>  log entry: term (8 bytes BE) then the raftpb.Entry
//	0x02 <group:4> 't'            last compacted entry: index and term (8 bytes BE each)
//
// Save writes the entries and hard state of one raft Ready in one synced pebble batch, so what
// raft was told is stored is stored. The term sits before each entry so that Term reads eight
// bytes instead of decoding the entry. A group's state machine (its applied index) lives with
// the data it describes, outside this package.
package raftstore
