package topic_test

import (
	"fmt"

	"github.com/mqttds/mqttds/mqtt/topic"
)

func ExampleMatch() {
	fmt.Println(topic.Match("sport/#", "sport"))
	fmt.Println(topic.Match("sport/+", "sport"))
	fmt.Println(topic.Match("#", "$SYS/uptime"))
	fmt.Println(topic.Match("$SYS/#", "$SYS/uptime"))
	// Output:
	// true
	// false
	// false
	// true
}

func ExampleParseFilter() {
	f, err := topic.ParseFilter("$share/workers/jobs/+")
	fmt.Printf("%q %q %v\n", f.Group, f.Filter, err)
	_, err = topic.ParseFilter("$share/a+b/jobs")
	fmt.Println(err, topic.Rule(err))
	// Output:
	// "workers" "jobs/+" <nil>
	// topic: share name contains a wildcard or is not followed by '/' [MQTT-4.8.2-2] v5 [MQTT-4.8.2-2] v5
}

func ExampleOptions_ValidateName() {
	o := &topic.Options{MaxLevels: 3}
	fmt.Println(o.ValidateName("a/b/c"))
	fmt.Println(o.ValidateName("a/b/c/d"))
	fmt.Println(o.ValidateName("a/+"))
	// Output:
	// <nil>
	// topic: topic has too many levels (mqttds limit: max topic levels)
	// topic: wildcard in topic name [MQTT-4.7.0-1] v5
}
