package auth_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mqttds/mqttds/server/auth"
)

func ExampleParseACL() {
	rules, err := auth.ParseACL(strings.NewReader(`
# Devices own their subtree; nobody else writes there.
allow all        all        devices/%c/#
deny  all        publish    devices/#
deny  all        subscribe  secret/#
allow user ops   subscribe  #
`), "acl.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	acl := auth.NewACL(rules, auth.Allow)
	dev := auth.Identity{ClientID: "dev-7"}
	ops := auth.Identity{ClientID: "console", Username: "ops"}
	for _, c := range []struct {
		who   auth.Identity
		act   auth.Action
		topic string
	}{
		{dev, auth.Publish, "devices/dev-7/temp"},
		{dev, auth.Publish, "devices/dev-8/temp"},
		{dev, auth.Subscribe, "#"},
		{ops, auth.Subscribe, "$share/g/plant/#"},
	} {
		d, r := acl.Check(c.who, c.act, c.topic)
		by := "acl_nomatch"
		if r != nil {
			by = fmt.Sprintf("line %d", r.Line)
		}
		fmt.Printf("%-8s %-9s %-20s %s (%s)\n", c.who.ClientID, c.act, c.topic, d, by)
	}
	_, err = auth.ParseACL(strings.NewReader("allow everyone all #\n"), "acl.conf")
	fmt.Println(err)
	// Output:
	// dev-7    publish   devices/dev-7/temp   allow (line 3)
	// dev-7    publish   devices/dev-8/temp   deny (line 4)
	// dev-7    subscribe #                    deny (line 5)
	// console  subscribe $share/g/plant/#     allow (line 6)
	// acl.conf:1: subject "everyone" (want all, user, client or ip)
}

func ExampleChain() {
	chain := auth.NewChain(
		auth.NewClientIDAllowlist([]string{"pump-1", "pump-2"}),
		auth.Anonymous{Allowed: true},
	)
	for _, id := range []string{"pump-1", "intruder"} {
		res, _ := chain.Authenticate(context.Background(), auth.Credentials{ClientID: id})
		fmt.Println(id, res.Decision, res.Reason)
	}
	fmt.Printf("%+v\n", chain.Metrics())
	// Output:
	// pump-1 allow anonymous
	// intruder deny client id not in the allowlist
	// {Attempts:2 Allowed:1 Denied:1 Errors:0}
}
