package ds_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mqttds/mqttds/ds"
)

// Store a few messages and read back those matching a wildcard filter, stream by stream.
func Example() {
	ctx := context.Background()
	db, err := ds.Open("data", &ds.Options{FS: vfs.NewMem(), NumShards: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	err = db.Store(ctx, []ds.Message{
		{ClientID: "sensor-1", Topic: "home/kitchen/temp", Payload: []byte("21.5"), QoS: 1},
		{ClientID: "sensor-1", Topic: "home/kitchen/humidity", Payload: []byte("40")},
		{ClientID: "sensor-1", Topic: "home/garage/temp", Payload: []byte("12.0"), QoS: 1},
	}, ds.Sync)
	if err != nil {
		log.Fatal(err)
	}

	streams, err := db.GetStreams("home/+/temp", 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range streams {
		it, err := db.MakeIterator(s.Stream, "home/+/temp", 0)
		if err != nil {
			log.Fatal(err)
		}
		msgs, _, err := db.Next(ctx, it, 100)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range msgs {
			fmt.Printf("%s %s qos=%d\n", m.Topic, m.Payload, m.QoS)
		}
	}
	// Output:
	// home/kitchen/temp 21.5 qos=1
	// home/garage/temp 12.0 qos=1
}

// A session's state and the message it publishes commit atomically in one Batch.
func ExampleBatch() {
	ctx := context.Background()
	db, err := ds.Open("data", &ds.Options{FS: vfs.NewMem(), NumShards: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	sessions, err := db.Table("sessions")
	if err != nil {
		log.Fatal(err)
	}

	shard := db.ShardOf("client-7")
	b := db.NewBatch(shard)
	b.AddMessage(&ds.Message{ClientID: "client-7", Topic: "chat/room-1", Payload: []byte("hello")})
	b.Put(sessions, []byte("client-7"), []byte("last-packet-id=12"))
	if err := db.Apply(ctx, b, ds.Sync); err != nil {
		log.Fatal(err)
	}

	state, err := sessions.Get(shard, []byte("client-7"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", state)
	// Output:
	// last-packet-id=12
}

// Iterators are plain values: store one, restart, continue where it stopped.
func ExampleIterator_MarshalBinary() {
	ctx := context.Background()
	fs := vfs.NewMem()
	db, err := ds.Open("data", &ds.Options{FS: fs, NumShards: 1})
	if err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		m := ds.Message{ClientID: "c", Topic: "log", Payload: []byte(fmt.Sprint("line ", i))}
		if err := db.Store(ctx, []ds.Message{m}, ds.Sync); err != nil {
			log.Fatal(err)
		}
	}
	streams, _ := db.GetStreams("log", 0)
	it, _ := db.MakeIterator(streams[0].Stream, "log", 0)
	msgs, it, _ := db.Next(ctx, it, 2)
	fmt.Printf("%s, %s\n", msgs[0].Payload, msgs[1].Payload)
	saved, _ := it.MarshalBinary()
	db.Close()

	db, err = ds.Open("data", &ds.Options{FS: fs})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var resumed ds.Iterator
	if err := resumed.UnmarshalBinary(saved); err != nil {
		log.Fatal(err)
	}
	msgs, _, _ = db.Next(ctx, resumed, 10)
	fmt.Printf("%s\n", msgs[0].Payload)
	// Output:
	// line 1, line 2
	// line 3
}
