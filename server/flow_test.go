package server

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/listeners"
	"github.com/stretchr/testify/require"
)

// encodePublishes returns n PUBLISH packets on topic, payloads "0".."n-1",
// packet ids 1..n for QoS > 0, in one buffer for one write.
func encodePublishes(t *testing.T, topic string, qos mqtt.QoS, n int) []byte {
	var buf []byte
	for i := range n {
		p := &mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, QoS: qos, Payload: []byte(strconv.Itoa(i))}
		if qos > 0 {
			p.PacketID = uint16(i%65535 + 1)
		}
		var err error
		buf, err = mqtt.Encode(buf, p, mqtt.V5)
		require.NoError(t, err)
	}
	return buf
}

// writeAsync writes b to nc on its own goroutine (the broker may stop
// reading it) and reports the result on the returned channel.
func writeAsync(nc net.Conn, b []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_ = nc.SetWriteDeadline(time.Now().Add(testTimeout))
		_, err := nc.Write(b)
		done <- err
	}()
	return done
}

// receiveInOrder reads n PUBLISHes with payloads "0".."n-1" in order,
// acknowledging QoS 1 ones.
func receiveInOrder(t *testing.T, c *rawClient, n int) {
	t.Helper()
	for i := range n {
		p := c.expect(mqtt.TypePublish)
		require.Equal(t, strconv.Itoa(i), string(p.Payload), "message %d", i)
		if p.QoS == mqtt.QoS1 {
			c.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
		}
	}
}

// Ensure that a QoS 1 publisher into a subscriber that does not keep up is
// held back instead of acknowledged at its own pace: while the subscriber
// acknowledges nothing, the publisher gets about the high watermark of
// PUBACKs; once it reads again, every message arrives, in order, and every
// one is acknowledged to the publisher.
func TestFlowQoS1BackPressure(t *testing.T) {
	const n, window = 2000, 8
	s, addr := startServer(t, &Options{MaxQueued: 1 << 20, MaxInflight: window, ReceiveMaximum: 65535,
		FlowHighWatermark: 100})
	sub := dialRaw(t, addr, mqtt.V5)
	sub.connect("sub", true)
	sub.subscribe(1, mqtt.Subscription{Filter: "flow/#", QoS: 1})

	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("pub", true)
	written := writeAsync(pub.nc, encodePublishes(t, "flow/a", mqtt.QoS1, n))

	// 1. The subscriber stalls: PUBACKs to the publisher stop near the mark.
	acked := 0
	for {
		p, err := pub.read(300 * time.Millisecond)
		if err != nil {
			break
		}
		require.Equal(t, mqtt.TypePuback, p.Type)
		acked++
	}
	require.Less(t, acked, 100+window+10, "publisher acknowledged past the high watermark")
	require.Greater(t, acked, 10)

	// 2. It reads again: everything arrives and is acknowledged.
	go func() {
		for acked < n {
			if _, err := pub.read(testTimeout); err != nil {
				return
			}
			acked++
		}
	}()
	receiveInOrder(t, sub, n)
	require.NoError(t, <-written)
	waitFor(t, "every PUBACK", func() bool { return s.Metrics().Messages.Acked == n })
	m := s.Metrics()
	require.Zero(t, m.DroppedTotal())
	require.Positive(t, m.Flow.Pauses, "the publisher was held back")
	require.Contains(t, get(t, s.APIHandler(), "/metrics"), "mqttds_flow_pauses_total "+strconv.FormatInt(m.Flow.Pauses, 10))
}

// pipeServer starts a broker with the given outbound queue and a net.Pipe listener, which
// makes a subscriber's stall exact (the broker's writer blocks until it reads), and returns a
// dial that connects an MQTT 5 client with clean start.
func pipeServer(t *testing.T, outboundQueue int) (*Server, func(id string) *rawClient) {
	s, _ := startServer(t, &Options{OutboundQueue: outboundQueue})
	l := listeners.NewMock("pipe")
	require.NoError(t, s.AddListener(l))
	return s, func(id string) *rawClient {
		nc, err := l.Dial()
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		c := wrapRaw(t, nc, mqtt.V5)
		c.connect(id, true)
		return c
	}
}

// Ensure that QoS 0 into a subscriber whose connection stalls for a moment
// is not dropped: the outbound queue stops growing at the high watermark and
// the publisher waits. net.Pipe makes the stall exact: the broker's writer
// blocks until the subscriber reads.
func TestFlowQoS0NoDropsWhileSubscriberStalls(t *testing.T) {
	const n = 3000
	s, dial := pipeServer(t, 64)
	sub := dial("sub")
	sub.subscribe(1, mqtt.Subscription{Filter: "flow/#", QoS: 0})
	pub := dial("pub")
	written := writeAsync(pub.nc, encodePublishes(t, "flow/a", mqtt.QoS0, n))

	time.Sleep(300 * time.Millisecond) // the subscriber reads nothing
	receiveInOrder(t, sub, n)
	require.NoError(t, <-written)
	m := s.Metrics()
	require.Zero(t, m.DroppedTotal())
}

// Ensure that a stuck subscriber holds a publisher back once, for
// flowMaxPause, and not again until it makes progress: the publisher goes
// on, and the QoS 0 drops past OutboundQueue are counted.
func TestFlowPauseIsBounded(t *testing.T) {
	s, dial := pipeServer(t, 8)
	sub := dial("sub")
	sub.subscribe(1, mqtt.Subscription{Filter: "flow/#", QoS: 0})
	_ = sub // never reads again
	pub := dial("pub")
	// Enough to fill the queue (8) and the writer (1), and to drop some.
	const n = 32
	start := time.Now()
	written := writeAsync(pub.nc, append(encodePublishes(t, "flow/a", mqtt.QoS0, n),
		encodePublishes(t, "other", mqtt.QoS1, 1)...))
	require.NoError(t, <-written)
	ack := pub.expect(mqtt.TypePuback) // the reader got through all of them
	require.Equal(t, uint16(1), ack.PacketID)
	require.Less(t, time.Since(start), 3*flowMaxPause)
	waitFor(t, "a counted drop", func() bool { return s.Metrics().Messages.Dropped[DropSlowConsumer] > 0 })
	m := s.Metrics()
	// The writer taking its queue counts as progress, so the publisher may
	// have paused again after the timeout; every timeout ended a counted pause.
	require.Positive(t, m.Flow.PauseTimeouts)
	require.GreaterOrEqual(t, m.Flow.Pauses, m.Flow.PauseTimeouts)
	require.Contains(t, get(t, s.APIHandler(), "/metrics"),
		"mqttds_flow_pause_timeouts_total "+strconv.FormatInt(m.Flow.PauseTimeouts, 10))
}

// Ensure that Options.FlowHighWatermark is validated and capped below the
// outbound queue.
func TestFlowWatermarks(t *testing.T) {
	for _, tc := range []struct {
		high, outbound    int
		wantHigh, wantLow int
	}{
		{0, 0, 256, 128},   // defaults
		{-1, 0, 0, 0},      // off
		{1000, 64, 32, 16}, // capped at half the outbound queue
		{1, 1024, 1, 1},    // never 0
		{300, 1 << 16, 300, 150},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.high, tc.outbound), func(t *testing.T) {
			o := (&Options{FlowHighWatermark: tc.high, OutboundQueue: tc.outbound}).EnsureDefaults()
			high, low := o.flowWatermarks()
			require.Equal(t, tc.wantHigh, high)
			require.Equal(t, tc.wantLow, low)
		})
	}
	require.ErrorContains(t, (&Options{FlowHighWatermark: -2}).EnsureDefaults().Validate(), "FlowHighWatermark")
}
