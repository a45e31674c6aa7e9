package durable

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPacketIDMappingSoak drives a session with random publishes, fetches, acknowledgements
// and crashes, against a model of what the client holds, and checks after every step:
//   - a packet id is never handed out while it is in flight [MQTT-2.2.1-3];
//   - after a crash, Replay re-sends exactly the in-flight messages (plus completions that had
//     not been committed yet), each under the packet id and with the message it had;
//   - a QoS 2 message that got PUBREC is re-sent only as PUBREL [MQTT-4.3.3-2];
//   - every published message is delivered, in publish order for first sends;
//   - windows fetched without waiting (FetchWindow, as the broker's pipelined loop does) are
//     sent only once durable; a crash before that loses none of their messages.
//
// MQTTDS_SEED reproduces a run; MQTTDS_SOAK runs many more steps.
func TestPacketIDMappingSoak(t *testing.T) {
	seed := uint64(rand.Int64())
	if v := os.Getenv("MQTTDS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	steps := 400
	if os.Getenv("MQTTDS_SOAK") != "" {
		steps = 20000
	}
	t.Logf("seed %d (MQTTDS_SEED=%d reproduces)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	e := newEnv(t)
	s := e.session("s", "p/#")
	type held struct {
		payload  string
		qos      byte
		released bool
	}
	inflight := map[uint16]held{}    // what the client may still acknowledge
	uncommitted := map[uint16]held{} // completed since the last Flush: may come back after a crash
	published, firstSends := 0, []string{}
	ctx := context.Background()
	var unsent []*Window // fetched without waiting, not sent yet
	unsentPIDs := func() map[uint16]held {
		out := map[uint16]held{}
		for _, w := range unsent {
			for _, d := range w.Deliveries {
				out[d.PID] = held{payload: string(d.Message.Payload), qos: d.QoS}
			}
		}
		return out
	}
	send := func(step int, ds []Delivery) {
		for _, d := range ds {
			_, busy := inflight[d.PID]
			require.False(t, busy, "step %d: pid %d handed out while in flight", step, d.PID)
			require.NotZero(t, d.PID)
			delete(uncommitted, d.PID)
			inflight[d.PID] = held{payload: string(d.Message.Payload), qos: d.QoS}
			firstSends = append(firstSends, string(d.Message.Payload))
		}
	}

	for step := range steps {
		switch op := rng.IntN(10); {
		case op < 3: // publish
			n := 1 + rng.IntN(5)
			for range n {
				e.publish("pub", "p/"+strconv.Itoa(rng.IntN(3)), byte(1+rng.IntN(2)), strconv.Itoa(published))
				published++
			}
		case op < 5: // fetch into a random window, sending the pipelined windows first
			window := 1 + rng.IntN(40)
			room := max(0, window-len(inflight)-len(unsentPIDs()))
			if rng.IntN(2) == 0 {
				w, err := s.FetchWindow(ctx, max(1, room))
				require.NoError(t, err)
				for _, d := range w.Deliveries {
					_, busy := inflight[d.PID]
					_, fetched := unsentPIDs()[d.PID]
					require.False(t, busy || fetched, "step %d: pid %d handed out while in flight", step, d.PID)
				}
				unsent = append(unsent, w)
				break
			}
			for ; len(unsent) > 0; unsent = unsent[1:] {
				require.NoError(t, unsent[0].Wait())
				send(step, unsent[0].Deliveries)
			}
			send(step, fetch(t, s, room))
		case op < 8: // acknowledge a random in-flight message
			for pid, h := range inflight {
				if h.qos == 2 && !h.released && rng.IntN(2) == 0 {
					known, err := s.Pubrec(pid)
					require.NoError(t, err)
					require.True(t, known)
					h.released = true
					inflight[pid] = h
				} else {
					known, _ := s.Complete(pid)
					require.True(t, known)
					delete(inflight, pid)
					uncommitted[pid] = h
				}
				break
			}
		case op < 9:
			require.NoError(t, s.Flush())
			clear(uncommitted)
		default: // crash and reconnect
			e.crash()
			fetched := unsentPIDs() // never sent: if they were committed, they come back now
			unsent = nil
			s = e.st.Session("s")
			rep, err := s.Replay(ctx)
			require.NoError(t, err)
			got := map[uint16]held{}
			for _, d := range rep {
				require.True(t, d.Dup)
				h, ok := inflight[d.PID]
				if !ok {
					h, ok = uncommitted[d.PID]
				}
				if !ok {
					if h, ok = fetched[d.PID]; ok {
						firstSends = append(firstSends, h.payload)
					}
				}
				require.True(t, ok, "step %d: replayed pid %d was not in flight", step, d.PID)
				if h.released {
					require.True(t, d.Released, "step %d: released pid %d re-sent as PUBLISH", step, d.PID)
				} else {
					require.False(t, d.Released)
					require.Equal(t, h.payload, string(d.Message.Payload), "step %d: pid %d names another message", step, d.PID)
				}
				got[d.PID] = h
			}
			for pid := range inflight {
				_, ok := got[pid]
				require.True(t, ok, "step %d: in-flight pid %d not replayed", step, pid)
			}
			inflight, uncommitted = got, map[uint16]held{}
		}
	}
	// Drain: every message was sent once as a first send, in publish order.
	for _, w := range unsent {
		require.NoError(t, w.Wait())
		for _, d := range w.Deliveries {
			firstSends = append(firstSends, string(d.Message.Payload))
		}
	}
	for {
		ds := fetch(t, s, 1000)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			firstSends = append(firstSends, string(d.Message.Payload))
		}
	}
	want := make([]string, published)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	require.ElementsMatch(t, want, firstSends)
	require.Len(t, firstSends, published, "no message sent twice as a first send")
}
