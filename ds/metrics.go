package ds

import (
	"fmt"
	"math/bits"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/layout"
)

// Metrics is a snapshot of a DB's counters, nested by subsystem. Counters count from Open.
type Metrics struct {
	Buffer struct {
		// Batches is the number of flushes committed; Messages and KVWrites what they held;
		// Bytes the payload+topic+KV bytes.
		Batches, Messages, KVWrites, Bytes uint64
		// FailedBatches and FailedItems count flushes that returned an error to their writers.
		FailedBatches, FailedItems uint64
		// FlushTime is the total time from the start of a flush to its durability; MaxFlush
		// the longest.
		FlushTime, MaxFlush time.Duration
		// StoreLatency is the distribution of Store/Apply latency (successful calls that waited).
		StoreLatency Latency
		// FlushLatency is the distribution of the successful flushes' durations (FlushTime is
		// its sum).
		FlushLatency Latency
	}
	Read struct {
		// NextCalls and Messages count Next calls and the messages they returned; NextTime is
		// their total duration.
		NextCalls, Messages uint64
		NextTime            time.Duration
		// NextLatency is the distribution of the Next calls' durations (NextTime is its sum).
		NextLatency Latency
		// Storage work of Next, from the layouts.
		Seeks, Nexts, Collisions uint64
		// Remote counts the reads this store sent to another replica, for shards it does not
		// hold (RemoteReader); Served those it answered for other replicas (ServeRead).
		Remote, Served uint64
	}
	Generations struct {
		// Live is the number of generations over all shards; Added and Dropped count changes
		// since Open (the first generation of a new shard counts as added).
		Live           int
		Added, Dropped uint64
		// RetentionErrors counts failed automatic rotations and drops (retried next check).
		RetentionErrors uint64
	}
	Retention struct {
		// Expired counts the messages Next skipped because they were past their topic's
		// retention period (RetentionOptions.Period and Classes); ExpiredByShard splits it by
		// shard (index = shard).
		Expired        uint64
		ExpiredByShard []uint64
		// RangeDeletes counts the expired spans of streams inside a retention class that the
		// retention check deleted from live generations.
		RangeDeletes uint64
	}
	Shards struct {
		// NextTimestamp is the smallest timestamp (µs) the next message of any shard can get.
		NextTimestamp uint64
		// Pending is the number of writes waiting in the write buffers, InFlight the flushes
		// being committed.
		Pending, InFlight int
	}
	Disk struct {
		// Usage is the bytes of files of the pebble instance.
		Usage uint64
		// Recoveries counts reopenings of pebble after a failed write.
		Recoveries uint64
	}
}

// Sub returns the counters of m minus those of an earlier snapshot: the activity between the
// two. Gauges (live generations, next timestamp, pending, in flight, disk usage) and the
// latency summary are m's.
func (m *Metrics) Sub(earlier *Metrics) *Metrics {
	d := *m
	b, e := &d.Buffer, &earlier.Buffer
	b.Batches -= e.Batches
	b.Messages -= e.Messages
	b.KVWrites -= e.KVWrites
	b.Bytes -= e.Bytes
	b.FailedBatches -= e.FailedBatches
	b.FailedItems -= e.FailedItems
	b.FlushTime -= e.FlushTime
	r, er := &d.Read, &earlier.Read
	r.NextCalls -= er.NextCalls
	r.Messages -= er.Messages
	r.NextTime -= er.NextTime
	r.Seeks -= er.Seeks
	r.Nexts -= er.Nexts
	r.Collisions -= er.Collisions
	r.Remote -= er.Remote
	r.Served -= er.Served
	d.Generations.Added -= earlier.Generations.Added
	d.Generations.Dropped -= earlier.Generations.Dropped
	d.Generations.RetentionErrors -= earlier.Generations.RetentionErrors
	d.Retention.Expired -= earlier.Retention.Expired
	d.Retention.RangeDeletes -= earlier.Retention.RangeDeletes
	d.Retention.ExpiredByShard = append([]uint64(nil), m.Retention.ExpiredByShard...)
	for i := range min(len(d.Retention.ExpiredByShard), len(earlier.Retention.ExpiredByShard)) {
		d.Retention.ExpiredByShard[i] -= earlier.Retention.ExpiredByShard[i]
	}
	return &d
}

// Latency summarises a latency distribution. Quantiles are upper bounds of histogram buckets
// (within 25%).
type Latency struct {
	Count         uint64
	P50, P99, Max time.Duration
	// Sum is the total of the recorded durations.
	Sum time.Duration
	// Buckets are the histogram's non-empty buckets in increasing order of bound, for
	// exporters (Prometheus) to re-bucket. Adjacent bounds are within 25% of each other.
	Buckets []LatencyBucket
}

// LatencyBucket is one bucket of a latency histogram: Count durations d < Below that no
// bucket with a smaller bound counts.
type LatencyBucket struct {
	Below time.Duration
	Count uint64
}

// String formats m for humans, one subsystem per line.
func (m *Metrics) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "buffer: %d batches, %d messages, %d kv writes, %d bytes; failed %d batches (%d items)\n",
		m.Buffer.Batches, m.Buffer.Messages, m.Buffer.KVWrites, m.Buffer.Bytes, m.Buffer.FailedBatches, m.Buffer.FailedItems)
	avg := time.Duration(0)
	if m.Buffer.Batches > 0 {
		avg = m.Buffer.FlushTime / time.Duration(m.Buffer.Batches)
	}
	fmt.Fprintf(&b, "flush: avg %v, max %v\n", avg, m.Buffer.MaxFlush)
	l := m.Buffer.StoreLatency
	fmt.Fprintf(&b, "store latency: %d calls, p50 %v, p99 %v, max %v\n", l.Count, l.P50, l.P99, l.Max)
	fmt.Fprintf(&b, "read: %d next calls, %d messages, %v; %d seeks, %d nexts, %d collisions\n",
		m.Read.NextCalls, m.Read.Messages, m.Read.NextTime, m.Read.Seeks, m.Read.Nexts, m.Read.Collisions)
	fmt.Fprintf(&b, "generations: %d live, %d added, %d dropped, %d retention errors\n",
		m.Generations.Live, m.Generations.Added, m.Generations.Dropped, m.Generations.RetentionErrors)
	if r := m.Retention; r.Expired > 0 || r.RangeDeletes > 0 {
		// Only once retention did something: a store without it reads as before.
		fmt.Fprintf(&b, "retention: %d expired messages skipped by readers, %d expired spans deleted\n",
			r.Expired, r.RangeDeletes)
	}
	fmt.Fprintf(&b, "shards: next timestamp %d, %d pending writes, %d flushes in flight\n",
		m.Shards.NextTimestamp, m.Shards.Pending, m.Shards.InFlight)
	fmt.Fprintf(&b, "disk: %d bytes, %d recoveries\n", m.Disk.Usage, m.Disk.Recoveries)
	return b.String()
}

// metrics are the live counters behind Metrics. All fields are atomics: writers and readers
// update them without locks.
type metrics struct {
	batches, messages, kvWrites, bytes   atomic.Uint64
	failedBatches, failedItems           atomic.Uint64
	flushNanos, maxFlushNanos            atomic.Int64
	storeLatency, flushLatency           histogram
	nextLatency                          histogram
	nextCalls, nextMessages, nextNanos   atomic.Uint64
	seeks, nexts, collisions             atomic.Uint64
	generationsAdded, generationsDropped atomic.Uint64
	retentionErrors                      atomic.Uint64
	recoveries                           atomic.Uint64
	remoteReads, servedReads             atomic.Uint64
}

func (m *metrics) flushDone(f *inflightFlush, err error) {
	if err != nil {
		m.flushFailed(f.items)
		return
	}
	m.batches.Add(1)
	kv := 0
	for _, r := range f.reqs {
		kv += len(r.kv)
	}
	m.messages.Add(uint64(f.items - kv))
	m.kvWrites.Add(uint64(kv))
	m.bytes.Add(uint64(f.bytes))
	d := int64(time.Since(f.started))
	m.flushNanos.Add(d)
	m.flushLatency.record(time.Duration(d))
	for {
		cur := m.maxFlushNanos.Load()
		if d <= cur || m.maxFlushNanos.CompareAndSwap(cur, d) {
			break
		}
	}
}

func (m *metrics) flushFailed(items int) {
	m.failedBatches.Add(1)
	m.failedItems.Add(uint64(items))
}

func (m *metrics) read(s layout.Stats, n int, d time.Duration) {
	m.nextCalls.Add(1)
	m.nextMessages.Add(uint64(n))
	m.nextNanos.Add(uint64(d))
	m.nextLatency.record(d)
	m.seeks.Add(s.Seeks)
	m.nexts.Add(s.Nexts)
	m.collisions.Add(s.Collisions)
}

// Metrics returns a snapshot of the DB's counters. Safe for concurrent use.
func (d *DB) Metrics() *Metrics {
	m := &Metrics{}
	c := &d.metrics
	m.Buffer.Batches = c.batches.Load()
	m.Buffer.Messages = c.messages.Load()
	m.Buffer.KVWrites = c.kvWrites.Load()
	m.Buffer.Bytes = c.bytes.Load()
	m.Buffer.FailedBatches = c.failedBatches.Load()
	m.Buffer.FailedItems = c.failedItems.Load()
	m.Buffer.FlushTime = time.Duration(c.flushNanos.Load())
	m.Buffer.MaxFlush = time.Duration(c.maxFlushNanos.Load())
	m.Buffer.StoreLatency = c.storeLatency.summary()
	m.Buffer.FlushLatency = c.flushLatency.summary()
	m.Read.NextCalls = c.nextCalls.Load()
	m.Read.Messages = c.nextMessages.Load()
	m.Read.NextTime = time.Duration(c.nextNanos.Load())
	m.Read.NextLatency = c.nextLatency.summary()
	m.Read.Seeks = c.seeks.Load()
	m.Read.Nexts = c.nexts.Load()
	m.Read.Collisions = c.collisions.Load()
	m.Read.Remote = c.remoteReads.Load()
	m.Read.Served = c.servedReads.Load()
	m.Generations.Added = c.generationsAdded.Load()
	m.Generations.Dropped = c.generationsDropped.Load()
	m.Generations.RetentionErrors = c.retentionErrors.Load()
	m.Retention.ExpiredByShard = make([]uint64, len(d.retention.expired))
	for i := range d.retention.expired {
		n := d.retention.expired[i].Load()
		m.Retention.ExpiredByShard[i] = n
		m.Retention.Expired += n
	}
	m.Retention.RangeDeletes = d.retention.rangeDeletes.Load()
	for _, s := range d.shards {
		m.Generations.Live += len(s.generations())
		m.Shards.NextTimestamp = max(m.Shards.NextTimestamp, s.visible.Load()+1)
		s.mu.Lock()
		m.Shards.Pending += s.mu.items
		m.Shards.InFlight += s.mu.inflight
		s.mu.Unlock()
	}
	m.Disk.Recoveries = c.recoveries.Load()
	if !d.closed.Load() {
		if db, err := d.rlockStorage(); err == nil {
			m.Disk.Usage = db.Metrics().DiskSpaceUsage()
			d.storage.RUnlock()
		}
	}
	return m
}

// LatencyRecorder records durations into the histogram ds's own latencies use, for packages
// built on ds (replication's commit latency) to report theirs the same way. The zero value is
// ready; it is safe for concurrent use.
type LatencyRecorder struct{ h histogram }

// Record adds one duration.
func (r *LatencyRecorder) Record(d time.Duration) { r.h.record(d) }

// Summary returns what was recorded so far.
func (r *LatencyRecorder) Summary() Latency { return r.h.summary() }

// histogram is a lock-free latency histogram in microseconds with four buckets per power of
// two: bucket boundaries are within 25% of each other.
type histogram struct {
	buckets [histogramBuckets]atomic.Uint64
	count   atomic.Uint64
	max     atomic.Int64
	sum     atomic.Int64
}

const histogramBuckets = 4 + 62*4

// bucketOf maps v (µs) to its bucket: values below 4 have their own bucket, larger ones are
// split by their highest bit and the two bits below it.
func bucketOf(v uint64) int {
	if v < 4 {
		return int(v)
	}
	e := bits.Len64(v) - 1 // >= 2
	return 4 + (e-2)*4 + int(v>>(e-2)&3)
}

// bucketUpper returns the largest value of bucket i.
func bucketUpper(i int) uint64 {
	if i < 4 {
		return uint64(i)
	}
	e, m := (i-4)/4+2, uint64((i-4)%4)
	return (4+m+1)<<(e-2) - 1
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.buckets[bucketOf(us)].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
	for {
		cur := h.max.Load()
		if int64(d) <= cur || h.max.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
}

func (h *histogram) summary() Latency {
	var counts [histogramBuckets]uint64
	var total uint64
	for i := range counts {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	l := Latency{Count: total, Max: time.Duration(h.max.Load()), Sum: time.Duration(h.sum.Load())}
	for i, c := range counts {
		if c > 0 {
			// A duration d lands in the bucket of d.Microseconds(), so d < (upper+1) µs.
			l.Buckets = append(l.Buckets, LatencyBucket{Below: time.Duration(bucketUpper(i)+1) * time.Microsecond, Count: c})
		}
	}
	quantile := func(q float64) time.Duration {
		rank := uint64(q * float64(total))
		var seen uint64
		for i, c := range counts {
			seen += c
			if c > 0 && seen > rank {
				return min(time.Duration(bucketUpper(i))*time.Microsecond, l.Max)
			}
		}
		return l.Max
	}
	if total > 0 {
		l.P50, l.P99 = quantile(0.50), quantile(0.99)
	}
	return l
}
