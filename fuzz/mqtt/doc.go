// Package mqttfuzz holds the fuzz targets of the mqtt codec. The seed corpus under
// testdata/fuzz is generated from the golden table (mqtt/mqtttest): run
// MQTTDS_WRITE_SEEDS=1 go test ./fuzz/mqtt after changing the table; TestSeedCorpus fails while the
// committed corpus is stale.
package mqttfuzz
