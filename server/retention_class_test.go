package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/server/config"
)

// Ensure that durable_sessions.retention_classes reach the storage options, in order.
func TestFromConfigRetentionClasses(t *testing.T) {
	cfg := config.Default()
	cfg.DurableSessions.MessageRetentionPeriod = config.Duration(time.Hour)
	cfg.DurableSessions.RetentionClasses = []config.RetentionClass{
		{Filter: "logs/debug/#", Period: config.Duration(time.Minute)},
		{Filter: "logs/#", Period: config.Duration(10 * time.Minute)},
	}
	require.NoError(t, cfg.Validate())
	o, _, err := FromConfig(cfg, nil)
	require.NoError(t, err)
	require.Equal(t, time.Hour, o.Durable.Storage.Retention.Period)
	require.Equal(t, []ds.RetentionClass{{Filter: "logs/debug/#", Period: time.Minute}, {Filter: "logs/#", Period: 10 * time.Minute}},
		o.Durable.Storage.Retention.Classes)
}

// Ensure that a broker configured with logs/# kept 1 s and everything else 1 h drops the logs
// a durable session missed while keeping its other messages: the logs stream loses its old
// keys to a range delete, and a message of a class inside a stream that mixes classes
// (mixed/fast among mixed/+ topics) is skipped at read time and counted as expired.
func TestDurable_RetentionClassDropsLogs(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.DurableSessions.MessageRetentionPeriod = config.Duration(time.Hour)
	cfg.DurableSessions.RetentionClasses = []config.RetentionClass{
		{Filter: "logs/#", Period: config.Duration(time.Second)},
		{Filter: "mixed/fast", Period: config.Duration(time.Second)},
	}
	cfg.DurableStorage.Messages.NShards = 2
	cfg.DurableStorage.Messages.Layout.EpochBits = 10 // 1 ms epochs: old logs leave storage soon
	require.NoError(t, cfg.Validate())
	o, _, err := FromConfig(cfg, nil)
	require.NoError(t, err)
	// Open the store here to look at its metrics; the broker uses it as configured.
	db, err := ds.Open(o.Durable.Dir, o.Durable.Storage)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) }) // after the broker's own cleanup
	o.Durable.DB = db
	_, addr := startServer(t, o)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, _ := pahoV5(t, addr, "rc-sub", true, 3600)
	_, err = sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "#", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, sub.Disconnect(&paho.Disconnect{}))

	pub, _ := pahoV5(t, addr, "rc-pub", true, 0)
	var topics []string
	for i := range 20 { // 20 concrete siblings: later mixed/... topics share one '+' stream
		topics = append(topics, fmt.Sprintf("mixed/%d", i))
	}
	topics = append(topics, "logs/a", "logs/b", "keep/b", "mixed/fast", "mixed/slow")
	for _, tp := range topics {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: tp, QoS: 1, Payload: []byte(tp)})
		require.NoError(t, err)
	}
	require.NoError(t, pub.Disconnect(&paho.Disconnect{}))

	// The retention check runs every 250 ms (a quarter of the shortest class): once the logs
	// are a second old plus an epoch, their stream's keys go.
	require.Eventually(t, func() bool { return db.Metrics().Retention.RangeDeletes > 0 },
		10*time.Second, 20*time.Millisecond, "no range delete of the logs stream")
	before := db.Metrics().Retention.Expired

	_, got := pahoV5Present(t, addr, "rc-sub", 3600, true)
	want := append(topics[:20:20], "keep/b", "mixed/slow")
	var seen []string
	for range want {
		seen = append(seen, receive(t, got).Topic)
	}
	require.ElementsMatch(t, want, seen)
	select {
	case p := <-got:
		t.Fatalf("%s delivered past its retention period", p.Topic)
	case <-time.After(300 * time.Millisecond):
	}
	m := db.Metrics()
	require.Greater(t, m.Retention.Expired, before, "mixed/fast was skipped at read time")
	require.Zero(t, m.Generations.RetentionErrors)
}
