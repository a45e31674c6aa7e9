package dsfuzz

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/layout"
)

// FuzzIteratorUnmarshal feeds arbitrary bytes to Iterator.UnmarshalBinary: it must fail
// cleanly or give an iterator that marshals back to the same bytes.
func FuzzIteratorUnmarshal(f *testing.F) {
	db := openFuzzDB(f)
	streams, err := db.GetStreams("a/+", 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range streams {
		it, err := db.MakeIterator(s.Stream, "a/+", 0)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := it.MarshalBinary()
		f.Add(b)
		sb, _ := s.Stream.MarshalBinary()
		f.Add(sb)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var it ds.Iterator
		if err := it.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ds.ErrBadIterator) {
				t.Fatalf("error %v does not wrap ErrBadIterator", err)
			}
		} else {
			again, err := it.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("round trip: %x -> %x (%v)", b, again, err)
			}
			// A decoded iterator may point anywhere: Next must fail cleanly or work.
			db.Next(context.Background(), it, 3)
		}
		var s ds.Stream
		if err := s.UnmarshalBinary(b); err == nil {
			again, _ := s.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Fatalf("stream round trip: %x -> %x", b, again)
			}
			db.MakeIterator(s, "#", 0)
		}
	})
}

// FuzzFilter checks that GetStreams accepts exactly the valid MQTT topic filters and never
// panics.
func FuzzFilter(f *testing.F) {
	db := openFuzzDB(f)
	for _, s := range []string{"#", "a/+", "a/#", "+/+/c", "a/#/b", "a+", "", "\x00", "/", "//#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		_, err := db.GetStreams(filter, 0)
		if err != nil && !errors.Is(err, ds.ErrInvalidTopic) {
			t.Fatalf("filter %q: %v", filter, err)
		}
	})
}

// FuzzMessageRoundTrip stores a message built from the input and reads it back: every field
// survives, or Store rejects the message with ErrInvalidTopic / ErrInvalidMessage.
func FuzzMessageRoundTrip(f *testing.F) {
	db := openFuzzDB(f)
	streams, err := db.GetStreams("#", 0)
	if err != nil || len(streams) != 1 {
		f.Fatalf("streams %v: %v", streams, err)
	}
	it, err := db.MakeIterator(streams[0].Stream, "#", 0)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Add("t/1", []byte("payload"), byte(1), true, "text/plain", []byte("corr"), "reply", "k", "v", byte(1), uint32(60), true)
	f.Add("a", bytes.Repeat([]byte("ab"), 100), byte(0), false, "", []byte(nil), "", "", "", byte(0), uint32(0), false)
	f.Add("bad/+", []byte{}, byte(3), false, "", []byte{}, "", "", "", byte(2), uint32(0), false)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, qos byte, retain bool, contentType string,
		corr []byte, response, key, value string, format byte, expiry uint32, hasExpiry bool) {
		m := ds.Message{ClientID: "fuzz", Topic: topic, Payload: payload, QoS: qos, Retain: retain,
			Properties: ds.Properties{ContentType: contentType, CorrelationData: corr, ResponseTopic: response,
				PayloadFormat: format, MessageExpiry: expiry, HasMessageExpiry: hasExpiry}}
		if key != "" || value != "" {
			m.Properties.UserProperties = []ds.UserProperty{{Key: key, Value: value}}
		}
		if err := db.Store(ctx, []ds.Message{m}, ds.Sync); err != nil {
			if !errors.Is(err, ds.ErrInvalidTopic) && !errors.Is(err, ds.ErrInvalidMessage) {
				t.Fatal(err)
			}
			return
		}
		msgs, next, err := db.Next(ctx, it, 2)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("read back %d messages: %v", len(msgs), err)
		}
		it = next
		got := msgs[0].Message
		if !hasExpiry {
			m.Properties.MessageExpiry = 0
		}
		if got.Topic != m.Topic || !bytes.Equal(got.Payload, m.Payload) || got.QoS != m.QoS || got.Retain != m.Retain ||
			got.Properties.ContentType != m.Properties.ContentType || got.Properties.ResponseTopic != m.Properties.ResponseTopic ||
			!bytes.Equal(got.Properties.CorrelationData, m.Properties.CorrelationData) ||
			(got.Properties.CorrelationData == nil) != (m.Properties.CorrelationData == nil) ||
			got.Properties.PayloadFormat != m.Properties.PayloadFormat ||
			got.Properties.MessageExpiry != m.Properties.MessageExpiry || got.Properties.HasMessageExpiry != m.Properties.HasMessageExpiry ||
			len(got.Properties.UserProperties) != len(m.Properties.UserProperties) {
			t.Fatalf("stored %+v, read %+v", m, got)
		}
		for i, up := range m.Properties.UserProperties {
			if got.Properties.UserProperties[i] != up {
				t.Fatalf("user property %d: %v != %v", i, got.Properties.UserProperties[i], up)
			}
		}
	})
}

// openFuzzDB opens an in-memory store with one shard, the reference layout (one stream) and
// s2 compression.
func openFuzzDB(f *testing.F) *ds.DB {
	db, err := ds.Open("fuzz", &ds.Options{
		FS: vfs.NewMem(), NumShards: 1, Compression: ds.S2Compression,
		Layout:    layout.Options{Kind: layout.KindReference},
		Retention: ds.RetentionOptions{Disabled: true},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	return db
}

// FuzzStoreForwarded feeds arbitrary bytes to the decoder of forwarded writes (a peer's
// request): it must refuse them with an error or commit them, never panic, and never leave
// the store failing its own checks.
func FuzzStoreForwarded(f *testing.F) {
	db := openFuzzDB(f)
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 1, 1, 'a', 3, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 1, 1, 4, 1, 0, 'k', 0, 0, 1, 'v'})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := db.StoreForwarded(context.Background(), 0, data); err != nil {
			return
		}
		if err := db.Check(); err != nil {
			t.Fatalf("a forwarded write broke the store: %v", err)
		}
	})
}

// FuzzServeRead feeds arbitrary bytes to the decoder of remote reads (a peer's request): it
// must refuse them with an error or answer them, never panic, and never change what is
// stored. An answer starts with a status byte.
func FuzzServeRead(f *testing.F) {
	db := openFuzzDB(f)
	ctx := context.Background()
	if err := db.Store(ctx, []ds.Message{{ClientID: "c", Topic: "a/b", Payload: []byte("p"), QoS: 1}}, ds.Sync); err != nil {
		f.Fatal(err)
	}
	streams, err := db.GetStreams("#", 0)
	if err != nil || len(streams) == 0 {
		f.Fatalf("streams %v: %v", streams, err)
	}
	sb, _ := streams[0].Stream.MarshalBinary()
	it, err := db.MakeIterator(streams[0].Stream, "#", 0)
	if err != nil {
		f.Fatal(err)
	}
	ib, _ := it.MarshalBinary()
	withBytes := func(head []byte, parts ...[]byte) []byte {
		for _, p := range parts {
			head = append(append(head, byte(len(p))), p...)
		}
		return head
	}
	f.Add([]byte{1, 1, 1, '#', 0})                               // streams
	f.Add(append(withBytes([]byte{1, 2}, sb, []byte("a/+")), 0)) // iterator
	f.Add(withBytes([]byte{1, 3}, ib, []byte("key")))            // update
	f.Add(append(withBytes([]byte{1, 4}, ib), 10))               // next
	f.Add(withBytes([]byte{1, 5}, []byte("t"), []byte("k")))     // get
	f.Add(withBytes([]byte{1, 6}, []byte("t"), nil))             // scan
	f.Add([]byte{1, 7})                                          // barrier
	f.Add([]byte{1, 8, 1, 0, 0})                                 // wait
	f.Add([]byte{2, 1})
	if err := db.Check(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A wait for a commit ends with the context: keep it short.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		ans, err := db.ServeRead(ctx, 0, data)
		if err != nil {
			return
		}
		if len(ans) == 0 {
			t.Fatalf("an empty answer to %x", data)
		}
		if err := db.Check(); err != nil {
			t.Fatalf("a read broke the store: %v", err)
		}
	})
}
