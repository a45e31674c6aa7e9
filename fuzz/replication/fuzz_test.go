package replicationfuzz

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mqttds/mqttds/replication/site"
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
