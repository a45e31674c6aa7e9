package durable

import "strings"

// A durable shared subscription ("$share/{group}/{filter}") is kept in two places:
//
//   - each member records the full shared filter among its own subscriptions, so that its
//     membership survives a restart with the rest of its state. A shared filter has no
//     streams of its own in the member (no cursor, no route): the member never reads it.
//   - the group itself is a Session of its own, named by GroupSessionID, subscribed to the
//     plain filter. Its cursors are the group's position in the streams, and its in-flight
//     table holds the messages handed to some member and not yet finished: the entry is
//     durable before the PUBLISH goes to the member, and a restart finds every unfinished
//     message there (Session.Replay). Which member holds a QoS 2 entry, under which of its
//     packet ids, is a hold record of the group's session (Hold, group_hold.go), durable
//     before the PUBLISH goes out and, once the member sent PUBREC, before its PUBREL does.
//     After a restart the broker gives each held message back to its member
//     (Session.RestoreTransient takes the member's packet id again) and hands out the rest,
//     QoS 1 hand-outs included (their member is kept in memory only).
//
// The group's backlog therefore persists while all members are away, exactly like an
// offline session's.

// groupPrefix starts every group session id. A NUL cannot appear in an MQTT client id
// [MQTT-1.5.4-2], so a group id never collides with a client's.
const groupPrefix = "\x00share\x00"

// GroupSessionID returns the id of the session that holds the state of shared group name on
// filter (the filter without its "$share/{group}/" prefix).
func GroupSessionID(name, filter string) string {
	return groupPrefix + name + "\x00" + filter
}

// ParseGroupSessionID splits a group session id; ok is false for a client's session.
func ParseGroupSessionID(id string) (name, filter string, ok bool) {
	rest, ok := strings.CutPrefix(id, groupPrefix)
	if !ok {
		return "", "", false
	}
	name, filter, ok = strings.Cut(rest, "\x00")
	return name, filter, ok
}

// IsShared reports whether a subscription filter is a shared one ("$share/..."; the broker
// stores "$queue/" subscriptions in that canonical form too). A member's shared
// subscription is not routed nor read by the member: its group session does both.
func IsShared(filter string) bool {
	return strings.HasPrefix(filter, "$share/")
}
