package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// KeyPrefix is the first byte of every key this package writes.
const KeyPrefix byte = 0x02

const (
	keyConf  byte = 'c'
	keyHard  byte = 'h'
	keyEntry byte = 'l'
	keyTrunc byte = 't'
)

func groupPrefix(group uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{KeyPrefix}, group)
}

func confKey(group uint32) []byte { return append(groupPrefix(group), keyConf) }
func hardKey(group uint32) []byte { return append(groupPrefix(group), keyHard) }

func truncKey(group uint32) []byte { return append(groupPrefix(group), keyTrunc) }

func entryKey(group uint32, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(groupPrefix(group), keyEntry), index)
}

// ErrCorrupt is wrapped by every error about stored bytes that do not decode.
var ErrCorrupt = errors.New("raftstore: corrupt raft state")

// Storage is the raft storage of one group. Raft calls its read methods from the goroutine
// that drives the group; Save and SetConfState are called by that goroutine too, but the
// methods are safe for concurrent use (the status API reads them).
type Storage struct {
	db    *pebble.DB
	group uint32

	mu   sync.Mutex
	hard *pb.HardState
	conf *pb.ConfState
	// last is the index of the last entry (truncIndex when the log is empty).
	last uint64
	// truncIndex and truncTerm are the last entry compacted away (0, 0: none); the log
	// starts at truncIndex+1.
	truncIndex, truncTerm uint64
}

// Open loads the state of group from db. A group never saved starts with an empty log, an
// empty hard state and the configuration given by Bootstrap.
func Open(db *pebble.DB, group uint32) (*Storage, error) {
	s := &Storage{db: db, group: group, hard: &pb.HardState{}, conf: &pb.ConfState{}}
	if err := s.load(confKey(group), s.conf); err != nil {
		return nil, err
	}
	if err := s.load(hardKey(group), s.hard); err != nil {
		return nil, err
	}
	if err := s.loadTrunc(); err != nil {
		return nil, err
	}
	last, err := s.findLast()
	if err != nil {
		return nil, err
	}
	s.last = max(last, s.truncIndex)
	return s, nil
}

func (s *Storage) loadTrunc() error {
	v, closer, err := s.db.Get(truncKey(s.group))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if len(v) != 16 {
		return fmt.Errorf("%w: group %d: truncated state of %d bytes", ErrCorrupt, s.group, len(v))
	}
	s.truncIndex, s.truncTerm = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	return nil
}

// Compact discards the entries up to and including index, which must be applied on every
// replica that may still need them (the group decides: see replication's compaction).
func (s *Storage) Compact(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.truncIndex {
		return raft.ErrCompacted
	}
	if index > s.last {
		return fmt.Errorf("raftstore: group %d: compact to %d beyond the last entry %d", s.group, index, s.last)
	}
	term, err := s.termLocked(index)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(entryKey(s.group, s.truncIndex+1), entryKey(s.group, index+1), nil); err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, index), term)
	if err := b.Set(truncKey(s.group), v, nil); err != nil {
		return err
	}
	// Not synced: losing a compaction to a crash only keeps entries longer.
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	s.truncIndex, s.truncTerm = index, term
	return nil
}

func (s *Storage) load(key []byte, m proto.Message) error {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("%w: group %d key %x: %v", ErrCorrupt, s.group, key, err)
	}
	return nil
}

// findLast returns the highest stored entry index, 0 if none.
func (s *Storage) findLast() (uint64, error) {
	lower := append(groupPrefix(s.group), keyEntry)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: append(groupPrefix(s.group), keyEntry+1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	k := it.Key()
	if len(k) != len(lower)+8 {
		return 0, fmt.Errorf("%w: group %d: entry key %x", ErrCorrupt, s.group, k)
	}
	return binary.BigEndian.Uint64(k[len(lower):]), nil
}

// Bootstrap sets the configuration of a group that has never run, so that its replicas can
// elect a leader without a configuration entry in the log. It refuses a group that has state.
func (s *Storage) Bootstrap(voters []uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != 0 || s.hard.GetTerm() != 0 || len(s.conf.GetVoters()) != 0 {
		return fmt.Errorf("raftstore: group %d already has state", s.group)
	}
	return s.setConfLocked(&pb.ConfState{Voters: voters})
}

// Bootstrapped reports whether the group has a configuration.
func (s *Storage) Bootstrapped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conf.GetVoters()) > 0 || len(s.conf.GetLearners()) > 0
}

// SetConfState stores the configuration after a configuration change was applied.
func (s *Storage) SetConfState(cs *pb.ConfState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setConfLocked(cs)
}

func (s *Storage) setConfLocked(cs *pb.ConfState) error {
	data, err := proto.Marshal(cs)
	if err != nil {
		return err
	}
	if err := s.db.Set(confKey(s.group), data, pebble.Sync); err != nil {
		return err
	}
	s.conf = proto.Clone(cs).(*pb.ConfState)
	return nil
}

// Save stores the entries and hard state of a Ready in one batch. Entries replace any stored
// entries at the same or later indexes (a new leader overwrote them).
//
// The batch is synced when raft's safety depends on it: it holds entries, or the term or vote
// changed (raft.MustSync). A hard state whose only change is the commit index is written
// without a sync: a replica that loses it learns the commit index again from its leader, and
// since pebble's log is one sequence, any later synced write (the next append) or applied
// entry that reaches the disk carries it too. That spares each replica one sync per commit.
func (s *Storage) Save(hs *pb.HardState, ents []*pb.Entry) error {
	if len(ents) == 0 && (hs == nil || raft.IsEmptyHardState(hs)) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sync := len(ents) > 0 || (hs != nil && raft.MustSync(hs, s.hard, 0))
	b := s.db.NewBatch()
	defer b.Close()
	last := s.last
	if n := len(ents); n > 0 && ents[n-1].GetIndex() <= s.truncIndex {
		ents = nil // all compacted already
	} else if n > 0 && ents[0].GetIndex() <= s.truncIndex {
		ents = ents[s.truncIndex+1-ents[0].GetIndex():]
	}
	if len(ents) > 0 {
		first := ents[0].GetIndex()
		if first == 0 || first > s.last+1 {
			return fmt.Errorf("raftstore: group %d: append at %d leaves a gap after %d", s.group, first, s.last)
		}
		if first <= s.last {
			if err := b.DeleteRange(entryKey(s.group, first), entryKey(s.group, s.last+1), nil); err != nil {
				return err
			}
		}
		var buf []byte
		for i, e := range ents {
			if e.GetIndex() != first+uint64(i) {
				return fmt.Errorf("raftstore: group %d: entries not contiguous at %d", s.group, e.GetIndex())
			}
			buf = binary.BigEndian.AppendUint64(buf[:0], e.GetTerm())
			var err error
			if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, e); err != nil {
				return err
			}
			if err := b.Set(entryKey(s.group, e.GetIndex()), buf, nil); err != nil {
				return err
			}
		}
		last = ents[len(ents)-1].GetIndex()
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		data, err := proto.Marshal(hs)
		if err != nil {
			return err
		}
		if err := b.Set(hardKey(s.group), data, nil); err != nil {
			return err
		}
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	if err := b.Commit(wo); err != nil {
		return err
	}
	s.last = last
	if hs != nil && !raft.IsEmptyHardState(hs) {
		s.hard = proto.Clone(hs).(*pb.HardState)
	}
	return nil
}

// InitialState implements raft.Storage.
func (s *Storage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.hard).(*pb.HardState), proto.Clone(s.conf).(*pb.ConfState), nil
}

// Entries implements raft.Storage: entries [lo, hi), at most maxSize bytes but at least one.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lo <= s.truncIndex || lo < 1 {
		return nil, raft.ErrCompacted
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("raftstore: group %d: entries up to %d requested, last is %d", s.group, hi-1, s.last)
	}
	if lo >= hi {
		return nil, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(s.group, lo), UpperBound: entryKey(s.group, hi)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*pb.Entry
	var size uint64
	next := lo
	for valid := it.First(); valid; valid = it.Next() {
		e, err := s.decode(it.Value())
		if err != nil {
			return nil, err
		}
		if e.GetIndex() != next {
			return nil, fmt.Errorf("%w: group %d: entry %d where %d was expected", ErrCorrupt, s.group, e.GetIndex(), next)
		}
		size += uint64(proto.Size(e))
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
		next++
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(out) == 0 || (next < hi && size <= maxSize) {
		return nil, fmt.Errorf("%w: group %d: entries [%d, %d) missing from %d", ErrCorrupt, s.group, lo, hi, next)
	}
	return out, nil
}

func (s *Storage) decode(v []byte) (*pb.Entry, error) {
	if len(v) < 8 {
		return nil, fmt.Errorf("%w: group %d: short entry", ErrCorrupt, s.group)
	}
	e := &pb.Entry{}
	if err := proto.Unmarshal(v[8:], e); err != nil {
		return nil, fmt.Errorf("%w: group %d: %v", ErrCorrupt, s.group, err)
	}
	return e, nil
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.termLocked(i)
}

func (s *Storage) termLocked(i uint64) (uint64, error) {
	switch {
	case i == s.truncIndex:
		return s.truncTerm, nil
	case i < s.truncIndex:
		return 0, raft.ErrCompacted
	case i > s.last:
		return 0, raft.ErrUnavailable
	}
	v, closer, err := s.db.Get(entryKey(s.group, i))
	if err != nil {
		return 0, fmt.Errorf("raftstore: group %d: term of %d: %w", s.group, i, err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return 0, fmt.Errorf("%w: group %d: short entry %d", ErrCorrupt, s.group, i)
	}
	return binary.BigEndian.Uint64(v), nil
}

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.truncIndex + 1, nil
}

// Snapshot implements raft.Storage. A snapshot is of the state machine, which this package
// does not hold: the replica that owns the storage wraps it and takes snapshots itself.
func (s *Storage) Snapshot() (*pb.Snapshot, error) {
	return nil, raft.ErrSnapshotTemporarilyUnavailable
}

// KV is one key and value of a group's stored state.
type KV struct{ Key, Value []byte }

// RestoreState returns what the group's span must hold once a snapshot with metadata meta is
// installed: the span [start, end) to clear, and the keys to write in it (in key order), for the
// hard state hs (the snapshot's Ready may change it) and the snapshot's configuration, with
// an empty log that starts after meta.Index. The caller writes them atomically with the shard's
// data (an ingested sstable), then calls Restored.
func (s *Storage) RestoreState(meta *pb.SnapshotMetadata, hs *pb.HardState) (start, end []byte, kvs []KV, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs == nil || raft.IsEmptyHardState(hs) {
		hs = s.hard
	}
	// Raft refuses to start with a commit index before the first entry of its log.
	if hs.GetCommit() < meta.GetIndex() {
		hs = proto.Clone(hs).(*pb.HardState)
		hs.Commit = new(meta.GetIndex())
	}
	conf, err := proto.Marshal(meta.GetConfState())
	if err != nil {
		return nil, nil, nil, err
	}
	hard, err := proto.Marshal(hs)
	if err != nil {
		return nil, nil, nil, err
	}
	trunc := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, meta.GetIndex()), meta.GetTerm())
	start = groupPrefix(s.group)
	end = groupPrefix(s.group + 1)
	if s.group == ^uint32(0) {
		end = []byte{KeyPrefix + 1}
	}
	// Key order: 'c' < 'h' < 't'.
	kvs = []KV{{confKey(s.group), conf}, {hardKey(s.group), hard}, {truncKey(s.group), trunc}}
	return start, end, kvs, nil
}

// Restored updates the storage after the state from RestoreState was written: the log is
// empty and starts after meta.Index.
func (s *Storage) Restored(meta *pb.SnapshotMetadata, hs *pb.HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs != nil && !raft.IsEmptyHardState(hs) {
		s.hard = proto.Clone(hs).(*pb.HardState)
	}
	if s.hard.GetCommit() < meta.GetIndex() {
		s.hard.Commit = new(meta.GetIndex())
	}
	s.conf = proto.Clone(meta.GetConfState()).(*pb.ConfState)
	s.truncIndex, s.truncTerm = meta.GetIndex(), meta.GetTerm()
	s.last = meta.GetIndex()
}

// ConfState returns the group's current configuration.
func (s *Storage) ConfState() *pb.ConfState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.conf).(*pb.ConfState)
}

// HasState reports whether the group has ever stored anything: a configuration, a hard state
// or entries. A group that a replica left keeps only its hard state (Drop).
func (s *Storage) HasState() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last != 0 || !raft.IsEmptyHardState(s.hard) || len(s.conf.GetVoters()) != 0 || len(s.conf.GetLearners()) != 0
}

// Drop adds to b the writes that remove group's log and configuration, keeping of its hard state
// only the term and vote (a commit index of 0 fits the empty log). A site whose replica was
// removed thereby remembers that it took part in the group, so that it neither bootstraps it
// again from its initial placement nor votes twice in a term it voted in, should the group ever
// come back to it.
func Drop(b *pebble.Batch, group uint32, hs *pb.HardState) error {
	start, end := groupPrefix(group), groupPrefix(group+1)
	if group == ^uint32(0) {
		end = []byte{KeyPrefix + 1}
	}
	if err := b.DeleteRange(start, end, nil); err != nil {
		return err
	}
	keep := &pb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(uint64(0))}
	data, err := proto.Marshal(keep)
	if err != nil {
		return err
	}
	return b.Set(hardKey(group), data, nil)
}

// HardState returns the group's stored hard state.
func (s *Storage) HardState() *pb.HardState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.hard).(*pb.HardState)
}
