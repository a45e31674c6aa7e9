package client_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/client"
	"github.com/mqttds/mqttds/mqtt/client/clienttest"
)

// BenchmarkPublish measures the client's cost per message against a real broker: QoS 0 (queue and
// write) and QoS 1 through a 64-message window (plus the PUBACK's decode and callback), with a
// subscriber in the same process receiving every message.
func BenchmarkPublish(b *testing.B) {
	m := clienttest.StartMosquitto(b, nil)
	ctx := context.Background()
	for _, q := range []mqtt.QoS{mqtt.QoS0, mqtt.QoS1} {
		b.Run(q.String(), func(b *testing.B) {
			var wg sync.WaitGroup
			sub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "bsub", CleanStart: true,
				OnMessage: func(*client.Message) { wg.Done() }})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Disconnect()
			if _, err := sub.Subscribe(ctx, mqtt.Subscription{Filter: "b", QoS: q}); err != nil {
				b.Fatal(err)
			}
			pub, err := client.Dial(ctx, &client.Options{Addr: m.Addr(), ClientID: "bpub", CleanStart: true})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Disconnect()
			payload := make([]byte, 64)
			done := func(error) {}
			wg.Add(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := pub.Publish(ctx, "b", payload, q, false, done); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}
