package layout

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// TestConcurrentReadersWhileWriting runs one writer (Prepare, commit, then publish the
// high-water mark, as ds does) and several readers that follow the mark, each on its own
// goroutine. Every reader ends with exactly the messages of its filter. Run with -race.
func TestConcurrentReadersWhileWriting(t *testing.T) {
	db := openMemDB(t)
	var b CookedBatch
	l, err := Create([]byte("g"), Options{EpochBits: 6, Thresholds: []int{3, 2}}, nil, &b)
	require.NoError(t, err)
	commit(t, db, &b)

	const batches = 150
	var hwm atomic.Uint64 // last committed timestamp
	var written []Entry
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts := uint64(100)
		for i := range batches {
			var entries []Entry
			for j := range 5 {
				ts += uint64(1 + (i*j)%40)
				entries = append(entries, Entry{Topic: fmt.Sprintf("s/%d/d/%d", (i+j)%4, (i*7+j)%13), Timestamp: ts})
			}
			var b CookedBatch
			if err := l.Prepare(entries, &b); err != nil {
				panic(err)
			}
			commit(t, db, &b)
			written = append(written, entries...)
			hwm.Store(ts)
		}
	}()

	filters := []string{"#", "s/+/d/+", "s/1/d/+", "s/+/d/7", "+/+/+/3"}
	got := make([][]Item, len(filters))
	var wg sync.WaitGroup
	for fi, f := range filters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			filter := splitLevels(f)
			positions := map[string]Position{}
			var order []string
			read := func(bounds ReadBounds, drain bool) {
				for _, s := range l.Streams(filter) {
					if _, ok := positions[string(s)]; !ok {
						positions[string(s)], _ = l.NewPosition(s, filter, 0)
						order = append(order, string(s))
					}
				}
				for _, s := range order {
					for {
						items, pos, err := l.Next(db, Stream(s), filter, positions[s], 4, bounds, &Stats{})
						if err != nil {
							panic(err)
						}
						positions[s] = pos
						got[fi] = append(got[fi], items...)
						if !drain || len(items) == 0 {
							break
						}
					}
				}
			}
			for {
				select {
				case <-done:
					read(ReadBounds{Visible: hwm.Load() + 1, Closed: true}, true)
					return
				default:
					read(ReadBounds{Visible: hwm.Load() + 1}, false)
				}
			}
		}()
	}
	wg.Wait()
	for fi, f := range filters {
		var want []Item
		for _, e := range written {
			if topic.MatchLevels(splitLevels(f), []byte(e.Topic)) {
				want = append(want, Item{Topic: e.Topic, Timestamp: e.Timestamp})
			}
		}
		require.Equal(t, summarize(want), summarize(got[fi]), "filter %s", f)
		requirePerTopicOrder(t, got[fi])
	}
}
