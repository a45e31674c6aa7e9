// Package subscriptions is the broker's in-memory subscription index and retained-topic index.
//
// Index answers, for one PUBLISH, "who gets a copy": it maps a topic name to one Subscriber per
// non-shared subscribing client (overlapping subscriptions merged) plus one Subscriber per matching shared
// subscription, whose members the caller chooses from with Subscriber.Pick. Retained answers the reverse
// question for a new subscription: which stored topic names does a filter match.
//
// The package keeps no messages, sessions or connections, and persists nothing: the broker owns those
// and rebuilds the index from its durable session state at start-up.
//
// # Structure
//
// Both indexes are tries with one node per topic level. A node keeps its exact children in a short slice,
// or a map once it has more than eight, and its '+' and '#' children in fields of their own, so matching
// a name costs one look-up per level along each branch that can match, whatever the number of
// subscriptions:
//
//	root ─┬─ "sensors" ─┬─ "+" ──── "temp"      filter sensors/+/temp
//	      │             └─ "#"                  filter sensors/#
//	      └─ "#"                                filter #   (never matches "$SYS/...")
//
// # Concurrency
//
// Index and Retained are safe for concurrent use. Both take a sync.RWMutex: Match runs under the read
// lock, Add, Remove and Set under the write lock. A broker matches far more often than it subscribes, and
// on the read side the lock costs two atomic operations per Match (see BenchmarkMatchParallel).
//
// # Rules applied
//
//   - matching, including [MQTT-4.7.2-1] v5 for '$' topics, follows mqtt/topic;
//   - a SUBSCRIBE to a filter the client already has replaces that subscription
//     [MQTT-3.8.4-3] v5, and Add reports it so that the broker can apply retain handling 1
//     [MQTT-3.3.1-10] v5;
//   - overlapping subscriptions of one client become one delivery at the highest QoS
//     [MQTT-3.3.4-2] v5 carrying every matching subscription identifier [MQTT-3.3.4-3] v5,
//     [MQTT-3.3.4-4] v5;
//   - No Local subscriptions never receive their own client's messages [MQTT-3.8.3-3] v5, and No Local is
//     refused on shared subscriptions [MQTT-3.8.3-4] v5;
//   - a shared subscription delivers each message to one member (MQTT5 §4.8.2), at that member's own
//     QoS [MQTT-4.8.2-3] v5 and with only its own subscription identifier.
//
// # Example
//
//	ix := subscriptions.New()
//	ix.Add("c1", "sensors/+/temp", subscriptions.Options{QoS: 1, SubscriptionID: 7})
//	ix.Add("c1", "sensors/#", subscriptions.Options{QoS: 2})
//	ix.Add("w1", "$share/workers/sensors/#", subscriptions.Options{QoS: 1})
//	subs := ix.Match("sensors/kitchen/temp", "publisher", nil)
//	// one entry for c1 (QoS 2, ids [7]) and one for the group "workers":
//	for i := range subs {
//		if subs[i].Shared() {
//			m, ok := subs[i].Pick(subscriptions.RoundRobin, "publisher", isOnline)
//			...
//		}
//	}
package subscriptions
