package dsbench

import (
	"context"
	"fmt"
	"testing"

	"github.com/mqttds/mqttds/layout"
)

// BenchmarkReplay replays the default filters over one written fleet of 20,000 topics × 2
// messages per layout, so that a layout change can be compared with benchstat. Besides time
// it reports keys read per returned message and seeks per replay, which do not depend on the
// machine.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	for _, kind := range []string{layout.KindWildcardOptimized, layout.KindReference} {
		s, err := Write(ctx, Config{Topics: "site/{0..19}/dev/{0..999}/temp", Layout: layout.Options{Kind: kind}})
		if err != nil {
			b.Fatal(err)
		}
		for i, f := range s.cfg.Filters {
			b.Run(fmt.Sprintf("layout=%s/F%d", kind, i+1), func(b *testing.B) {
				var fr FilterResult
				for b.Loop() {
					if fr, err = s.Replay(ctx, f); err != nil {
						b.Fatal(err)
					}
				}
				if fr.Returned != fr.Expected {
					b.Fatalf("%s: %d returned, %d expected", f, fr.Returned, fr.Expected)
				}
				b.ReportMetric(fr.KeysPerMsg, "keys/msg")
				b.ReportMetric(float64(fr.Seeks), "seeks/op")
				b.ReportMetric(float64(fr.Returned)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
