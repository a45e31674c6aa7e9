// Package serverfuzz holds the broker's fuzz target: arbitrary bytes sent
// by a connected client, after a good CONNECT, must never crash the broker
// or stop it from serving the next client. The seed corpus under
// testdata/fuzz comes from the codec's golden table (mqtt/mqtttest); run
// MQTTDS_WRITE_SEEDS=1 go test ./fuzz/server after the table changes.
package serverfuzz
