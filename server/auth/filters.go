package auth

import (
	"strings"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Publishing is checked with topic.Match. Subscribing needs two relations between filters that
// mqtt/topic does not offer, because only an ACL needs them: whether every topic one filter matches is
// also matched by another (an allow rule must cover the whole subscription), and whether two filters
// match any topic in common (a deny rule refuses every subscription it overlaps). Both take valid
// filters without a share prefix, and follow §4.7: '+' is one level, '#' the rest including nothing,
// and a filter starting with a wildcard never matches a topic starting with '$' [MQTT-4.7.2-1].

// covers reports whether every topic name matched by filter f is also matched by rule filter r.
func covers(r, f string) bool {
	rl, fl := topic.Levels(r), topic.Levels(f)
	if isWildcard(rl[0]) && strings.HasPrefix(fl[0], "$") {
		return false // r cannot match the '$' topics that f matches
	}
	for i := 0; ; i++ {
		switch {
		case i == len(rl):
			return i == len(fl)
		case rl[i] == "#":
			return true
		case i == len(fl):
			return false // f stops where r still needs a level ("a" is not covered by "a/b")
		case fl[i] == "#":
			// f reaches topics of every depth from here on, r (no '#' here) does not, and f's '#' may
			// match nothing, leaving a topic that r needs more levels for. Except where the levels before
			// '#' spell the empty name: matching nothing would give the invalid topic "", so there '#'
			// means one or more levels, which "+/#" covers ("#" is "+/#"; "/#" is "+/+/#" on "/…").
			emptyPrefix := i == 0 || (i == 1 && fl[0] == "")
			return emptyPrefix && len(rl) == i+2 && rl[i] == "+" && rl[i+1] == "#"
		case rl[i] == "+":
			continue
		case fl[i] == "+" || rl[i] != fl[i]:
			return false
		}
	}
}

// intersects reports whether some topic name is matched by both filters.
func intersects(a, b string) bool {
	al, bl := topic.Levels(a), topic.Levels(b)
	if dollarClash(al[0], bl[0]) || dollarClash(bl[0], al[0]) {
		return false
	}
	for i := 0; ; i++ {
		aDone, bDone := i == len(al), i == len(bl)
		switch {
		case aDone && bDone:
			return true
		case (!aDone && al[i] == "#") || (!bDone && bl[i] == "#"):
			// '#' also matches nothing, so it meets whatever the other filter still asks; except that
			// "matching nothing" after one empty level would be the empty topic name, which is invalid
			// ("/#" and "+" share no topic).
			return !((aDone || bDone) && i == 1 && (al[0] == "" || bl[0] == ""))
		case aDone || bDone:
			return false
		case al[i] == "+" || bl[i] == "+" || al[i] == bl[i]:
			continue
		default:
			return false
		}
	}
}

// dollarClash reports whether a first level that is a wildcard meets a literal '$' first level, which
// it can never match.
func dollarClash(wild, literal string) bool {
	return isWildcard(wild) && strings.HasPrefix(literal, "$")
}

func isWildcard(level string) bool { return level == "+" || level == "#" }
