// Package topic holds the MQTT rules for topic names and topic filters: validation, wildcard matching,
// shared-subscription parsing and cheap level splitting. It is used by the codec, the broker's
// subscription index and retained store, and the storage layers: ds validates the topics it stores and
// the filters it reads with, layout checks each candidate message against the reader's filter
// (MatchLevels). It imports only the standard library, so that every layer may import it.
//
// It is not a subscription index (see server/subscriptions) and it knows nothing about packets.
//
// # Vocabulary
//
// A topic name is what a PUBLISH carries ("sport/tennis/player1"); it never contains a wildcard. A topic
// filter is what a SUBSCRIBE carries ("sport/+/player1", "sport/#"). Both are split into levels by '/';
// empty levels are legal and significant ("/a" has two levels, "" and "a"). A shared subscription wraps a
// filter as "$share/{group}/{filter}" (MQTT 5) or, in the older form some brokers accept,
// "$queue/{filter}", which this package treats as the group "$queue".
//
// # Rules
//
// Every check cites the statement it enforces, in the form used by the team's digest of the
// specifications, for example [MQTT-4.7.1-1] v5. The errors this package returns are *RuleError values
// (or wrap one) so a caller can both test them with errors.Is and read the rule id for a reason string.
//
// # Concurrency
//
// Every function is pure and safe for concurrent use. Options values are read, never written, by the
// functions that take them.
//
// # Example
//
//	if err := topic.ValidateName(name); err != nil {
//		// reject the PUBLISH: err cites the rule, e.g. [MQTT-4.7.0-1] v5
//	}
//	f, err := topic.ParseFilter("$share/workers/jobs/+")
//	// f.Group == "workers", f.Filter == "jobs/+"
//	ok := topic.Match(f.Filter, "jobs/42") // true
package topic
