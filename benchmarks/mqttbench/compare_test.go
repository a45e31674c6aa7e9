package mqttbench

import (
	"strings"
	"testing"
)

func TestWriteComparison(t *testing.T) {
	results := []*Result{
		{Mode: ModePub, Label: "mqttds/qos1-p2p", Subs: 4, RecvRate: 30000, Latency: LatencySummary{P50: 1, P99: 4}},
		{Mode: ModePub, Label: "mosquitto/qos1-p2p", Subs: 4, RecvRate: 20000, Latency: LatencySummary{P50: 2, P99: 8}, Lost: 0},
		{Mode: ModeConn, Label: "mosquitto/conn", ConnectRate: 4000, RSSPerConn: 2048, Connected: 1000},
		{Mode: ModeDurable, Label: "mosquitto/durable", SendRate: 5000, AckLatency: LatencySummary{P50: 0.5},
			Durable: &DurableResult{Acked: 100, DrainSeconds: 0.5}},
		{Mode: ModeDurable, Label: "mqttds/durable", SendRate: 2500, AckLatency: LatencySummary{P50: 2},
			Durable: &DurableResult{Acked: 100, Delivered: 100, SessionPresent: true, DrainSeconds: 0.25}},
	}
	var b strings.Builder
	if err := WriteComparison(&b, results, "mosquitto"); err != nil {
		t.Fatal(err)
	}
	want := `| scenario | metric | mosquitto | mqttds | mqttds ÷ mosquitto |
|---|---|---:|---:|---:|
| qos1-p2p | received msg/s (higher is better) | 20000 | 30000 | 1.50× |
| qos1-p2p | latency p50 ms (lower is better) | 2.00 | 1.00 | 0.50× |
| qos1-p2p | latency p99 ms (lower is better) | 8.00 | 4.00 | 0.50× |
| qos1-p2p | lost / duplicates / reordered | 0 / 0 / 0 | 0 / 0 / 0 | — |
| conn | connections/s (higher is better) | 4000 | — | — |
| conn | connect p50 ms (lower is better) | 0.00 | — | — |
| conn | connect p99 ms (lower is better) | 0.00 | — | — |
| conn | broker RSS per connection, KiB (lower is better) | 2.0 | — | — |
| conn | connected / failed | 1000 / 0 | — | — |
| durable | QoS 1 msg/s published to the offline session (higher is better) | 5000 | 2500 | 0.50× |
| durable | PUBACK p50 ms (lower is better) | 0.50 | 2.00 | 4.00× |
| durable | acked messages delivered after restart | 0 / 100 | 100 / 100 | — |
| durable | session present after restart | no | yes | — |
| durable | duplicates | 0 | 0 | — |
| durable | drain time s (lower is better) | n/a | 0.25 | — |
`
	if got := b.String(); got != want {
		t.Fatalf("table\n%s\nwant\n%s", got, want)
	}
	if err := WriteComparison(&b, []*Result{{Label: "nolabel"}}, "x"); err == nil {
		t.Fatal("a label without a scenario was accepted")
	}
}
