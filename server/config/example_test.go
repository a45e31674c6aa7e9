package config_test

import (
	"fmt"

	"github.com/mqttds/mqttds/server/config"
)

func ExampleParse() {
	cfg, err := config.Parse([]byte(`
listeners:
  tcp:
    bind: 127.0.0.1:2883
mqtt:
  max_packet_size: 256KiB
  session_expiry_interval: 1h
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := cfg.ApplyEnv([]string{"MQTTDS_LOG_LEVEL=debug"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Listeners.TCP.Bind, cfg.MQTT.MaxPacketSize, int64(cfg.MQTT.MaxPacketSize), cfg.MQTT.SessionExpiryInterval, cfg.Log.Level)
	fmt.Println(cfg.Validate())

	_, err = config.Parse([]byte("mqtt:\n  max_inflight: lots\n  retain: false\n"))
	fmt.Println(err)
	// Output:
	// 127.0.0.1:2883 256KiB 262144 1h debug
	// <nil>
	// line 2: mqtt.max_inflight: invalid value "lots" (want an integer)
	// line 3: mqtt.retain: unknown key
}
