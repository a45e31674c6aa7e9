package layout_test

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mqttds/mqttds/layout"
)

// Example writes a few messages through the wildcard layout and reads one device back by
// filter, as ds does: prepare, commit the cooked batch, then read each stream of the filter
// up to the committed high-water mark.
func Example() {
	db, _ := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: silent{}})
	defer db.Close()

	var b layout.CookedBatch
	l, _ := layout.Create([]byte("shard1/gen1/"), layout.Options{Thresholds: []int{100, 2}}, nil, &b)
	var entries []layout.Entry
	for i, topic := range []string{"dev/a/temp", "dev/b/temp", "dev/c/temp", "dev/d/temp", "dev/c/temp"} {
		entries = append(entries, layout.Entry{Topic: topic, Timestamp: uint64(1000 + i), Value: []byte(fmt.Sprint(20 + i))})
	}
	_ = l.Prepare(entries, &b)
	apply(db, &b) // one pebble batch

	filter := strings.Split("dev/c/temp", "/")
	var stats layout.Stats
	for _, s := range l.Streams(filter) {
		pos, _ := l.NewPosition(s, filter, 0)
		items, _, _ := l.Next(db, s, filter, pos, 10, layout.ReadBounds{Visible: 1005}, &stats)
		for _, it := range items {
			fmt.Printf("%d %s %s\n", it.Timestamp, it.Topic, it.Value)
		}
	}
	fmt.Printf("seeks=%d collisions=%d\n", stats.Seeks, stats.Collisions)
	// Output:
	// 1002 dev/c/temp 22
	// 1004 dev/c/temp 24
	// seeks=2 collisions=0
}

func apply(db *pebble.DB, b *layout.CookedBatch) {
	pb := db.NewBatch()
	for _, w := range b.Writes {
		_ = pb.Set(w.Key, w.Value, nil)
	}
	_ = pb.Commit(pebble.Sync)
	b.Writes = nil
}

type silent struct{}

func (silent) Infof(string, ...any)  {}
func (silent) Errorf(string, ...any) {}
func (silent) Fatalf(string, ...any) {}
