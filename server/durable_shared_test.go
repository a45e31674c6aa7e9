package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// sharedTimeout shortens the redispatch timeout for tests.
func sharedTimeout(d time.Duration) func(*Options) {
	return func(o *Options) { o.Durable.SharedRedispatchTimeout = d }
}

// publishN publishes payloads from..to-1 at QoS 1 on topic.
func publishN(t *testing.T, addr, topic string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub, _ := pahoV5(t, addr, "sh-pub", true, 0)
	for i := from; i < to; i++ {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))})
		require.NoError(t, err)
	}
	require.NoError(t, pub.Disconnect(&paho.Disconnect{}))
}

// collect reads payloads from the channels until n arrived in all, then checks that nothing
// more comes for a while; it returns each channel's payloads.
func collect(t *testing.T, n int, chs ...chan *paho.Publish) [][]int {
	t.Helper()
	out := make([][]int, len(chs))
	total := 0
	deadline := time.After(testTimeout)
	quiet := time.Duration(0)
	for total < n || quiet < 300*time.Millisecond {
		got := false
		for i, ch := range chs {
			select {
			case p := <-ch:
				v, err := strconv.Atoi(string(p.Payload))
				require.NoError(t, err)
				out[i] = append(out[i], v)
				total++
				got = true
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("got %d of %d messages: %v", total, n, out)
		default:
		}
		if !got {
			time.Sleep(20 * time.Millisecond)
			if total >= n {
				quiet += 20 * time.Millisecond
			}
		}
	}
	return out
}

// requireExactlyOnce checks that the parts hold every payload 0..n-1 exactly once.
func requireExactlyOnce(t *testing.T, n int, parts ...[]int) {
	t.Helper()
	var all []int
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, all)
}

func subscribeShared(t *testing.T, c *paho.Client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err)
}

// Ensure that two durable members of a shared group split its messages, each message
// reaching exactly one member (MQTT5 §4.8.2), and that the group is durable: stored, and
// served from storage.
func TestDurableShared_SplitBetweenMembers(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	a, gotA := pahoV5(t, addr, "sh-a", true, 3600)
	b, gotB := pahoV5(t, addr, "sh-b", true, 3600)
	subscribeShared(t, a, "$share/g/jobs/#")
	subscribeShared(t, b, "$share/g/jobs/#")

	const n = 60
	publishN(t, addr, "jobs/1", 0, n)
	parts := collect(t, n, gotA, gotB)
	requireExactlyOnce(t, n, parts...)
	require.NotEmpty(t, parts[0], "member a got nothing")
	require.NotEmpty(t, parts[1], "member b got nothing")
	m := srv.DurableMetrics()
	require.EqualValues(t, n, m.Persisted)
	require.Equal(t, 1, m.Groups)
	require.Equal(t, 2, m.Sessions)

	// The last member leaving ends the group: its filter is no longer stored.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, c := range []*paho.Client{a, b} {
		_, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"$share/g/jobs/#"}})
		require.NoError(t, err)
	}
	m = srv.DurableMetrics()
	require.Equal(t, 0, m.Groups)
	require.Equal(t, 0, m.Routes)
	publishN(t, addr, "jobs/1", n, n+1)
	require.EqualValues(t, n, srv.DurableMetrics().Persisted)
}

// Ensure that a durable group's backlog persists while all its members are away, across a
// broker restart, and that a returning member gets all of it in order.
func TestDurableShared_BacklogAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	a, _ := pahoV5(t, addr, "sh-a", true, 3600)
	b, _ := pahoV5(t, addr, "sh-b", true, 3600)
	subscribeShared(t, a, "$share/g/jobs/#")
	subscribeShared(t, b, "$share/g/jobs/#")
	require.NoError(t, a.Disconnect(&paho.Disconnect{}))
	require.NoError(t, b.Disconnect(&paho.Disconnect{}))
	waitFor(t, "members offline", func() bool { return srv.DurableMetrics().Online == 0 })

	const n = 30
	publishN(t, addr, "jobs/2", 0, n)
	closeServer(t, srv)

	_, addr = durableServer(t, dir)
	_, gotA := pahoV5Present(t, addr, "sh-a", 3600, true)
	parts := collect(t, n, gotA)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, parts[0])
}

// Ensure that the messages a member holds unacknowledged reach another member: after the
// redispatch timeout while it stays connected, and at once when it disconnects; the new
// member gets them as first deliveries (DUP = 0).
func TestDurableShared_Redispatch(t *testing.T) {
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("disconnect=%v", leave), func(t *testing.T) {
			timeout := 400 * time.Millisecond
			if leave {
				timeout = time.Minute // only the disconnect can move them
			}
			_, addr := durableServer(t, t.TempDir(), sharedTimeout(timeout))
			slow, _ := rawDurable(t, addr, "sh-slow", true, 10)
			slow.subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: 1})

			const n = 5
			publishN(t, addr, "jobs/3", 0, n)
			for range n {
				p := slow.expect(mqtt.TypePublish) // never acknowledged
				require.False(t, p.Dup)
			}

			fast, gotFast := pahoV5(t, addr, "sh-fast", true, 3600)
			subscribeShared(t, fast, "$share/g/jobs/#")
			if leave {
				slow.close()
			}
			var dups []bool
			var payloads []int
			for range n {
				p := receive(t, gotFast)
				v, err := strconv.Atoi(string(p.Payload))
				require.NoError(t, err)
				payloads = append(payloads, v)
				dups = append(dups, p.Duplicate())
			}
			slices.Sort(payloads)
			require.Equal(t, []int{0, 1, 2, 3, 4}, payloads)
			require.NotContains(t, dups, true)
		})
	}
}

// Ensure that a QoS 2 message a member received and did not complete stays with that member
// when its connection drops, to be completed when it returns [MQTT-4.8.2-4] v5, and that a
// PUBACK with an error code drops the message rather than offering it to another member
// [MQTT-4.8.2-6] v5.
func TestDurableShared_StaysWithMember(t *testing.T) {
	_, addr := durableServer(t, t.TempDir(), sharedTimeout(200*time.Millisecond))
	q2, _ := rawDurable(t, addr, "sh-q2", true, 10)
	q2.subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: 2})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pub, _ := pahoV5(t, addr, "sh-pub", true, 0)
	_, err := pub.Publish(ctx, &paho.Publish{Topic: "jobs/q2", QoS: 2, Payload: []byte("0")})
	require.NoError(t, err)
	first := q2.expect(mqtt.TypePublish)
	require.Equal(t, mqtt.QoS2, first.QoS)

	other, gotOther := pahoV5(t, addr, "sh-other", true, 3600)
	subscribeShared(t, other, "$share/g/jobs/#")
	q2.close()
	select {
	case p := <-gotOther:
		t.Fatalf("QoS 2 message offered to another member: %q", p.Payload)
	case <-time.After(800 * time.Millisecond):
	}

	q2, ack := rawDurable(t, addr, "sh-q2", false, 10)
	require.True(t, ack.SessionPresent)
	again := q2.expect(mqtt.TypePublish)
	require.True(t, again.Dup)
	require.Equal(t, first.PacketID, again.PacketID)
	require.Equal(t, "0", string(again.Payload))

	// A refused QoS 1 message is not offered again.
	require.NoError(t, other.Disconnect(&paho.Disconnect{}))
	_, err = pub.Publish(ctx, &paho.Publish{Topic: "jobs/q1", QoS: 1, Payload: []byte("1")})
	require.NoError(t, err)
	p := q2.expect(mqtt.TypePublish)
	require.Equal(t, "1", string(p.Payload))
	q2.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID, ReasonCode: mqtt.UnspecifiedError})
	q2.expectNothing(600 * time.Millisecond)
}

// Ensure that a member kept in memory (expiry 0) takes its share of a durable group's
// messages, each message still reaching one member.
func TestDurableShared_MemoryMember(t *testing.T) {
	_, addr := durableServer(t, t.TempDir())
	a, gotA := pahoV5(t, addr, "sh-a", true, 3600)
	b, gotB := pahoV5(t, addr, "sh-mem", true, 0)
	subscribeShared(t, a, "$share/g/jobs/#")
	subscribeShared(t, b, "$share/g/jobs/#")

	const n = 40
	publishN(t, addr, "jobs/4", 0, n)
	parts := collect(t, n, gotA, gotB)
	requireExactlyOnce(t, n, parts...)
	require.NotEmpty(t, parts[0], "durable member got nothing")
	require.NotEmpty(t, parts[1], "in-memory member got nothing")
}

// Ensure that messages handed to a member and not acknowledged when the broker stops are
// handed out again after the restart, to the member that comes first.
func TestDurableShared_UnfinishedAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := durableServer(t, dir)
	slow, _ := rawDurable(t, addr, "sh-slow", true, 10)
	slow.subscribe(1, mqtt.Subscription{Filter: "$share/g/jobs/#", QoS: 1})
	b, _ := pahoV5(t, addr, "sh-b", true, 3600)
	subscribeShared(t, b, "$share/g/jobs/#")
	require.NoError(t, b.Disconnect(&paho.Disconnect{}))
	waitFor(t, "b offline", func() bool { return srv.DurableMetrics().Online == 1 })

	const n = 5
	publishN(t, addr, "jobs/5", 0, n)
	for range n {
		slow.expect(mqtt.TypePublish) // never acknowledged
	}
	slow.close()
	closeServer(t, srv)

	_, addr = durableServer(t, dir)
	_, gotB := pahoV5Present(t, addr, "sh-b", 3600, true)
	parts := collect(t, n, gotB)
	require.Equal(t, []int{0, 1, 2, 3, 4}, parts[0])
}

// Ensure that a durable group ends with its last member's session (expiry), and its filter is
// no longer stored.
func TestDurableShared_EndsWithLastMember(t *testing.T) {
	srv, addr := durableServer(t, t.TempDir())
	a, _ := pahoV5(t, addr, "sh-a", true, 1)
	subscribeShared(t, a, "$share/g/jobs/#")
	require.Equal(t, 1, srv.DurableMetrics().Groups)
	require.NoError(t, a.Disconnect(&paho.Disconnect{}))
	waitFor(t, "the group to end", func() bool {
		m := srv.DurableMetrics()
		return m.Groups == 0 && m.Sessions == 0 && m.Routes == 0
	})
}
