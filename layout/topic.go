package layout

// matchTopic reports whether topic (an MQTT topic name) matches filter (the levels of an MQTT
// topic filter). '+' matches one level, '#' (last) matches the rest including none, and a
// wildcard in the first filter level does not match a topic that starts with '$'
// [MQTT-4.7.2-1]. It does not allocate: it runs once per candidate message.
func matchTopic(filter []string, topic []byte) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == "+" || filter[0] == "#") {
		return false
	}
	rest := topic
	for _, f := range filter {
		if f == "#" {
			return true
		}
		if rest == nil {
			return false // the topic has fewer levels than the filter
		}
		level := rest
		rest = nil
		for j, c := range level {
			if c == '/' {
				rest = level[j+1:]
				level = level[:j]
				break
			}
		}
		if f != "+" && f != string(level) {
			return false
		}
	}
	return rest == nil
}
