package auth

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testACL = `
# Devices own their subtree.
allow all            all        devices/%c/#
deny  all            publish    devices/#
allow user ops       subscribe  #
allow user ops       subscribe  $SYS/#
deny  all            subscribe  secret/#
allow ip 10.1.0.0/16 publish    telemetry/+/raw
deny  ip 10.1.0.0/16 all        #
allow user "night shift" publish "shift log/%u"
allow client pump-1  publish    pumps/1/#
allow all            subscribe  users/%u/inbox
`

func TestACL_Check(t *testing.T) {
	rules, err := ParseACL(strings.NewReader(testACL), "test.acl")
	require.NoError(t, err)
	acl := NewACL(rules, Allow)
	denyByDefault := NewACL(rules, Deny)

	ops := Identity{Username: "ops", ClientID: "console"}
	dev := Identity{ClientID: "dev-7"}
	plant := Identity{ClientID: "sensor", Addr: netip.MustParseAddr("10.1.2.3")}
	for _, tc := range []struct {
		name  string
		id    Identity
		act   Action
		topic string
		want  Decision
		line  int  // rule that decides; 0 for acl_nomatch
		deflt bool // under acl_nomatch deny the answer is Deny instead
	}{
		{"own subtree publish", dev, Publish, "devices/dev-7/temp", Allow, 3, false},
		{"own subtree subscribe wildcard", dev, Subscribe, "devices/dev-7/#", Allow, 3, false},
		{"own subtree root", dev, Publish, "devices/dev-7", Allow, 3, false},
		{"other device", dev, Publish, "devices/dev-8/temp", Deny, 4, false},
		{"unrelated topic falls through", dev, Publish, "weather", Allow, 0, true},
		{"subscribe covering own subtree only partly", dev, Subscribe, "devices/+/temp", Allow, 0, true},
		{"ops reads everything", ops, Subscribe, "#", Allow, 5, false},
		{"ops reads $SYS", ops, Subscribe, "$SYS/broker/clients", Allow, 6, false},
		{"shared subscription is checked on its filter", ops, Subscribe, "$share/g/#", Allow, 5, false},
		{"secret exact", dev, Subscribe, "secret/plans", Deny, 7, false},
		{"deny overlapping wildcard subscription", dev, Subscribe, "#", Deny, 7, false},
		{"deny overlapping + subscription", dev, Subscribe, "+/plans", Deny, 7, false},
		{"$SYS is not overlapped by secret", dev, Subscribe, "$SYS/#", Allow, 0, true},
		{"plant publishes raw telemetry", plant, Publish, "telemetry/line1/raw", Allow, 8, false},
		{"plant can do nothing else", plant, Publish, "telemetry/line1/cooked", Deny, 9, false},
		{"plant subscribe denied", plant, Subscribe, "weather", Deny, 9, false},
		{"ipv4-mapped address matches", Identity{Addr: netip.MustParseAddr("::ffff:10.1.0.9")}, Publish, "x", Deny, 9, false},
		{"quoted user and filter", Identity{Username: "night shift"}, Publish, "shift log/night shift", Allow, 10, false},
		{"client rule", Identity{ClientID: "pump-1"}, Publish, "pumps/1/rpm", Allow, 11, false},
		{"client rule is not a username rule", Identity{Username: "pump-1"}, Publish, "pumps/1/rpm", Allow, 0, true},
		{"%u inbox", Identity{Username: "bob"}, Subscribe, "users/bob/inbox", Allow, 12, false},
		{"%u needs a username", Identity{ClientID: "x"}, Subscribe, "users//inbox", Allow, 0, true},
		{"%c with wildcard does not apply", Identity{ClientID: "+"}, Publish, "devices/+/x", Deny, 4, false},
		{"%c with / does not apply", Identity{ClientID: "dev-7/x"}, Publish, "devices/dev-7/x/y", Deny, 4, false},
		{"%c empty does not apply", Identity{}, Publish, "devices//x", Deny, 4, false},
		{"invalid subscription filter", dev, Subscribe, "a/#/b", Deny, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, r := acl.Check(tc.id, tc.act, tc.topic)
			require.Equal(t, tc.want, d)
			if tc.line == 0 {
				require.Nil(t, r, "decided by rule %v", r)
			} else {
				require.NotNil(t, r)
				require.Equal(t, tc.line, r.Line, r.String())
			}
			d, _ = denyByDefault.Check(tc.id, tc.act, tc.topic)
			if tc.deflt {
				require.Equal(t, Deny, d, "acl_nomatch deny")
			} else {
				require.Equal(t, tc.want, d, "acl_nomatch deny must not change a rule's decision")
			}
		})
	}
}

func TestACL_Authorize(t *testing.T) {
	acl := NewACL([]Rule{{Decision: Deny, Subject: Anyone, Action: Publish, Filter: "ro/#"}}, Allow)
	ctx := context.Background()
	ok, err := acl.Authorize(ctx, Identity{}, Publish, "ro/x")
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = acl.Authorize(ctx, Identity{}, Subscribe, "ro/x")
	require.NoError(t, err)
	require.True(t, ok)
	_, err = acl.Authorize(ctx, Identity{}, AllActions, "ro/x")
	require.Error(t, err)
	require.Panics(t, func() { NewACL(nil, Abstain) })
}

// Ensure that every rule prints as a line that parses back to the same rule.
func TestParseACL_RoundTrip(t *testing.T) {
	rules, err := ParseACL(strings.NewReader(testACL+"allow ip ::1 subscribe \"\\\"q\\\"/+\"\nallow ip 192.168.1.77/24 all a\n"), "t")
	require.NoError(t, err)
	require.Equal(t, "allow ip 192.168.1.0/24 all a", rules[len(rules)-1].String(), "prefix is masked")
	require.Equal(t, `allow user "night shift" publish "shift log/%u"`, rules[7].String())
	var text strings.Builder
	for _, r := range rules {
		text.WriteString(r.String() + "\n")
	}
	again, err := ParseACL(strings.NewReader(text.String()), "t")
	require.NoError(t, err)
	require.Len(t, again, len(rules))
	for i := range rules {
		rules[i].Line, again[i].Line = 0, 0
	}
	require.Equal(t, rules, again)
}

func TestParseACL_Errors(t *testing.T) {
	for _, tc := range []struct{ line, err string }{
		{"alow all all #", `rule starts with "alow"`},
		{"allow all all", "3 fields, want 4"},
		{"allow user bob publish", "4 fields, want 5"},
		{"allow user bob publish a b", "6 fields, want 5"},
		{"allow group x publish a", `subject "group"`},
		{"allow everyone all #", `subject "everyone"`},
		{"deny", "1 fields, want 4"},
		{"allow user bob read a", `action "read"`},
		{"allow ip 10.0.0/8 all a", `ip "10.0.0/8"`},
		{"allow all all a/#/b", `filter "a/#/b"`},
		{"allow all all a+", `filter "a+"`},
		{"allow all all $share/g/a", `filter "$share/g/a": rules match the topic filter`},
		{`allow user "bob publish a`, "unterminated or invalid quoted string"},
		{`allow user "bob"x publish a`, "missing space"},
		{`allow user "" publish a`, "empty user name"},
	} {
		_, err := ParseACL(strings.NewReader("# comment\n\n"+tc.line+"\n"), "x.acl")
		require.ErrorContains(t, err, "x.acl:3: "+tc.err, tc.line)
	}
	// All bad lines are reported at once.
	_, err := ParseACL(strings.NewReader("allow all all a\nbad\nallow all all ok\nworse line\n"), "x.acl")
	require.ErrorContains(t, err, "x.acl:2:")
	require.ErrorContains(t, err, "x.acl:4:")
}

func TestACL_Reload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	require.NoError(t, os.WriteFile(path, []byte("deny all publish a\n"), 0o600))
	acl, err := LoadACL(path, Allow)
	require.NoError(t, err)
	d, _ := acl.Check(Identity{}, Publish, "a")
	require.Equal(t, Deny, d)

	require.NoError(t, os.WriteFile(path, []byte("allow all publish a\n"), 0o600))
	require.NoError(t, acl.Reload())
	d, _ = acl.Check(Identity{}, Publish, "a")
	require.Equal(t, Allow, d)

	require.NoError(t, os.WriteFile(path, []byte("allow all publish a/#/b\n"), 0o600))
	require.ErrorContains(t, acl.Reload(), path+":1:")
	d, _ = acl.Check(Identity{}, Publish, "a")
	require.Equal(t, Allow, d, "a failed reload keeps the rules in force")

	_, err = LoadACL(filepath.Join(t.TempDir(), "missing"), Deny)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Error(t, NewACL(nil, Deny).Reload())
}

func TestRule_Expand(t *testing.T) {
	id := Identity{ClientID: "c1", Username: "u1"}
	for _, tc := range []struct{ filter, want string }{
		{"plain/topic", "plain/topic"},
		{"d/%c/#", "d/c1/#"},
		{"%u/%c", "u1/c1"},
		{"%u%u-%c", "u1u1-c1"},
		{"rate/100%", "rate/100%"},
		{"a/%x/%%c", "a/%x/%c1"},
	} {
		r := Rule{Filter: tc.filter}
		got, ok := r.expand(id)
		require.True(t, ok, tc.filter)
		require.Equal(t, tc.want, got, tc.filter)
	}
}

// Ensure that checks running during reloads always see one whole rule list, the old or the new (run
// with -race to check the swap itself).
func TestACL_ReloadConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	files := []string{"deny all publish a\ndeny all publish b\n", "allow all publish a\nallow all publish b\n"}
	require.NoError(t, os.WriteFile(path, []byte(files[0]), 0o600))
	acl, err := LoadACL(path, Deny)
	require.NoError(t, err)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if err := os.WriteFile(path, []byte(files[i%2]), 0o600); err != nil {
				t.Error(err)
				return
			}
			if err := acl.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		rules := acl.Rules()
		require.Len(t, rules, 2)
		require.Equal(t, rules[0].Decision, rules[1].Decision, "a check saw half of a reload")
		d, _ := acl.Check(Identity{}, Publish, "a")
		require.Contains(t, []Decision{Allow, Deny}, d)
	}
}
