package ds

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// TestShardCheckPrepared gives the invariants-build check of a flush a batch that shard 0
// prepared, intact and then with one thing broken, and expects it to accept only the intact
// one.
func TestShardCheckPrepared(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(s *shard, cb *layout.CookedBatch, prev *uint64)
		want   string // "" = the check passes
	}{
		{name: "intact", mangle: func(*shard, *layout.CookedBatch, *uint64) {}},
		{name: "key of another shard", want: "outside the shard", mangle: func(_ *shard, cb *layout.CookedBatch, _ *uint64) {
			cb.Set(shardClockKey(1), []byte{0})
		}},
		{name: "range delete leaving the shard", want: "outside the shard", mangle: func(s *shard, cb *layout.CookedBatch, _ *uint64) {
			cb.Writes = append(cb.Writes, layout.Write{Kind: layout.WriteDeleteRange, Key: shardPrefix(s.id), Value: shardPrefix(s.id + 1)})
		}},
		{name: "timestamp not after the clock", want: "not after", mangle: func(s *shard, _ *layout.CookedBatch, prev *uint64) {
			*prev = s.scratch.entries[0].Timestamp
		}},
		{name: "timestamps out of order", want: "not after", mangle: func(s *shard, _ *layout.CookedBatch, _ *uint64) {
			e := s.scratch.entries
			e[0].Timestamp, e[1].Timestamp = e[1].Timestamp, e[0].Timestamp
		}},
		{name: "clock behind the batch", want: "clock", mangle: func(s *shard, _ *layout.CookedBatch, _ *uint64) {
			s.clock--
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, t.TempDir(), testOptions())
			s := db.shards[0]
			s.writeMu.Lock()
			defer s.writeMu.Unlock()
			defer s.releaseScratch()
			var r request
			for _, topic := range []string{"a/1", "a/2", "b"} {
				m := msg("c", topic, "p")
				r.addMessage(&m, false)
			}
			prev := s.clock
			cb, _, _, _, err := s.prepare([]*request{&r}, db.opts.Now())
			require.NoError(t, err)
			tc.mangle(s, cb, &prev)
			err = s.checkPrepared(cb, prev)
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}
