package server

import (
	"strconv"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/prometheus/client_golang/prometheus"
)

// dsCollector exports a ds store's Metrics snapshot (mqttds_ds_*), read at each scrape, so
// the Prometheus view and ds.Metrics never disagree. Every series carries the label db (the
// store's name); the series kept per shard carry shard too.
type dsCollector struct {
	db    *ds.DB
	descs dsDescs
}

type dsDescs struct {
	batches, messages, kvWrites, bytes, failedBatches, failedItems *prometheus.Desc
	flush, flushMax, store, next, nextMessages                     *prometheus.Desc
	seeks, nexts, collisions                                       *prometheus.Desc
	generations, generationsAdded, generationsDropped              *prometheus.Desc
	retentionErrors, expired, rangeDeletes                         *prometheus.Desc
	pending, inFlight, diskBytes, recoveries                       *prometheus.Desc
}

// dsLatencyBounds are the upper bounds (seconds) of the exported latency histograms: from
// 10 µs (a flush without fsync) to 10 s (a stalled disk).
var dsLatencyBounds = []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3,
	10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10}

// newDSCollector exports db's metrics under the label db=name.
func newDSCollector(name string, db *ds.DB) *dsCollector {
	labels := prometheus.Labels{"db": name}
	d := func(metric, help string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc("mqttds_ds_"+metric, help, variable, labels)
	}
	return &dsCollector{db: db, descs: dsDescs{
		batches:            d("egress_batches_total", "Write batches (flushes) committed."),
		messages:           d("egress_messages_total", "Messages in the committed batches."),
		kvWrites:           d("egress_kv_writes_total", "Key-value writes (session state, retained) in the committed batches."),
		bytes:              d("egress_bytes_total", "Bytes (topic, payload, key-value) in the committed batches."),
		failedBatches:      d("egress_batches_failed_total", "Batches whose commit failed; their writers got the error."),
		failedItems:        d("egress_items_failed_total", "Messages and key-value writes in the failed batches."),
		flush:              d("egress_flush_seconds", "Time from the start of a flush to its durability."),
		flushMax:           d("egress_flush_max_seconds", "The longest flush since the store opened."),
		store:              d("store_batch_seconds", "Latency of a Store or Apply call that waited for its batch to be durable."),
		next:               d("next_seconds", "Duration of an iterator's Next call."),
		nextMessages:       d("next_messages_total", "Messages returned by Next calls."),
		seeks:              d("layout_seeks_total", "Storage seeks made by Next calls (the layout's index jumps)."),
		nexts:              d("layout_nexts_total", "Storage steps made by Next calls."),
		collisions:         d("layout_collisions_total", "Keys a Next call read that belonged to another topic of the same stream."),
		generations:        d("generations", "Live generations.", "shard"),
		generationsAdded:   d("generations_added_total", "Generations added since the store opened."),
		generationsDropped: d("generations_dropped_total", "Generations dropped since the store opened."),
		retentionErrors:    d("retention_errors_total", "Failed automatic rotations and drops (retried at the next check)."),
		expired:            d("retention_expired_total", "Messages readers skipped as past their retention period.", "shard"),
		rangeDeletes:       d("retention_range_deletes_total", "Expired spans of streams deleted by the retention check."),
		pending:            d("pending_writes", "Writes waiting in the write buffers."),
		inFlight:           d("flushes_in_flight", "Flushes being committed."),
		diskBytes:          d("disk_bytes", "Bytes of the store's files on disk."),
		recoveries:         d("recoveries_total", "Reopenings of the storage engine after a failed write."),
	}}
}

func (c *dsCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.descs
	for _, x := range []*prometheus.Desc{d.batches, d.messages, d.kvWrites, d.bytes, d.failedBatches, d.failedItems,
		d.flush, d.flushMax, d.store, d.next, d.nextMessages, d.seeks, d.nexts, d.collisions, d.generations,
		d.generationsAdded, d.generationsDropped, d.retentionErrors, d.expired, d.rangeDeletes, d.pending,
		d.inFlight, d.diskBytes, d.recoveries} {
		ch <- x
	}
}

func (c *dsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	d := &c.descs
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter(d.batches, m.Buffer.Batches)
	counter(d.messages, m.Buffer.Messages)
	counter(d.kvWrites, m.Buffer.KVWrites)
	counter(d.bytes, m.Buffer.Bytes)
	counter(d.failedBatches, m.Buffer.FailedBatches)
	counter(d.failedItems, m.Buffer.FailedItems)
	ch <- latencyHistogram(d.flush, m.Buffer.FlushLatency)
	gauge(d.flushMax, m.Buffer.MaxFlush.Seconds())
	ch <- latencyHistogram(d.store, m.Buffer.StoreLatency)
	ch <- latencyHistogram(d.next, m.Read.NextLatency)
	counter(d.nextMessages, m.Read.Messages)
	counter(d.seeks, m.Read.Seeks)
	counter(d.nexts, m.Read.Nexts)
	counter(d.collisions, m.Read.Collisions)
	c.collectGenerations(ch)
	counter(d.generationsAdded, m.Generations.Added)
	counter(d.generationsDropped, m.Generations.Dropped)
	counter(d.retentionErrors, m.Generations.RetentionErrors)
	for shard, n := range m.Retention.ExpiredByShard {
		counter(d.expired, n, strconv.Itoa(shard))
	}
	counter(d.rangeDeletes, m.Retention.RangeDeletes)
	gauge(d.pending, float64(m.Shards.Pending))
	gauge(d.inFlight, float64(m.Shards.InFlight))
	gauge(d.diskBytes, float64(m.Disk.Usage))
	counter(d.recoveries, m.Disk.Recoveries)
}

// collectGenerations exports the live generations per shard; a closed store exports none.
func (c *dsCollector) collectGenerations(ch chan<- prometheus.Metric) {
	gens, err := c.db.ListGenerations(0, 0)
	if err != nil {
		return
	}
	perShard := make([]int, c.db.NumShards())
	for _, g := range gens {
		if g.Shard < len(perShard) {
			perShard[g.Shard]++
		}
	}
	for shard, n := range perShard {
		ch <- prometheus.MustNewConstMetric(c.descs.generations, prometheus.GaugeValue, float64(n), strconv.Itoa(shard))
	}
}

// latencyHistogram re-buckets a ds latency histogram onto dsLatencyBounds. A ds bucket is
// counted under the first bound at or above its own, so a bucket's count never includes a
// duration above its bound (it may leave out one within 25% below it).
func latencyHistogram(desc *prometheus.Desc, l ds.Latency) prometheus.Metric {
	cumulative := make(map[float64]uint64, len(dsLatencyBounds))
	i := 0
	var below uint64
	for _, bound := range dsLatencyBounds {
		limit := time.Duration(bound * float64(time.Second))
		for i < len(l.Buckets) && l.Buckets[i].Below <= limit {
			below += l.Buckets[i].Count
			i++
		}
		cumulative[bound] = below
	}
	return prometheus.MustNewConstHistogram(desc, l.Count, l.Sum.Seconds(), cumulative)
}

// ClusterLatencies is implemented by a Cluster that measures how long its writes take to
// commit (exported as mqttds_replication_commit_duration_seconds).
type ClusterLatencies interface {
	CommitLatency() ds.Latency
}

// commitLatencyMetric is the commit latency histogram of c, if c measures it.
func commitLatencyMetric(desc *prometheus.Desc, c Cluster) (prometheus.Metric, bool) {
	cl, ok := c.(ClusterLatencies)
	if !ok {
		return nil, false
	}
	return latencyHistogram(desc, cl.CommitLatency()), true
}

// storageName is the db label of the broker's one store (durable sessions, their messages and
// the retained messages).
const storageName = "default"
