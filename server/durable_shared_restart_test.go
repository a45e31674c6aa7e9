package server

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
)

// crashableBroker is a durable broker on an in-memory file system: crash starts the next broker
// on what was synced, as after kill -9; restart closes it cleanly first.
type crashableBroker struct {
	t    *testing.T
	fs   *vfs.MemFS
	mods []func(*Options)
	srv  *Server
	addr string
}

func newCrashableBroker(t *testing.T, mods ...func(*Options)) *crashableBroker {
	b := &crashableBroker{t: t, fs: vfs.NewCrashableMem(), mods: mods}
	b.start()
	return b
}

func (b *crashableBroker) start() {
	o := &Options{Durable: DurableOptions{Enable: true, Dir: "data", Storage: &ds.Options{NumShards: 4, FS: b.fs}}}
	for _, m := range b.mods {
		m(o)
	}
	b.srv, b.addr = startServer(b.t, o)
}

// crash keeps only the synced state; the stopped broker's last writes are lost. pause is how
// long the broker stays down.
func (b *crashableBroker) crash(pause time.Duration) {
	synced := b.fs.CrashClone(vfs.CrashCloneCfg{})
	closeServer(b.t, b.srv)
	b.fs = synced
	time.Sleep(pause)
	b.start()
}

func (b *crashableBroker) restart() {
	closeServer(b.t, b.srv)
	b.start()
}

// group returns the broker's durable group g on jobs/#.
func (b *crashableBroker) group() *sharedGroup {
	d := b.srv.durable
	d.groups.Lock()
	defer d.groups.Unlock()
	return d.groups.m["$share/g/jobs/#"]
}

// sharedPair connects durable members sh-a (online, Receive Maximum 10) and sh-b (offline once
// subscribed) of $share/g/jobs/#, so that the next message goes to sh-a.
func sharedPair(t *testing.T, b *crashableBroker, expiryA uint32) *rawClient {
	a := dialRaw(t, b.addr, mqtt.V5)
	ack := a.connect("sh-a", true, sessionExpiry(expiryA), func(p *mqtt.Packet) {
		p.Properties.ReceiveMaximum = 10
		p.Properties.Present.Add(mqtt.PropReceiveMaximum)
	})
	require.Equal(t, mqtt.Success, ack.ReasonCode)
	a.subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: 2})
	other, _ := rawDurable(t, b.addr, "sh-b", true, 10)
	other.subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: 2})
	other.close()
	waitFor(t, "sh-b offline", func() bool { return b.srv.DurableMetrics().Online == 1 })
	return a
}

func publishOne(t *testing.T, addr string, qos byte, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub, _ := pahoV5(t, addr, "sh-pub", true, 0)
	_, err := pub.Publish(ctx, &paho.Publish{Topic: "jobs/1", QoS: qos, Payload: []byte(payload)})
	require.NoError(t, err)
	require.NoError(t, pub.Disconnect(&paho.Disconnect{}))
}

func requireNoHandouts(t *testing.T, b *crashableBroker) {
	t.Helper()
	g := b.group()
	require.NotNil(t, g)
	waitFor(t, "the group's entry to end", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.mu.held) == 0 && g.ds.InflightLen() == 0 && len(g.ds.Holds()) == 0
	})
}

// Ensure that a QoS 2 message a durable member holds when the broker stops (crash or clean
// restart), before or after its PUBREC, is completed with that member when it returns, with
// its packet id (PUBLISH with DUP, or PUBREL), and is never handed to another member, even past
// the redispatch timeout [MQTT-4.8.2-4] v5, [MQTT-4.4.0-1]; once completed it is gone for good.
func TestDurableSharedRestart_QoS2StaysWithMember(t *testing.T) {
	for _, tc := range []struct {
		name           string
		crash, pubrecd bool
	}{
		{"crash/sent", true, false},
		{"crash/released", true, true},
		{"restart/sent", false, false},
		{"restart/released", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCrashableBroker(t, sharedTimeout(200*time.Millisecond))
			a := sharedPair(t, b, 3600)
			publishOne(t, b.addr, 2, "m")
			first := a.expect(mqtt.TypePublish)
			require.Equal(t, mqtt.QoS2, first.QoS)
			if tc.pubrecd {
				a.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: first.PacketID})
				require.Equal(t, first.PacketID, a.expect(mqtt.TypePubrel).PacketID)
			}
			if tc.crash {
				b.crash(0)
			} else {
				b.restart()
			}

			other, ack := rawDurable(t, b.addr, "sh-b", false, 10)
			require.True(t, ack.SessionPresent)
			other.expectNothing(600 * time.Millisecond)

			a, ack = rawDurable(t, b.addr, "sh-a", false, 10)
			require.True(t, ack.SessionPresent)
			if !tc.pubrecd {
				again := a.expect(mqtt.TypePublish)
				require.True(t, again.Dup)
				require.Equal(t, first.PacketID, again.PacketID)
				require.Equal(t, mqtt.QoS2, again.QoS)
				require.Equal(t, "m", string(again.Payload))
				a.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: first.PacketID})
			}
			require.Equal(t, first.PacketID, a.expect(mqtt.TypePubrel).PacketID)
			a.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: first.PacketID})
			requireNoHandouts(t, b)
			other.expectNothing(300 * time.Millisecond)

			b.restart()
			for _, id := range []string{"sh-a", "sh-b"} {
				c, _ := rawDurable(t, b.addr, id, false, 10)
				c.expectNothing(300 * time.Millisecond)
			}
		})
	}
}

// Ensure that a QoS 2 message a durable member held when the broker crashed is dropped, not
// given to another member, when that member's session ends: it expired while the broker was
// down, or the member came back with Clean Start [MQTT-4.8.2-5] v5.
func TestDurableSharedRestart_QoS2DroppedWithSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expiry  uint32
		pause   time.Duration
		rejoins bool
	}{
		{"expired", 1, 1500 * time.Millisecond, false},
		{"clean start", 3600, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCrashableBroker(t, sharedTimeout(200*time.Millisecond))
			a := sharedPair(t, b, tc.expiry)
			publishOne(t, b.addr, 2, "m")
			a.expect(mqtt.TypePublish)
			b.crash(tc.pause)

			other, ack := rawDurable(t, b.addr, "sh-b", false, 10)
			require.True(t, ack.SessionPresent)
			if tc.rejoins {
				a, ack = rawDurable(t, b.addr, "sh-a", true, 10)
				require.False(t, ack.SessionPresent)
				a.subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: 2})
			}
			requireNoHandouts(t, b)
			other.expectNothing(600 * time.Millisecond)
			if tc.rejoins {
				a.expectNothing(100 * time.Millisecond)
			}

			// The group goes on: the next message reaches a member.
			publishOne(t, b.addr, 2, "next")
			got := other
			if tc.rejoins {
				got = nil
				for _, c := range []*rawClient{a, other} {
					if p, err := c.read(time.Second); err == nil {
						require.Equal(t, "next", string(p.Payload))
						got = c
						break
					}
				}
				require.NotNil(t, got, "the next message reached no member")
			} else {
				require.Equal(t, "next", string(other.expect(mqtt.TypePublish).Payload))
			}
		})
	}
}

// Ensure that a QoS 1 message a durable member held when the broker crashed goes back to the
// group: another member gets it (a first delivery to that member), and the first member, back
// later, does not get it again. (A QoS 1 message may reach a second member; only QoS 2 stays
// with its member.)
func TestDurableSharedRestart_QoS1GoesBackToGroup(t *testing.T) {
	b := newCrashableBroker(t, sharedTimeout(time.Minute))
	a := sharedPair(t, b, 3600)
	publishOne(t, b.addr, 1, "m")
	first := a.expect(mqtt.TypePublish)
	require.Equal(t, mqtt.QoS1, first.QoS)
	b.crash(0)

	other, _ := rawDurable(t, b.addr, "sh-b", false, 10)
	p := other.expect(mqtt.TypePublish)
	require.Equal(t, "m", string(p.Payload))
	require.False(t, p.Dup, "first delivery to this member")
	other.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	requireNoHandouts(t, b)
	a, _ = rawDurable(t, b.addr, "sh-a", false, 10)
	a.expectNothing(300 * time.Millisecond)
}
