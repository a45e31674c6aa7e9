package replicationfuzz

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/snapstream"
	"github.com/mqttds/mqttds/replication/transport"
)

// FuzzReadFrame feeds arbitrary bytes to the frame decoder: it must return an error or a
// message, never panic or allocate past the frame limit, and a decoded frame must encode back
// to a frame that decodes to the same message.
func FuzzReadFrame(f *testing.F) {
	m := &pb.Message{Type: pb.MessageType_MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)),
		Entries: []*pb.Entry{{Index: new(uint64(4)), Term: new(uint64(3)), Data: []byte("cooked")}}}
	good, err := transport.AppendFrame(nil, 1, 7, m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{0, 0, 0, 12, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		from, group, msg, err := transport.ReadFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		again, err := transport.AppendFrame(nil, from, group, msg)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		from2, group2, msg2, err := transport.ReadFrame(bytes.NewReader(again))
		if err != nil || from2 != site.ID(from) || group2 != group || !proto.Equal(msg, msg2) {
			t.Fatalf("round trip changed the frame: %v", err)
		}
	})
}

// FuzzSnapshotStream feeds arbitrary bytes to the snapshot stream decoder: it must return an
// error or records in strictly increasing key order, never panic, and what it decodes must
// encode to a stream that decodes to the same records.
func FuzzSnapshotStream(f *testing.F) {
	var good bytes.Buffer
	w := snapstream.NewWriter(&good)
	_ = w.Header([]byte("header"))
	_ = w.Add([]byte("a"), []byte("1"))
	_ = w.Add([]byte("b"), nil)
	_ = w.Close()
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()-3])
	f.Add([]byte("MQDSSNP1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		header, keys, values, err := readSnapshot(data)
		if err != nil {
			return
		}
		var again bytes.Buffer
		w := snapstream.NewWriter(&again)
		if err := w.Header(header); err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if err := w.Add(keys[i], values[i]); err != nil {
				t.Fatalf("decoded records do not encode: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		header2, keys2, values2, err := readSnapshot(again.Bytes())
		if err != nil || !bytes.Equal(header, header2) || len(keys) != len(keys2) {
			t.Fatalf("round trip changed the stream: %v", err)
		}
		for i := range keys {
			if !bytes.Equal(keys[i], keys2[i]) || !bytes.Equal(values[i], values2[i]) {
				t.Fatalf("record %d changed", i)
			}
		}
	})
}

func readSnapshot(data []byte) (header []byte, keys, values [][]byte, err error) {
	r := snapstream.NewReader(bytes.NewReader(data))
	if header, err = r.Header(); err != nil {
		return nil, nil, nil, err
	}
	for {
		k, v, ok, err := r.Next()
		if err != nil {
			return nil, nil, nil, err
		}
		if !ok {
			return header, keys, values, nil
		}
		keys = append(keys, bytes.Clone(k))
		values = append(values, bytes.Clone(v))
	}
}
