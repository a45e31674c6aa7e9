package subscriptions_test

import (
	"fmt"

	"github.com/mqttds/mqttds/server/subscriptions"
)

func ExampleIndex_Match() {
	ix := subscriptions.New()
	ix.Add("c1", "sensors/+/temp", subscriptions.Options{QoS: 1, SubscriptionID: 7})
	ix.Add("c1", "sensors/#", subscriptions.Options{QoS: 2})
	ix.Add("w1", "$share/workers/sensors/#", subscriptions.Options{QoS: 1})
	ix.Add("w2", "$share/workers/sensors/#", subscriptions.Options{QoS: 0})

	online := func(clientID string) bool { return clientID != "w1" }
	for _, s := range ix.Match("sensors/kitchen/temp", "publisher", nil) {
		if s.Shared() {
			m, ok := s.Pick(subscriptions.RoundRobin, "publisher", online)
			fmt.Println("group", s.Group, "->", m.ClientID, "qos", m.QoS, ok)
			continue
		}
		fmt.Println(s.ClientID, "qos", s.QoS, "ids", s.SubscriptionIDs)
	}
	// Output:
	// group workers -> w2 qos 0 true
	// c1 qos 2 ids [7]
}

func ExampleRetained_Match() {
	r := subscriptions.NewRetained[string]()
	r.Set("sport/tennis", "15-0")
	r.Set("sport", "on")
	r.Set("$SYS/uptime", "12s")
	for _, e := range r.Match("sport/#", nil) {
		if e.Topic == "sport/tennis" {
			fmt.Println(e.Topic, e.Value)
		}
	}
	fmt.Println(len(r.Match("sport/#", nil)), len(r.Match("#", nil)))
	// Output:
	// sport/tennis 15-0
	// 2 2
}
