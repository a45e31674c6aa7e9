package durable

import (
	"errors"
	"fmt"

	"github.com/mqttds/mqttds/ds"
)

// StoredCounts reads from the session table how many messages a stored session has in flight
// (sent, not yet acknowledged) and how many inbound QoS 2 packet ids await PUBREL, without
// loading the session: the API's details of a compact session. ok is false when no such session
// is stored.
func (st *Store) StoredCounts(clientID string) (inflight, awaitingRel int, ok bool, err error) {
	shard := ds.ShardOf(clientID, st.db.NumShards())
	if _, err := st.tab.Get(shard, metaKey(clientID)); err != nil {
		if errors.Is(err, ds.ErrNotFound) {
			return 0, 0, false, nil
		}
		return 0, 0, false, err
	}
	err = st.tab.Scan(shard, sessionPrefix(kindInflight, clientID), func(k, v []byte) error {
		_, cid, rest, err := parseSessionKey(k)
		if err != nil || cid != clientID {
			return err
		}
		b, _, err := decodeInflightRecord(rest, v)
		if err != nil {
			return fmt.Errorf("session %q key %x: %w", clientID, k, err)
		}
		inflight += b.open
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	err = st.tab.Scan(shard, sessionPrefix(kindRel, clientID), func(k, _ []byte) error {
		if _, cid, _, err := parseSessionKey(k); err != nil || cid != clientID {
			return err
		}
		awaitingRel++
		return nil
	})
	return inflight, awaitingRel, err == nil, err
}
