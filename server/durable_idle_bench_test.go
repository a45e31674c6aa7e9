//go:build unix

package server

import (
	"fmt"
	"syscall"
	"testing"
	"time"
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
