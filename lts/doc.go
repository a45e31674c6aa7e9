// Package lts is the learned topic structure: a trie that learns which levels of MQTT topics
// vary and maps every topic to a static index (its stream) plus the list of its varying
// levels. The wildcard_optimized layout keys messages by (static index, time, hashes of the
// varying levels), so that one stream holds many topics in time order and a topic filter
// becomes a small set of streams with constraints on their varying levels.
//
// # Learning
//
// Every state of the trie has an id; ids are allocated 1, 2, 3, ... and never hashed, so no two
// states share one (the reference design hashes ids and tolerates collisions). Edges are
// labelled with a concrete topic level, with '+' (a learned wildcard) or with end-of-topic; the
// id of the end-of-topic state is the topic's static index. Learn walks a topic from the root:
// a concrete edge always wins (so a topic never changes stream once learned), else a '+' edge,
// else a new concrete edge is created; when that brings a node to Options.Thresholds[depth]
// concrete children, a '+' edge is learned for later siblings. Topics whose first level starts
// with '$' live under their own root, so filters starting with '+' or '#' never reach them
// [MQTT-4.7.2-1].
//
// LearnAppend and LookupAppend append the varying levels to a caller's slice: the write path
// reuses one, and learning a known topic then allocates nothing.
//
// For the fleet topics site/{0..99}/dev/{0..999}/temp with the default thresholds [100, 20],
// 20 sites and 20 devices per site stay concrete and the rest share '+' streams: 100,000 topics
// cost a few hundred states.
//
// # Matching
//
// Match turns a topic filter into streams with one Constraint per varying level: a concrete
// filter level follows its concrete edge, or else the '+' edge (constraining that varying
// level to the value); a '+' level follows every edge; '#' takes a whole subtree. A learned
// topic matches the filter exactly when its (index, varying) satisfies one of the results.
//
// # Persistence
//
// Learn returns the new edges as Ops; the layout writes them (Op.AppendKey, Op.AppendValue)
// in the same pebble batch as the messages that caused them, and on open replays them with
// Apply. Ops carry ids, so a replica or a restored trie is identical to the one that learned.
// A new generation starts from WildcardOps: only the paths through '+' edges, with their ids.
// The byte format is described on Op and in DESIGN.md ("LTS").
//
// # Concurrency
//
// One writer (Learn, Apply) at a time, any number of concurrent readers (Lookup, Match,
// WildcardOps, Ops, Stats). Readers share a read lock that the writer takes exclusively only
// to link new states in, when a topic needs states that do not exist yet; learning a known
// topic takes no lock but the writer's own.
//
// # Example
//
//	t := lts.New(nil)
//	var ops []lts.Op
//	idx, varying, ops, err := t.Learn(strings.Split("site/7/dev/42/temp", "/"), ops)
//	// persist ops with the message keyed by (idx, varying...)
//	for _, m := range t.Match(strings.Split("site/+/dev/42/#", "/")) {
//		// scan stream m.Index where each varying level satisfies m.Varying
//	}
package lts
