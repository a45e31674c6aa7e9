package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
)

// RetainedTable is the ds KV table that holds retained messages.
const RetainedTable = "retained"

// DSRetained is a RetainedStore kept in a ds KV table, so retained messages
// survive a restart. Each change is written durably (group-committed with
// the shard's other writes) before it shows in the in-memory index, which
// serves every Match; the index is rebuilt from the table at open.
//
// This file is the only place in server/ that imports ds.
type DSRetained struct {
	mem *MemRetained
	tab *ds.Table
	n   int
	// shardMu[i] orders the writes of shard i, so that the table and the
	// index apply two writes to one topic in the same order.
	shardMu []sync.Mutex
}

var _ RetainedStore = (*DSRetained)(nil)

// OpenDSRetained opens (creating if need be) the retained table of db and
// loads it. Expired messages found at load are deleted.
func OpenDSRetained(db *ds.DB) (*DSRetained, error) {
	tab, err := db.Table(RetainedTable)
	if err != nil {
		return nil, err
	}
	r := &DSRetained{mem: NewMemRetained(), tab: tab, n: db.NumShards(), shardMu: make([]sync.Mutex, db.NumShards())}
	now := time.Now()
	for shard := range r.n {
		var expired [][]byte
		err := tab.Scan(shard, nil, func(key, value []byte) error {
			m, err := decodeRetained(string(key), value)
			if err != nil {
				return fmt.Errorf("server: retained message %q: %w", key, err)
			}
			if m.expired(now) {
				expired = append(expired, append([]byte(nil), key...))
				return nil
			}
			return r.mem.Set(m)
		})
		if err != nil {
			return nil, err
		}
		for _, k := range expired {
			if err := tab.Delete(context.Background(), shard, k); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func (r *DSRetained) shard(topic string) int { return ds.ShardOf(topic, r.n) }

// Set implements RetainedStore.
func (r *DSRetained) Set(m *Message) error {
	sh := r.shard(m.Topic)
	r.shardMu[sh].Lock()
	defer r.shardMu[sh].Unlock()
	if err := r.tab.Put(context.Background(), sh, []byte(m.Topic), encodeRetained(m)); err != nil {
		return err
	}
	return r.mem.Set(m)
}

// Delete implements RetainedStore.
func (r *DSRetained) Delete(topic string) error {
	sh := r.shard(topic)
	r.shardMu[sh].Lock()
	defer r.shardMu[sh].Unlock()
	if err := r.tab.Delete(context.Background(), sh, []byte(topic)); err != nil {
		return err
	}
	return r.mem.Delete(topic)
}

// Mirror applies a retained message another broker of the cluster wrote to the shared table
// (an empty payload deletes) to the in-memory index only.
func (r *DSRetained) Mirror(m *Message) error {
	sh := r.shard(m.Topic)
	r.shardMu[sh].Lock()
	defer r.shardMu[sh].Unlock()
	if len(m.Payload) == 0 {
		return r.mem.Delete(m.Topic)
	}
	return r.mem.Set(m)
}

// Match implements RetainedStore. Expired messages are skipped; they leave
// the table at the next open or when their topic is written again.
func (r *DSRetained) Match(filter string, now time.Time, dst []*Message) ([]*Message, error) {
	return r.mem.Match(filter, now, dst)
}

// Len implements RetainedStore.
func (r *DSRetained) Len() int { return r.mem.Len() }

// All appends every unexpired retained message to dst, '$' topics included (the API's list).
func (r *DSRetained) All(now time.Time, dst []*Message) []*Message { return r.mem.All(now, dst) }

// RetainedFormatV1 is the only format of a retained message value so far.
//
// The key is the topic name. The value:
//
//	+---------+-----+--------+-------------+-------------+-----------+--------------+----------------+
//	| version | qos | format | created µs  | expires µs  | publisher | content type | response topic |
//	| 1 byte  | 1 B | 1 byte | uvarint     | uvarint, 0  | string    | string       | string         |
//	|   = 1   |     |  PFI   | (unix)      |  = never    |           |              |                |
//	+---------+-----+--------+-------------+-------------+-----------+--------------+----------------+
//	| correlation data | user properties                        | payload              |
//	| bytes            | uvarint count, then key, value strings | the rest of the value |
//	+------------------+----------------------------------------+----------------------+
//
// string and bytes are a uvarint length followed by that many bytes.
const RetainedFormatV1 = 1

func encodeRetained(m *Message) []byte {
	b := make([]byte, 0, 32+len(m.Topic)+len(m.Payload)+len(m.ContentType)+len(m.ResponseTopic)+len(m.CorrelationData))
	b = append(b, RetainedFormatV1, byte(m.QoS), m.PayloadFormat)
	b = binary.AppendUvarint(b, uint64(m.Created.UnixMicro()))
	var exp uint64
	if !m.Expires.IsZero() {
		exp = uint64(m.Expires.UnixMicro())
	}
	b = binary.AppendUvarint(b, exp)
	for _, s := range []string{m.Publisher, m.ContentType, m.ResponseTopic, string(m.CorrelationData)} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.User)))
	for _, u := range m.User {
		b = appendString(appendString(b, u.Key), u.Value)
	}
	return append(b, m.Payload...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errRetainedCorrupt = errors.New("corrupt retained message value")

// retainedReader decodes the fields of encodeRetained; the first error
// sticks.
type retainedReader struct {
	b   []byte
	err error
}

func (r *retainedReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errRetainedCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *retainedReader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errRetainedCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func decodeRetained(topic string, v []byte) (*Message, error) {
	if len(v) < 3 {
		return nil, errRetainedCorrupt
	}
	if v[0] != RetainedFormatV1 {
		return nil, fmt.Errorf("retained message format %d is newer than this broker", v[0])
	}
	m := &Message{Topic: topic, QoS: mqtt.QoS(v[1]), PayloadFormat: v[2], Retain: true}
	r := retainedReader{b: v[3:]}
	m.Created = time.UnixMicro(int64(r.uvarint()))
	if exp := r.uvarint(); exp != 0 {
		m.Expires = time.UnixMicro(int64(exp))
	}
	m.Publisher = r.string()
	m.ContentType = r.string()
	m.ResponseTopic = r.string()
	if cd := r.string(); cd != "" {
		m.CorrelationData = []byte(cd)
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return nil, errRetainedCorrupt
	}
	for range n {
		m.User = append(m.User, mqtt.UserProperty{Key: r.string(), Value: r.string()})
	}
	if r.err != nil {
		return nil, r.err
	}
	if m.QoS > mqtt.QoS2 {
		return nil, errRetainedCorrupt
	}
	m.Payload = append([]byte(nil), r.b...)
	return m, nil
}
