package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/mqtt"
)

// Ensure that /metrics of a broker with durable storage exports the store's figures, that the
// text parses, and that the series move with the traffic: stored messages are counted in the
// egress counters and the latency histograms, read messages in the Next figures.
func TestDSMetricsScrape(t *testing.T) {
	s, addr := durableServer(t, t.TempDir())
	sub, _ := rawDurable(t, addr, "ds-metrics-sub", true, 10)
	sub.subscribe(1, mqtt.Subscription{Filter: "m/#", QoS: mqtt.QoS1})
	pub := dialRaw(t, addr, mqtt.V5)
	pub.connect("ds-metrics-pub", true)
	const published = 5
	for i := range published {
		pub.publish("m/x", "payload", mqtt.QoS1, uint16(i+1), false)
		pub.expect(mqtt.TypePuback)
	}
	for range published {
		sub.expect(mqtt.TypePublish)
	}
	h := s.APIHandler()
	families := scrape(t, h)

	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	one := func(name string) *dto.Metric {
		t.Helper()
		f, ok := families[name]
		require.True(t, ok, "%s not exported", name)
		require.Len(t, f.GetMetric(), 1, name)
		require.Equal(t, storageName, label(f.GetMetric()[0], "db"), name)
		return f.GetMetric()[0]
	}
	for _, tc := range []struct {
		name string
		min  float64
	}{
		{"mqttds_ds_egress_batches_total", 1},
		{"mqttds_ds_egress_messages_total", published},
		{"mqttds_ds_egress_bytes_total", published * float64(len("m/xpayload"))},
		{"mqttds_ds_egress_batches_failed_total", 0},
		{"mqttds_ds_next_messages_total", published},
		{"mqttds_ds_layout_seeks_total", 0},
		{"mqttds_ds_layout_nexts_total", 0},
		{"mqttds_ds_layout_collisions_total", 0},
		{"mqttds_ds_disk_bytes", 1},
	} {
		m := one(tc.name)
		v := m.GetCounter().GetValue()
		if m.GetGauge() != nil {
			v = m.GetGauge().GetValue()
		}
		require.GreaterOrEqual(t, v, tc.min, tc.name)
	}
	for _, name := range []string{"mqttds_ds_egress_flush_seconds", "mqttds_ds_store_batch_seconds", "mqttds_ds_next_seconds"} {
		f := families[name]
		require.Equal(t, dto.MetricType_HISTOGRAM, f.GetType(), name)
		hist := one(name).GetHistogram()
		require.Positive(t, hist.GetSampleCount(), name)
		require.Positive(t, hist.GetSampleSum(), name)
		prev := uint64(0)
		for _, b := range hist.GetBucket() {
			require.GreaterOrEqual(t, b.GetCumulativeCount(), prev, "%s buckets must be cumulative", name)
			require.LessOrEqual(t, b.GetCumulativeCount(), hist.GetSampleCount(), name)
			prev = b.GetCumulativeCount()
		}
	}
	gens := families["mqttds_ds_generations"].GetMetric()
	require.Len(t, gens, s.Storage().NumShards(), "one series per shard")
	for _, g := range gens {
		require.NotEmpty(t, label(g, "shard"))
		require.GreaterOrEqual(t, g.GetGauge().GetValue(), 1.0, "every shard has its current generation")
	}
	require.Len(t, families["mqttds_ds_retention_expired_total"].GetMetric(), s.Storage().NumShards())
}

// Ensure that a broker without durable storage exports no mqttds_ds_ series.
func TestDSMetricsAbsentWithoutStorage(t *testing.T) {
	s, _ := startServer(t, nil)
	for name := range scrape(t, s.APIHandler()) {
		require.False(t, strings.HasPrefix(name, "mqttds_ds_"), name)
	}
}

// scrape reads /metrics of h and parses it with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	return families
}

func TestLatencyHistogramRebucketing(t *testing.T) {
	desc := prometheus.NewDesc("x_seconds", "x", nil, nil)
	for _, tc := range []struct {
		name    string
		buckets []ds.LatencyBucket
		want    map[float64]uint64 // cumulative counts at some bounds
	}{
		{"empty", nil, map[float64]uint64{10e-6: 0, 10: 0}},
		{"exact bound", []ds.LatencyBucket{{Below: 10 * time.Microsecond, Count: 2}}, map[float64]uint64{10e-6: 2, 25e-6: 2}},
		{"straddling goes up", []ds.LatencyBucket{{Below: 11 * time.Microsecond, Count: 3}}, map[float64]uint64{10e-6: 0, 25e-6: 3}},
		{"spread", []ds.LatencyBucket{{Below: time.Microsecond, Count: 1}, {Below: 900 * time.Microsecond, Count: 2},
			{Below: 20 * time.Second, Count: 1}}, map[float64]uint64{10e-6: 1, 500e-6: 1, 1e-3: 3, 10: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var count uint64
			for _, b := range tc.buckets {
				count += b.Count
			}
			var m dto.Metric
			require.NoError(t, latencyHistogram(desc, ds.Latency{Count: count, Sum: time.Second, Buckets: tc.buckets}).Write(&m))
			require.Equal(t, count, m.GetHistogram().GetSampleCount())
			got := map[float64]uint64{}
			for _, b := range m.GetHistogram().GetBucket() {
				got[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			for bound, want := range tc.want {
				require.Equal(t, want, got[bound], "le=%v", bound)
			}
		})
	}
}
