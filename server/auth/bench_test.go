package auth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// benchACL is a realistic rule list: per-device placeholders first, then a tail of fixed rules, so a
// typical check walks most of the list.
func benchACL(b *testing.B, extra int) *ACL {
	var text strings.Builder
	text.WriteString("allow all all devices/%c/#\ndeny all publish devices/#\nallow user ops subscribe #\n")
	for i := range extra {
		fmt.Fprintf(&text, "allow user svc-%d publish svc/%d/+/out\n", i, i)
	}
	text.WriteString("deny all subscribe secret/#\nallow all publish telemetry/+/raw\n")
	rules, err := ParseACL(strings.NewReader(text.String()), "bench")
	if err != nil {
		b.Fatal(err)
	}
	return NewACL(rules, Deny)
}

// BenchmarkACLCheck measures one authorization on the publish and subscribe paths. The "match-only"
// case is the floor: topic.Match over the same number of fixed filters, with no ACL logic.
func BenchmarkACLCheck(b *testing.B) {
	id := Identity{ClientID: "dev-42", Username: "dev-42"}
	for _, n := range []int{0, 20} {
		acl := benchACL(b, n)
		b.Run(fmt.Sprintf("rules=%d/publish-own", len(acl.Rules())), func(b *testing.B) {
			for b.Loop() {
				acl.Check(id, Publish, "devices/dev-42/temp")
			}
		})
		b.Run(fmt.Sprintf("rules=%d/publish-last-rule", len(acl.Rules())), func(b *testing.B) {
			for b.Loop() {
				acl.Check(id, Publish, "telemetry/line1/raw")
			}
		})
		b.Run(fmt.Sprintf("rules=%d/subscribe-wildcard", len(acl.Rules())), func(b *testing.B) {
			for b.Loop() {
				acl.Check(id, Subscribe, "devices/dev-42/+/cmd")
			}
		})
		filters := make([]string, len(acl.Rules()))
		for i, r := range acl.Rules() {
			filters[i] = strings.ReplaceAll(r.Filter, "%c", "dev-42")
		}
		b.Run(fmt.Sprintf("rules=%d/match-only", len(acl.Rules())), func(b *testing.B) {
			for b.Loop() {
				for _, f := range filters {
					topic.Match(f, "telemetry/line1/raw")
				}
			}
		})
	}
}

// BenchmarkVerifyPassword compares the two algorithms at their default cost: the price of one CONNECT.
func BenchmarkVerifyPassword(b *testing.B) {
	for _, alg := range []Algorithm{Bcrypt, Argon2id} {
		h, err := HashPassword([]byte("pw"), &HashOptions{Algorithm: alg})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(alg), func(b *testing.B) {
			for b.Loop() {
				if ok, _ := VerifyPassword(h, []byte("pw")); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}
