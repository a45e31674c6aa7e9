//go:build unix

package server

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/server/durable"
	"github.com/stretchr/testify/require"
)

// processCPU is the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDurable_IdleSessions publishes QoS 1 to one durable subscriber while 0 or 200 other
// durable sessions are online with subscriptions nothing matches. cpu-us/msg should not depend
// on the idle sessions: they are not woken by others' traffic.
func BenchmarkDurable_IdleSessions(b *testing.B) {
	for _, idle := range []int{0, 200} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			addr := benchServer(b, true)
			for i := range idle {
				c := benchConnect(b, addr, fmt.Sprintf("idle%d", i), true, 3600)
				c.subscribe(b, fmt.Sprintf("idle/%d/#", i))
				defer c.close()
			}
			s := benchConnect(b, addr, "busy", true, 3600)
			s.subscribe(b, "busy/#")
			p := benchConnect(b, addr, "bp", true, 0)
			b.ResetTimer()
			cpu, start := processCPU(), time.Now()
			p.publish("busy/x", b.N, 32, make([]byte, 64))
			for s.got.Load() < int64(b.N) && time.Since(start) < time.Minute {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/msg")
			s.close()
			p.close()
		})
	}
}

// BenchmarkDurable_RestoreEvict loads a compact durable session (one subscription, as a
// resuming CONNECT does before its CONNACK) and makes it compact again: the cost of keeping
// offline sessions out of memory.
func BenchmarkDurable_RestoreEvict(b *testing.B) {
	srv, _ := startServer(b, &Options{Durable: DurableOptions{Enable: true, Dir: b.TempDir(),
		Storage: &ds.Options{NumShards: 4}}})
	st := srv.durable.store
	const n = 1000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("re-%04d", i)
		s, err := st.Create(context.Background(), ids[i], time.Hour)
		require.NoError(b, err)
		_, err = s.Subscribe(durable.Subscription{Filter: fmt.Sprintf("re/%d/cmd", i), QoS: 1})
		require.NoError(b, err)
		require.True(b, st.Evict(s))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sess, ok := srv.durable.restore(ids[i%n]).(*durableSession)
		require.True(b, ok)
		require.False(b, srv.durable.evict(sess))
		require.Nil(b, srv.loadedSession(ids[i%n]))
	}
}
