package authfuzz

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/auth"
)

func FuzzParseACL(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		rules, err := auth.ParseACL(strings.NewReader(text), "fuzz")
		if err != nil {
			return
		}
		var printed strings.Builder
		for _, r := range rules {
			printed.WriteString(r.String() + "\n")
		}
		again, err := auth.ParseACL(strings.NewReader(printed.String()), "printed")
		if err != nil {
			t.Fatalf("printed rules do not parse: %v\n%s", err, printed.String())
		}
		if len(again) != len(rules) {
			t.Fatalf("%d rules printed, %d parsed back", len(rules), len(again))
		}
		for i := range rules {
			rules[i].Line, again[i].Line = 0, 0
			if !reflect.DeepEqual(rules[i], again[i]) {
				t.Fatalf("rule %d: %+v printed as %q parses to %+v", i, rules[i], rules[i].String(), again[i])
			}
		}
		// Checking never panics, whatever the identity.
		acl := auth.NewACL(rules, auth.Deny)
		id := auth.Identity{ClientID: "c+", Username: "u", Addr: netip.MustParseAddr("10.0.0.1")}
		acl.Check(id, auth.Publish, "a/b")
		acl.Check(id, auth.Subscribe, "#")
	})
}

func FuzzSubscribeRules(f *testing.F) {
	f.Fuzz(func(t *testing.T, rule, sub, name string) {
		if topic.ValidateFilter(rule) != nil || strings.HasPrefix(rule, "$share/") || strings.HasPrefix(rule, "$queue/") ||
			strings.Contains(rule, "%") || topic.ValidateFilter(sub) != nil || topic.ValidateName(name) != nil {
			return
		}
		parse := func(decision string, noMatch auth.Decision) *auth.ACL {
			text := decision + " all subscribe " + strconv.Quote(rule) + "\n"
			rules, err := auth.ParseACL(strings.NewReader(text), "f")
			if err != nil {
				t.Fatalf("%s: %v", text, err)
			}
			return auth.NewACL(rules, noMatch)
		}
		allowed, _ := parse("allow", auth.Deny).Check(auth.Identity{}, auth.Subscribe, sub)
		if allowed == auth.Allow && topic.Match(sub, name) && !topic.Match(rule, name) {
			t.Fatalf("allow rule %q lets %q through, which receives %q that the rule does not match", rule, sub, name)
		}
		denied, _ := parse("deny", auth.Allow).Check(auth.Identity{}, auth.Subscribe, sub)
		if denied == auth.Allow && topic.Match(sub, name) && topic.Match(rule, name) {
			t.Fatalf("deny rule %q does not stop %q, which receives %q that the rule matches", rule, sub, name)
		}
	})
}
