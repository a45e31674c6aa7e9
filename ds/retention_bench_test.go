package ds

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkNextRetentionClasses measures the read-time retention filter: one iteration drains
// 10,000 stored messages (100 topics, wildcard layout, a closed generation) with Next(n=100) from three stores that
// hold the same messages, in the same run:
//
//   - none: no class (the filter compares each timestamp with Period only);
//   - young: three classes, every message younger than the shortest period (one comparison);
//   - match: three classes, every message between the shortest and the longest period, so
//     each topic is matched against every class filter (the worst case: no class matches).
//
// It reports ns per message for each, and young/none and match/none ratios.
func BenchmarkNextRetentionClasses(b *testing.B) {
	classes := []RetentionClass{{"logs/#", 10 * time.Minute}, {"+/+/alarm", 20 * time.Minute}, {"audit/#", 2 * time.Hour}}
	setups := []struct {
		name    string
		classes []RetentionClass
		age     time.Duration
	}{
		{"none", nil, 30 * time.Minute},
		{"young", classes, 5 * time.Minute},
		{"match", classes, 30 * time.Minute},
	}
	const msgs = 10_000
	dbs := make([]*DB, len(setups))
	for i, s := range setups {
		clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		o := testOptions()
		o.Layout.Kind = ""
		o.NumShards = 1
		o.Now = clock.now
		o.Retention = RetentionOptions{Period: time.Hour, Disabled: true, Classes: s.classes}
		db := openTest(b, fmt.Sprint("db", i), o)
		batch := make([]Message, 0, 100)
		for j := range msgs {
			batch = append(batch, msg("c", fmt.Sprintf("dev/%d/temp", j%100), "payload-of-some-bytes"))
			if len(batch) == cap(batch) {
				require.NoError(b, db.Store(context.Background(), batch, Sync))
				batch = batch[:0]
			}
		}
		// Closed generations are read in key order: the filter's cost is not lost in the open
		// epoch's time-ordered merge.
		_, err := db.AddGeneration()
		require.NoError(b, err)
		clock.t = clock.t.Add(s.age)
		dbs[i] = db
	}
	drain := func(db *DB) time.Duration {
		start := time.Now()
		streams, err := db.GetStreams("#", 0)
		require.NoError(b, err)
		n := 0
		for _, rs := range streams {
			it, err := db.MakeIterator(rs.Stream, "#", 0)
			require.NoError(b, err)
			for {
				got, next, err := db.Next(context.Background(), it, 100)
				if errors.Is(err, ErrEndOfStream) {
					break
				}
				require.NoError(b, err)
				if len(got) == 0 {
					break
				}
				n += len(got)
				it = next
			}
		}
		require.Equal(b, msgs, n)
		return time.Since(start)
	}
	spent := make([]time.Duration, len(dbs))
	b.ResetTimer()
	for range b.N {
		for i, db := range dbs {
			spent[i] += drain(db)
		}
	}
	per := func(i int) float64 { return float64(spent[i].Nanoseconds()) / float64(b.N*msgs) }
	for i, s := range setups {
		b.ReportMetric(per(i), "ns/msg-"+s.name)
	}
	b.ReportMetric(per(1)/per(0), "young/none")
	b.ReportMetric(per(2)/per(0), "match/none")
}
