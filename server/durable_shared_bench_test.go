package server

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// publishQoS2 sends n QoS 2 messages with up to window unfinished, answering PUBREC with
// PUBREL, and returns when every PUBCOMP has arrived. Answers are flushed at once: flushing
// only when the read buffer is empty would leave a PUBREL unsent when the packets after it
// need no answer (PUBCOMPs), and both sides would wait.
func publishQoS2(b *testing.B, c *benchClient, topic string, n, window int, payload []byte) {
	free := make(chan uint16, window)
	for i := range window {
		free <- uint16(i + 1)
	}
	stop := make(chan struct{}) // closed when the reader ends
	go func() {
		defer close(stop)
		for done := 0; done < n; {
			p, err := c.r.ReadPacket(mqtt.V5)
			if err != nil {
				return
			}
			switch p.Type {
			case mqtt.TypePubrec:
				c.write(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: p.PacketID}, true)
			case mqtt.TypePubcomp:
				done++
				free <- p.PacketID
			default:
				b.Errorf("publisher got %s after %d of %d messages", p.String(), done, n)
				return
			}
		}
	}()
	for i := range n {
		var pid uint16
		select {
		case pid = <-free:
		case <-stop:
			b.Fatalf("the publisher's connection ended after %d messages sent", i)
		}
		c.write(&mqtt.Packet{Type: mqtt.TypePublish, Topic: topic, QoS: mqtt.QoS2, PacketID: pid, Payload: payload},
			len(free) == 0 || i == n-1)
	}
	<-stop
	require.Len(b, free, window, "a packet id did not come back")
}

// consumeQoS2 completes every QoS 2 PUBLISH (PUBREC, then PUBCOMP on PUBREL) and counts the
// completed ones in got.
func consumeQoS2(c *benchClient, got *atomic.Int64) {
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			p, err := c.r.ReadPacket(mqtt.V5)
			if err != nil {
				return
			}
			switch p.Type {
			case mqtt.TypePublish:
				c.write(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p.PacketID}, true)
			case mqtt.TypePubrel:
				got.Add(1)
				c.write(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p.PacketID}, true)
			}
		}
	}()
}

// BenchmarkDurableShared_DrainQoS2 measures how fast two returning members complete a durable
// group's backlog of QoS 2 messages ("group": each round of hand-outs commits its holds before
// the PUBLISHes go out, and each PUBREC commits the hold's release before PUBREL), against one
// returning durable session alone ("session": its PUBRECs commit too).
func BenchmarkDurableShared_DrainQoS2(b *testing.B) {
	const backlog = 2000
	payload := make([]byte, 64)
	for _, mode := range []string{"session", "group"} {
		b.Run(mode, func(b *testing.B) {
			addr := benchServer(b, true)
			for i := 0; i < b.N; i++ {
				ids := []string{fmt.Sprintf("q2-%d-a", i), fmt.Sprintf("q2-%d-b", i)}
				filter := fmt.Sprintf("$share/gq%d/q2drain/%d", i, i)
				if mode == "session" {
					ids, filter = ids[:1], fmt.Sprintf("q2drain/%d", i)
				}
				for _, id := range ids {
					s := benchConnect(b, addr, id, true, 3600)
					s.subscribeOnly(b, filter, mqtt.QoS2)
					s.close()
				}
				p := benchConnect(b, addr, "q2pub", true, 0)
				publishQoS2(b, p, fmt.Sprintf("q2drain/%d", i), backlog, 64, payload)
				p.close()

				start := time.Now()
				var got atomic.Int64
				var subs []*benchClient
				for _, id := range ids {
					s := benchConnect(b, addr, id, false, 3600)
					consumeQoS2(s, &got)
					subs = append(subs, s)
				}
				awaitCount(b, backlog, got.Load)
				elapsed := time.Since(start)
				b.ReportMetric(float64(elapsed.Milliseconds()), "ms/drain")
				b.ReportMetric(backlog/elapsed.Seconds(), "msgs/s")
				for _, s := range subs {
					s.close()
				}
			}
		})
	}
}
