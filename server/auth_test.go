package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/auth"
	"github.com/stretchr/testify/require"
)

const testACL = `
allow all       all        devices/%c/#
deny  all       publish    devices/#
deny  all       subscribe  secret/#
allow user ops  subscribe  #
`

func authServer(t *testing.T, delay time.Duration) (*Server, string) {
	t.Helper()
	// The lowest bcrypt cost keeps the race-detector run quick.
	hash, err := auth.HashPassword([]byte("s3cret"), &auth.HashOptions{BcryptCost: 4})
	require.NoError(t, err)
	pf := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, os.WriteFile(pf, []byte("alice:"+hash+"\nops:"+hash+"\n"), 0o600))
	pa, err := auth.NewPasswordAuthenticator(pf)
	require.NoError(t, err)
	rules, err := auth.ParseACL(strings.NewReader(testACL), "acl")
	require.NoError(t, err)
	return startServer(t, &Options{
		Authenticator:    auth.NewChain(pa, auth.Anonymous{Allowed: false}),
		Authorizer:       auth.NewACL(rules, auth.Allow),
		AuthFailureDelay: delay,
	})
}

func login(user, pass string) func(*mqtt.Packet) {
	return func(p *mqtt.Packet) {
		p.Connect.UsernameFlag, p.Connect.Username = true, user
		p.Connect.PasswordFlag, p.Connect.Password = true, []byte(pass)
	}
}

// A wrong password is answered after the failure delay with 0x86 (v5) or
// return code 4 (3.1.1), then the connection is closed [MQTT-3.1.4-2] v5.
func TestAuth_Connect(t *testing.T) {
	s, addr := authServer(t, 300*time.Millisecond)
	for _, v := range []mqtt.Version{mqtt.V5, mqtt.V311} {
		c := dialRaw(t, addr, v)
		start := time.Now()
		ack := c.connect("mallory", true, login("alice", "wrong"))
		require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "failure delay")
		require.Equal(t, mqtt.BadUserNameOrPassword, ack.ReasonCode, v)
		c.expectClosed()

		c = dialRaw(t, addr, v)
		require.Equal(t, mqtt.BadUserNameOrPassword, c.connect("anon", true).ReasonCode, "anonymous refused")
		c.expectClosed()

		c = dialRaw(t, addr, v)
		require.Equal(t, mqtt.Success, c.connect("alice-"+v.String(), true, login("alice", "s3cret")).ReasonCode)
	}
	require.EqualValues(t, 4, s.Metrics().AuthFailures)
	waitFor(t, "auth disconnects", func() bool { return s.Metrics().Disconnects[CauseAuth] == 4 })
}

// ACL: a denied SUBSCRIBE gets 0x87 (v5) or 0x80 (3.1.1); a denied PUBLISH
// gets PUBACK/PUBREC 0x87 at QoS 1/2 and is dropped, counted, at QoS 0.
func TestAuth_ACL(t *testing.T) {
	s, addr := authServer(t, 0)
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("dev1", true, login("alice", "s3cret"))
	ack := c.subscribe(1, mqtt.Subscription{Filter: "secret/x"}, mqtt.Subscription{Filter: "devices/dev1/#", QoS: mqtt.QoS1})
	require.Equal(t, []mqtt.ReasonCode{mqtt.NotAuthorized, mqtt.GrantedQoS1}, ack.ReasonCodes)

	c.publish("devices/dev2/x", "not mine", mqtt.QoS1, 1, false)
	require.Equal(t, mqtt.NotAuthorized, c.expect(mqtt.TypePuback).ReasonCode)
	c.publish("devices/dev2/x", "not mine", mqtt.QoS2, 2, false)
	require.Equal(t, mqtt.NotAuthorized, c.expect(mqtt.TypePubrec).ReasonCode)
	c.publish("devices/dev2/x", "not mine", mqtt.QoS0, 0, false)
	c.publish("devices/dev1/x", "mine", mqtt.QoS1, 3, false)
	// Our own message is routed (to us) before the PUBACK goes out.
	m := c.expect(mqtt.TypePublish)
	require.Equal(t, "mine", string(m.Payload))
	require.Equal(t, mqtt.Success, c.expect(mqtt.TypePuback).ReasonCode)
	require.EqualValues(t, 3, s.Metrics().Messages.Dropped[DropNotAuthorized])

	c3 := dialRaw(t, addr, mqtt.V311)
	c3.connect("dev3", true, login("alice", "s3cret"))
	ack = c3.subscribe(1, mqtt.Subscription{Filter: "secret/#"})
	require.Equal(t, []mqtt.ReasonCode{mqtt.UnspecifiedError}, ack.ReasonCodes, "3.1.1 failure is 0x80")
	// 3.1.1 cannot be told: the PUBACK is normal, the message goes nowhere.
	c3.publish("devices/dev1/x", "sneaky", mqtt.QoS1, 1, false)
	require.Equal(t, mqtt.Success, c3.expect(mqtt.TypePuback).ReasonCode)
	c.expectNothing(100 * time.Millisecond)

	// Nobody publishes into $SYS.
	c.publish("$SYS/brokers/x", "fake", mqtt.QoS1, 4, false)
	require.Equal(t, mqtt.NotAuthorized, c.expect(mqtt.TypePuback).ReasonCode)
}

// Auto subscriptions are made at connect, with %c and %u filled in; one
// with %u is skipped for a client without a username.
func TestAutoSubscriptions(t *testing.T) {
	s, addr := startServer(t, &Options{AutoSubscriptions: []AutoSubscription{
		{Filter: "inbox/%c", QoS: 1}, {Filter: "users/%u/#", QoS: 0}}})
	c := dialRaw(t, addr, mqtt.V5)
	c.connect("box1", true)
	named := dialRaw(t, addr, mqtt.V5)
	named.connect("box2", true, login("carol", ""))
	waitFor(t, "subscriptions", func() bool { return s.Metrics().Subscriptions == 3 })
	views := s.Subscriptions("")
	require.Equal(t, []SubscriptionView{
		{ClientID: "box1", Filter: "inbox/box1", QoS: 1},
		{ClientID: "box2", Filter: "inbox/box2", QoS: 1},
		{ClientID: "box2", Filter: "users/carol/#"},
	}, views)

	p := dialRaw(t, addr, mqtt.V5)
	p.connect("p", true)
	p.publish("inbox/box1", "for you", mqtt.QoS1, 1, false)
	p.expect(mqtt.TypePuback)
	require.Equal(t, "for you", string(c.expect(mqtt.TypePublish).Payload))
}
