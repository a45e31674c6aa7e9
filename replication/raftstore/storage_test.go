package raftstore

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func openPebble(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietPebble{}})
	require.NoError(t, err)
	return db
}

// TestStorageMatchesMemoryStorage drives the pebble storage and raft's own MemoryStorage with
// the same random appends (overwrites of a log suffix included, as a new leader does) and
// hard states, and compares every read after each step, and after reopening.
func TestStorageMatchesMemoryStorage(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			fs := vfs.NewMem()
			db := openPebble(t, fs)
			const group = 3
			s, err := Open(db, group)
			require.NoError(t, err)
			other, err := Open(db, group+1) // a neighbour group must not see our keys
			require.NoError(t, err)
			require.NoError(t, other.Save(&pb.HardState{Term: new(uint64(9))}, []*pb.Entry{{Index: new(uint64(1)), Term: new(uint64(9))}}))
			ms := raft.NewMemoryStorage()
			term := uint64(1)
			for step := range 60 {
				last, _ := ms.LastIndex()
				from := last + 1
				if last > 0 && rng.IntN(3) == 0 {
					from = 1 + rng.Uint64N(last) // overwrite a suffix
					term++
				}
				var ents []*pb.Entry
				for i := range rng.IntN(5) {
					data := make([]byte, rng.IntN(200))
					for j := range data {
						data[j] = byte(rng.Uint32())
					}
					ents = append(ents, &pb.Entry{Index: new(from + uint64(i)), Term: new(term), Data: data})
				}
				hs := &pb.HardState{Term: new(term), Vote: new(uint64(rng.IntN(3) + 1)), Commit: new(uint64(0))}
				require.NoError(t, ms.Append(ents))
				require.NoError(t, ms.SetHardState(hs))
				require.NoError(t, s.Save(hs, ents))
				if last, _ := ms.LastIndex(); last > 0 && rng.IntN(4) == 0 {
					first, _ := ms.FirstIndex()
					if first <= last {
						at := first + rng.Uint64N(last-first+1)
						require.NoError(t, ms.Compact(at))
						require.NoError(t, s.Compact(at))
						require.ErrorIs(t, s.Compact(at), raft.ErrCompacted)
					}
				}
				compare(t, ms, s, step)
			}
			require.NoError(t, db.Close())
			db = openPebble(t, fs)
			defer db.Close()
			reopened, err := Open(db, group)
			require.NoError(t, err)
			compare(t, ms, reopened, -1)
		})
	}
}

func compare(t *testing.T, want *raft.MemoryStorage, got *Storage, step int) {
	t.Helper()
	wl, _ := want.LastIndex()
	gl, _ := got.LastIndex()
	require.Equal(t, wl, gl, "step %d: last index", step)
	wh, _, _ := want.InitialState()
	gh, _, _ := got.InitialState()
	require.True(t, proto.Equal(wh, gh), "step %d: hard state %v, want %v", step, gh, wh)
	wf, _ := want.FirstIndex()
	gf, _ := got.FirstIndex()
	require.Equal(t, wf, gf, "step %d: first index", step)
	for i := uint64(0); i <= wl; i++ {
		wt, werr := want.Term(i)
		gt, gerr := got.Term(i)
		if i+1 < wf {
			require.ErrorIs(t, werr, raft.ErrCompacted)
			require.ErrorIs(t, gerr, raft.ErrCompacted, "step %d: term of compacted %d", step, i)
			continue
		}
		require.NoError(t, werr)
		require.NoError(t, gerr)
		require.Equal(t, wt, gt, "step %d: term of %d", step, i)
	}
	_, err := got.Term(wl + 1)
	require.ErrorIs(t, err, raft.ErrUnavailable)
	if wl < wf {
		return
	}
	_, err = got.Entries(wf-1, wl+1, 1<<20)
	require.ErrorIs(t, err, raft.ErrCompacted)
	for _, max := range []uint64{0, 100, 1 << 20} {
		for lo := wf; lo <= wl; lo++ {
			we, err := want.Entries(lo, wl+1, max)
			require.NoError(t, err)
			ge, err := got.Entries(lo, wl+1, max)
			require.NoError(t, err)
			require.Equal(t, len(we), len(ge), "step %d: entries from %d max %d", step, lo, max)
			for i := range we {
				require.True(t, proto.Equal(we[i], ge[i]), "step %d: entry %d", step, we[i].GetIndex())
			}
		}
	}
}

func TestBootstrapOnlyOnce(t *testing.T) {
	db := openPebble(t, vfs.NewMem())
	defer db.Close()
	s, err := Open(db, 1)
	require.NoError(t, err)
	require.False(t, s.Bootstrapped())
	require.NoError(t, s.Bootstrap([]uint64{1, 2, 3}))
	require.True(t, s.Bootstrapped())
	_, cs, err := s.InitialState()
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3}, cs.GetVoters())
	require.Error(t, s.Bootstrap([]uint64{4}))
	again, err := Open(db, 1)
	require.NoError(t, err)
	_, cs, _ = again.InitialState()
	require.Equal(t, []uint64{1, 2, 3}, cs.GetVoters(), "the configuration is durable")
}

func TestSaveRefusesAGap(t *testing.T) {
	db := openPebble(t, vfs.NewMem())
	defer db.Close()
	s, err := Open(db, 1)
	require.NoError(t, err)
	require.Error(t, s.Save(nil, []*pb.Entry{{Index: new(uint64(2)), Term: new(uint64(1))}}))
	last, _ := s.LastIndex()
	require.Zero(t, last)
}

func TestCorruptEntryIsReported(t *testing.T) {
	db := openPebble(t, vfs.NewMem())
	defer db.Close()
	s, err := Open(db, 1)
	require.NoError(t, err)
	require.NoError(t, s.Save(nil, []*pb.Entry{{Index: new(uint64(1)), Term: new(uint64(1)), Data: []byte("x")}}))
	require.NoError(t, db.Set(entryKey(1, 1), []byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff}, pebble.Sync))
	_, err = s.Entries(1, 2, 1<<20)
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestSaveSyncsWhatRaftNeeds crashes the file system after each Save (keeping only what was
// synced) and checks which hard state a restart finds: entries and a new term or vote must
// survive (raft.MustSync); a new commit index alone may be lost, and comes back with the next
// synced write, since pebble's log is one sequence.
func TestSaveSyncsWhatRaftNeeds(t *testing.T) {
	hs := func(term, vote, commit uint64) *pb.HardState {
		return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
	}
	entry := func(index, term uint64) []*pb.Entry {
		return []*pb.Entry{{Index: new(index), Term: new(term), Data: []byte("x")}}
	}
	steps := []struct {
		name       string
		hs         *pb.HardState
		ents       []*pb.Entry
		afterCrash *pb.HardState // what a restart right after this step finds
		last       uint64        // and the last index it finds
	}{
		{"vote", hs(1, 2, 0), nil, hs(1, 2, 0), 0},
		{"append", hs(1, 2, 0), entry(1, 1), hs(1, 2, 0), 1},
		{"commit only", hs(1, 2, 1), nil, hs(1, 2, 0), 1},
		{"append carries the commit", nil, entry(2, 1), hs(1, 2, 1), 2},
		{"commit only again", hs(1, 2, 2), nil, hs(1, 2, 1), 2},
		{"new term", hs(2, 0, 2), nil, hs(2, 0, 2), 2},
	}
	fs := vfs.NewCrashableMem()
	db := openPebble(t, fs)
	defer db.Close()
	s, err := Open(db, 1)
	require.NoError(t, err)
	for _, step := range steps {
		require.NoError(t, s.Save(step.hs, step.ents), step.name)
		crashed := openPebble(t, fs.CrashClone(vfs.CrashCloneCfg{}))
		r, err := Open(crashed, 1)
		require.NoError(t, err, step.name)
		got, _, err := r.InitialState()
		require.NoError(t, err)
		require.True(t, proto.Equal(step.afterCrash, got), "%s: restart found %v, want %v", step.name, got, step.afterCrash)
		last, err := r.LastIndex()
		require.NoError(t, err)
		require.Equal(t, step.last, last, step.name)
		require.NoError(t, crashed.Close())
	}
}

// quietPebble drops pebble's informational logs (WAL recovery at every open) from test output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)              {}
func (quietPebble) Errorf(format string, args ...any) { fmt.Printf("pebble: "+format+"\n", args...) }
func (quietPebble) Fatalf(format string, args ...any) { panic(fmt.Sprintf("pebble: "+format, args...)) }
