// Package snapstream encodes and decodes the byte stream that carries a snapshot of one shard
// replica from the site that took it to the site that installs it.
//
// A stream is the magic "MQDSSNP1" followed by frames, each
//
//	kind:1  length:4 (big endian)  crc32c(kind, payload):4  payload
//
// of three kinds, in this order:
//
//	'h' once, first: the header, opaque to this package (the raft message that announces the
//	    snapshot)
//	'd' any number: records, each a uvarint key length, the key, a uvarint value length and
//	    the value; keys strictly increasing across the whole stream
//	'e' once, last: the number of records (8 bytes, big endian)
//
// Every frame is checked on its own, so a damaged or cut stream is refused before anything of
// it is installed; the end frame's count catches a stream cut at a frame boundary.
package snapstream
