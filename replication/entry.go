package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/replication/site"
)

// A log entry of a shard group carries one batch:
//
//	version:1 (1) | proposer site:8 | proposal sequence:8 | layout.CookedBatch (MarshalBinary)
//
// The proposer and sequence let the proposing replica recognise its own batches when they
// are applied (their in-memory effects are already there) and tell them from a batch of
// another replica (which must be applied to memory too). Empty entries are raft's own (a new
// leader's first entry).
const entryVersion = 1

// A compaction entry (the leader's, never ds's) tells every replica to discard its log up to
// an index that every voter has:
//
//	kind:1 (2) | index:8
const entryCompact = 2

func encodeCompact(index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{entryCompact}, index)
}

// compactIndex returns the index of a compaction entry, ok false for any other entry.
func compactIndex(data []byte) (uint64, bool) {
	if len(data) != 9 || data[0] != entryCompact {
		return 0, false
	}
	return binary.BigEndian.Uint64(data[1:]), true
}

const entryHeader = 1 + 8 + 8

var errBadEntry = errors.New("replication: bad log entry")

// proposalID names one proposal of one site.
type proposalID struct {
	site site.ID
	seq  uint64
}

func encodeEntry(id proposalID, cb *layout.CookedBatch) ([]byte, error) {
	body, err := cb.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, entryHeader, entryHeader+len(body))
	out[0] = entryVersion
	binary.BigEndian.PutUint64(out[1:], uint64(id.site))
	binary.BigEndian.PutUint64(out[9:], id.seq)
	return append(out, body...), nil
}

func decodeEntry(data []byte) (proposalID, *layout.CookedBatch, error) {
	if len(data) < entryHeader || data[0] != entryVersion {
		return proposalID{}, nil, fmt.Errorf("%w: %d bytes, version %d", errBadEntry, len(data), firstByte(data))
	}
	id := proposalID{site: site.ID(binary.BigEndian.Uint64(data[1:])), seq: binary.BigEndian.Uint64(data[9:])}
	cb := &layout.CookedBatch{}
	if err := cb.UnmarshalBinary(data[entryHeader:]); err != nil {
		return proposalID{}, nil, fmt.Errorf("%w: %v", errBadEntry, err)
	}
	return id, cb, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// A target entry (a leader's, proposed for Node.SetReplicas and the like) sets the replica
// set the shard's leader moves the group towards, one configuration change at a time, and the
// site that should lead it once there:
//
//	kind:1 (3) | count:1 | site:8 × count (sorted, distinct, count ≥ 1) | [leader:8]
//
// The leader, when present, is one of the sites (0 or absent: no preference). Applying the
// entry stores it in the shard's span (targetKey) in the batch that advances the applied
// index, so it survives restarts and leader changes and travels in snapshots.
const entryTarget = 3

// maxReplicas bounds a replica set (the count is one byte).
const maxReplicas = 255

// targetSet is a shard's target: its replica set and preferred leader (0: none).
type targetSet struct {
	sites  []site.ID
	leader site.ID
}

func encodeTarget(t targetSet) []byte {
	out := []byte{entryTarget, byte(len(t.sites))}
	for _, id := range t.sites {
		out = binary.BigEndian.AppendUint64(out, uint64(id))
	}
	if t.leader != 0 {
		out = binary.BigEndian.AppendUint64(out, uint64(t.leader))
	}
	return out
}

// decodeTarget returns the target of a target entry (or of a stored target, which has the
// same bytes); ok false for any other entry.
func decodeTarget(data []byte) (t targetSet, ok bool, err error) {
	if len(data) == 0 || data[0] != entryTarget {
		return targetSet{}, false, nil
	}
	if len(data) < 2 || data[1] == 0 {
		return targetSet{}, true, fmt.Errorf("%w: target entry of %d bytes", errBadEntry, len(data))
	}
	n := int(data[1])
	if len(data) != 2+8*n && len(data) != 2+8*n+8 {
		return targetSet{}, true, fmt.Errorf("%w: target entry of %d bytes for %d sites", errBadEntry, len(data), n)
	}
	for i := range n {
		id := site.ID(binary.BigEndian.Uint64(data[2+8*i:]))
		if id == 0 || i > 0 && id <= t.sites[i-1] {
			return targetSet{}, true, fmt.Errorf("%w: target sites not sorted and distinct", errBadEntry)
		}
		t.sites = append(t.sites, id)
	}
	if len(data) == 2+8*n+8 {
		t.leader = site.ID(binary.BigEndian.Uint64(data[2+8*n:]))
		if !slices.Contains(t.sites, t.leader) {
			return targetSet{}, true, fmt.Errorf("%w: target leader %v is not one of its sites", errBadEntry, t.leader)
		}
	}
	return t, true, nil
}
