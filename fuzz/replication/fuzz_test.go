package replicationfuzz

import (
	"bytes"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mqttds/mqttds/replication"
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

// FuzzPlanTargets plans a storage's move from arbitrary replica sets onto arbitrary sites and
// replication factors: the targets must pass replication.CheckPlan (every shard on min(rf,
// sites) distinct storage sites, every site within one replica of the others, no replica moved
// without need), and planning again from the targets must move nothing.
//
// The input: a bitmask of the storage's sites (2 bytes, over 16 site ids), the replication
// factor, then one bitmask per shard of its current replicas (2 bytes each).
func FuzzPlanTargets(f *testing.F) {
	f.Add([]byte{0x00, 0x0f, 3, 0x00, 0x07, 0x00, 0x0e, 0x00, 0x0d})
	f.Add([]byte{0x00, 0x07, 3, 0x00, 0x0f, 0x00, 0x0f})
	f.Add([]byte{0xff, 0xff, 5, 0x00, 0x01, 0x00, 0x00, 0x80, 0x01})
	f.Add([]byte{0x00, 0x01, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 || len(data) > 3+2*64 {
			return
		}
		ids := func(mask uint16) []site.ID {
			var out []site.ID
			for i := range 16 {
				if mask&(1<<i) != 0 {
					out = append(out, site.ID(0x100+i))
				}
			}
			return out
		}
		sites := ids(uint16(data[0])<<8 | uint16(data[1]))
		rf := int(data[2]%7) + 1
		var current [][]site.ID
		for i := 3; i+1 < len(data); i += 2 {
			current = append(current, ids(uint16(data[i])<<8|uint16(data[i+1])))
		}
		targets, err := replication.PlanTargets(current, sites, rf)
		if len(sites) == 0 {
			if err == nil {
				t.Fatal("a plan without sites")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := replication.CheckPlan(current, sites, rf, targets); err != nil {
			t.Fatalf("%v → %v on %v (rf %d): %v", current, targets, sites, rf, err)
		}
		leaders := replication.PlanLeaders(targets, nil)
		leads := map[site.ID]int{}
		for s, l := range leaders {
			if !slices.Contains(targets[s], l) {
				t.Fatalf("shard %d: leader %v is not in its target %v", s, l, targets[s])
			}
			leads[l]++
		}
		if rf >= len(sites) && len(targets) > 0 {
			lo, hi := len(targets), 0
			for _, id := range sites {
				lo, hi = min(lo, leads[id]), max(hi, leads[id])
			}
			if hi-lo > 1 {
				t.Fatalf("every shard on every site, yet sites lead between %d and %d shards", lo, hi)
			}
		}
		again, err := replication.PlanTargets(targets, sites, rf)
		if err != nil {
			t.Fatal(err)
		}
		for s := range targets {
			if !slices.Equal(targets[s], again[s]) {
				t.Fatalf("planning again moved shard %d: %v → %v", s, targets[s], again[s])
			}
		}
	})
}
