package ds

import (
	"bytes"
	"encoding/binary"
)

// The pebble keyspace of a store. Everything that belongs to one shard lives under the shard's
// prefix, so a shard can later be copied (raft snapshot) with one range scan.
//
//	key                                          value
//	0x00 'f'                                     format record        (formatRecord)
//	0x00 'c'                                     catalog              (catalog)
//	0x00 't' <table name>                        format 1 only: table id (uint16 BE)
//	0x01 <shard:2> 'c'                           shard clock          (uint64 BE, last timestamp, µs)
//	0x01 <shard:2> 'g' <gen:4>                   generation record    (generationRecord)
//	0x01 <shard:2> 'm' <gen:4> ...               messages of the generation: owned by its layout
//	0x01 <shard:2> 'k' <table:2> <key>           format 1 only: KV value of table number <table>
//	0x01 <shard:2> 'v' <len:1> <table name> <key> KV table value       (user bytes)
//	0x01 <shard:2> 'r' ...                       replica state        (owned by the Applier)
//
// Shards are big-endian so that keys sort by number; generations likewise, so that a shard's
// generations are in order.
//
// A KV key names its table, rather than a number from a catalog: a replicated batch or a
// forwarded write carries its keys to other stores, which must read them as the same table
// whatever order they opened their tables in. Format 1 numbered tables in a per-store catalog
// ('t' and 'k' above); Open rewrites such a store (upgrade.go).
const (
	keyGlobal byte = 0x00
	keyShard  byte = 0x01

	keyFormat  byte = 'f'
	keyCatalog byte = 'c'
	keyTable   byte = 't'

	keyShardClock   byte = 'c'
	keyShardGen     byte = 'g'
	keyShardMsgs    byte = 'm'
	keyShardKV      byte = 'v'
	keyShardKVV1    byte = 'k'
	keyShardReplica byte = 'r'

	// maxShards bounds NumShards: the shard number has two bytes in keys.
	maxShards = 1 << 16
)

var (
	formatKey  = []byte{keyGlobal, keyFormat}
	catalogKey = []byte{keyGlobal, keyCatalog}
)

func tableNameKeyV1(name string) []byte {
	return append([]byte{keyGlobal, keyTable}, name...)
}

func shardPrefix(shard int) []byte {
	return []byte{keyShard, byte(shard >> 8), byte(shard)}
}

func shardClockKey(shard int) []byte {
	return append(shardPrefix(shard), keyShardClock)
}

// ReplicaStateKey is the key a replicated Applier keeps its state in for shard (the raft
// applied index): under the shard's prefix, so that a snapshot of the shard carries it, and
// never written by ds itself.
func ReplicaStateKey(shard int) []byte {
	return append(shardPrefix(shard), keyShardReplica)
}

// ShardSpan returns the key range [start, end) that holds everything of shard: clock,
// generations, messages, KV values and replica state. A replica snapshot copies this span.
func ShardSpan(shard int) (start, end []byte) {
	p := shardPrefix(shard)
	return p, prefixEnd(p)
}

func generationKey(shard int, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(append(shardPrefix(shard), keyShardGen), gen)
}

// generationsPrefix is the common prefix of a shard's generation records.
func generationsPrefix(shard int) []byte {
	return append(shardPrefix(shard), keyShardGen)
}

// messagesPrefix is the prefix ds gives the layout of one generation: the layout owns every key
// that starts with it.
func messagesPrefix(shard int, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(append(shardPrefix(shard), keyShardMsgs), gen)
}

// kvPrefix is the prefix of table's keys in shard. The name's length comes first, so that no
// table's prefix is a prefix of another's.
func kvPrefix(shard int, table string) []byte {
	return append(append(shardPrefix(shard), keyShardKV, byte(len(table))), table...)
}

func kvKey(shard int, table string, key []byte) []byte {
	return append(kvPrefix(shard, table), key...)
}

// isKVKey reports whether key is a KV key of shard: its prefix, then a table name of 1 to
// maxTableName bytes.
func isKVKey(shard int, key []byte) bool {
	p := shardPrefix(shard)
	if len(key) < len(p)+2 || !bytes.HasPrefix(key, p) || key[len(p)] != keyShardKV {
		return false
	}
	n := int(key[len(p)+1])
	return n > 0 && len(key) >= len(p)+2+n
}

// kvPrefixV1 is the prefix of a format 1 table's keys in shard.
func kvPrefixV1(shard int, table uint16) []byte {
	return binary.BigEndian.AppendUint16(append(shardPrefix(shard), keyShardKVV1), table)
}

// prefixEnd returns the smallest key greater than every key with prefix p, or nil if there is
// none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
