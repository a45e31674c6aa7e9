package topic

// Match reports whether the topic name matches the topic filter. Both are assumed valid (see
// ValidateName and ValidateFilter); on invalid input Match returns some answer and never panics. The
// filter must not carry a "$share/" prefix: strip it with ParseFilter first, since the prefix is not part
// of what is matched (MQTT5 §4.8.2).
//
// The rules, from §4.7 of both specifications:
//   - levels are compared byte for byte, without any normalisation [MQTT-4.7.3-4] v5;
//   - '+' matches exactly one level, which may be empty ("a/+" matches "a/" but not "a");
//   - '#' matches the rest of the topic, including nothing: "a/#" matches "a" and "a/b/c";
//   - a filter starting with '+' or '#' never matches a name starting with '$' [MQTT-4.7.2-1] v5.
//
// Match does not allocate.
func Match(filter, name string) bool {
	if len(name) > 0 && name[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1] v5
	}
	f, n := 0, 0
	for {
		// Invariant: f and n are at the start of a level in filter and name respectively.
		if f < len(filter) && filter[f] == '#' {
			return true
		}
		fEnd := levelEnd(filter, f)
		if f+1 == fEnd && filter[f] == '+' {
			// '+' consumes the name's level, whatever it holds.
		} else if filter[f:fEnd] != name[n:levelEnd(name, n)] {
			return false
		}
		nEnd := levelEnd(name, n)
		fDone, nDone := fEnd == len(filter), nEnd == len(name)
		switch {
		case fDone && nDone:
			return true
		case nDone:
			// The name is exhausted; only a trailing "/#" can still match ("a/#" matches "a").
			return fEnd+2 == len(filter) && filter[fEnd+1] == '#'
		case fDone:
			return false
		}
		f, n = fEnd+1, nEnd+1
	}
}

// levelEnd returns the index of the '/' that ends the level starting at i, or len(s).
func levelEnd(s string, i int) int {
	for ; i < len(s); i++ {
		if s[i] == '/' {
			return i
		}
	}
	return len(s)
}

// MatchLevels is Match for a filter already split into its levels (see Levels), the form the storage
// layers keep, and a name that may be a string or the bytes of one as stored. It applies the same
// rules as Match and does not allocate either: readers call it once per candidate message.
func MatchLevels[N string | []byte](filter []string, name N) bool {
	if len(filter) == 0 {
		return false
	}
	if len(name) > 0 && name[0] == '$' && (filter[0] == "+" || filter[0] == "#") {
		return false // [MQTT-4.7.2-1] v5
	}
	rest, more := name, true
	for _, f := range filter {
		if f == "#" {
			return true // the rest of the name, including nothing: "a/#" matches "a"
		}
		if !more {
			return false // the name has fewer levels than the filter
		}
		level := rest
		more = false
		for i := 0; i < len(rest); i++ {
			if rest[i] == Separator {
				level, rest, more = rest[:i], rest[i+1:], true
				break
			}
		}
		if f != "+" && f != string(level) {
			return false // levels compare byte for byte [MQTT-4.7.3-4] v5
		}
	}
	return !more
}
