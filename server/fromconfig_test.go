package server

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/server/config"
)

// Ensure that the configuration's queue length maps onto the broker's
// options with its documented meaning: 0 is no limit, not the default.
func TestFromConfigQueueLimit(t *testing.T) {
	for _, tc := range []struct {
		configured, want int
	}{
		{0, math.MaxInt},
		{1, 1},
		{1000, 1000},
	} {
		cfg := config.Default()
		cfg.MQTT.MaxMqueueLen = tc.configured
		o, _, err := FromConfig(cfg, nil)
		require.NoError(t, err)
		o.EnsureDefaults()
		require.Equal(t, tc.want, o.MaxQueued, "max_mqueue_len %d", tc.configured)
	}
}

// Ensure that mqtt.check_payload_format reaches the broker: on by default,
// and false turns the check off.
func TestFromConfigPayloadFormatCheck(t *testing.T) {
	cfg := config.Default()
	o, _, err := FromConfig(cfg, nil)
	require.NoError(t, err)
	require.False(t, o.NoPayloadFormatCheck)

	cfg.MQTT.CheckPayloadFormat = false
	o, _, err = FromConfig(cfg, nil)
	require.NoError(t, err)
	require.True(t, o.NoPayloadFormatCheck)
}

// Ensure that mqtt.flow_high_watermark reaches the broker with its
// documented meaning: 0 the default, -1 off, anything else the mark.
func TestFromConfigFlowHighWatermark(t *testing.T) {
	for _, tc := range []struct{ configured, wantHigh int }{{0, 256}, {-1, 0}, {100, 100}} {
		cfg := config.Default()
		cfg.MQTT.FlowHighWatermark = tc.configured
		require.NoError(t, cfg.Validate())
		o, _, err := FromConfig(cfg, nil)
		require.NoError(t, err)
		high, _ := o.EnsureDefaults().flowWatermarks()
		require.Equal(t, tc.wantHigh, high, "flow_high_watermark %d", tc.configured)
	}
}

// Ensure that renew_streams_interval reaches the durable options.
func TestFromConfigRenewStreamsInterval(t *testing.T) {
	cfg := config.Default()
	cfg.DurableSessions.RenewStreamsInterval = config.Duration(25 * time.Millisecond)
	o, _, err := FromConfig(cfg, nil)
	require.NoError(t, err)
	require.Equal(t, 25*time.Millisecond, o.Durable.RenewStreamsInterval)
}
