package server

import (
	"math"
	"testing"

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
