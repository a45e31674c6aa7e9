package topictest

import "strings"

// NaiveMatch is the reference matcher that clever matchers are tested against: it splits both
// sides on '/' and compares level by level, as the specification's prose reads, with the '$' rule
// [MQTT-4.7.2-1] and `a/#` matching `a` [MQTT-4.7.1-2]. It shares no code with mqtt/topic.
func NaiveMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl, nl := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, f := range fl {
		if f == "#" {
			return true
		}
		if i >= len(nl) || (f != "+" && f != nl[i]) {
			return false
		}
	}
	return len(fl) == len(nl)
}
