package dsbench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// Result is what one Run measured.
type Result struct {
	Layout string `json:"layout"`
	// EpochBits is the wildcard layout's epoch_bits; nil for the reference layout.
	EpochBits *int           `json:"epoch_bits,omitempty"`
	Write     WriteResult    `json:"write"`
	Filters   []FilterResult `json:"filters"`
}

// WriteResult measures the write phase.
type WriteResult struct {
	Topics   int `json:"topics"`
	Messages int `json:"messages"`
	// Seconds is the wall-clock time of the phase, MsgsPerSec Messages/Seconds.
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// SimulatedSeconds is the time span the messages' timestamps cover.
	SimulatedSeconds float64 `json:"simulated_seconds"`
	// DiskBytes is the store's disk usage after the phase (pebble's count: sstables and WAL).
	DiskBytes uint64 `json:"disk_bytes"`
	// Truncated reports that the phase was stopped (deadline) before the whole workload.
	Truncated bool `json:"truncated,omitempty"`
}

// FilterResult measures the replay of one filter: every stream GetStreams returned for it,
// read with Next until the written generation was exhausted.
type FilterResult struct {
	Filter  string `json:"filter"`
	Streams int    `json:"streams"`
	// Expected is the number of messages written to matching topics; Returned what the
	// replay got.
	Expected int `json:"expected"`
	Returned int `json:"returned"`
	// Storage work of the replay, from the layouts (ds.Metrics.Read): pebble seeks, nexts,
	// and keys that passed the key filter but whose topic did not match.
	Seeks      uint64 `json:"seeks"`
	Nexts      uint64 `json:"nexts"`
	Collisions uint64 `json:"collisions"`
	// KeysPerMsg is (Seeks + Nexts) / Returned: each seek or next lands on at most one key.
	// 0 when nothing was returned.
	KeysPerMsg float64 `json:"keys_per_msg"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	Truncated  bool    `json:"truncated,omitempty"`
}

// KeysRead returns the keys the replay positioned the iterator on.
func (f *FilterResult) KeysRead() uint64 { return f.Seeks + f.Nexts }

// ErrMismatch is returned by Run when a complete replay did not return exactly the messages
// written to the filter's topics: a storage bug, not a measurement.
var ErrMismatch = errors.New("dsbench: replay returned a different number of messages than were written")

// Run writes cfg's workload into a fresh store and replays cfg's filters. It returns the
// result, and with it an error wrapping ErrMismatch if a replay miscounted. When ctx ends the
// running phase stops, what was measured is returned marked Truncated, and the rest is
// skipped; err is then nil.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	s, err := Write(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res := &Result{Layout: s.cfg.Layout.Kind, Write: s.Written()}
	if s.cfg.Layout.Kind == layout.KindWildcardOptimized {
		e := s.cfg.EpochBits()
		res.EpochBits = &e
	}
	if !res.Write.Truncated {
		err = s.replayAll(ctx, res)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, ErrMismatch) {
		return nil, err
	}
	return res, err
}

// Store is a fresh store that holds a written workload, ready to be replayed any number of
// times (Go benchmarks replay one store in a loop). Replay calls must not overlap: each one
// measures the store's read counters before and after.
type Store struct {
	cfg     Config
	tmpl    *Template
	db      *ds.DB
	cleanup func()
	// clock is the simulated wall clock (µs) that the store reads as its Now.
	clock atomic.Int64
	// written counts the messages stored per topic number.
	written []uint32
	// gens are the generations that hold the written messages, by rank.
	gens  map[ds.Rank]bool
	write WriteResult
	// expectedCache holds expected(filter) by filter.
	expectedCache map[string]int
}

// Write opens a fresh store for cfg and writes cfg's workload into it; unless cfg.Live it
// then closes the written generation. When ctx ends first, the store is returned with what
// was written and Written().Truncated set.
func Write(ctx context.Context, cfg Config) (*Store, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := ParseTemplate(cfg.Topics)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := storeDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, tmpl: tmpl, written: make([]uint32, tmpl.NumTopics()), cleanup: cleanup,
		expectedCache: map[string]int{}}
	// The simulated clock starts at a multiple of 2^40 µs (12.7 days): every epoch of up to 40
	// bits then starts with the workload, so a seed gives the same keys, and the same counts,
	// on every run.
	s.clock.Store(time.Now().UnixMicro() &^ (1<<40 - 1))
	opts := &ds.Options{
		NumShards: cfg.Shards,
		Layout:    cfg.Layout,
		// Retention would rotate generations under a long simulated run.
		Retention: ds.RetentionOptions{Disabled: true},
		Pebble:    &pebble.Options{Logger: quietLogger{}},
	}
	if cfg.Rate > 0 {
		opts.Now = func() time.Time { return time.UnixMicro(s.clock.Load()) }
	}
	if s.db, err = ds.Open(dir, opts); err != nil {
		cleanup()
		return nil, err
	}
	if err := s.writeAll(ctx, &s.write); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Written returns the measurements of the write.
func (s *Store) Written() WriteResult { return s.write }

// Close closes the store and removes its directory if it was a temporary one.
func (s *Store) Close() error {
	err := s.db.Close()
	s.cleanup()
	return err
}

// storeDir returns the directory for a fresh store and what removes it afterwards.
func storeDir(dir string) (string, func(), error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mqttds-dsbench-")
		if err != nil {
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	if len(entries) > 0 {
		return "", nil, fmt.Errorf("dsbench: %s is not empty: dsbench needs a fresh store", dir)
	}
	return dir, func() {}, nil
}

// writeAll publishes MessagesPerTopic rounds; each round sends to every topic once, in a fresh
// random order, as a fleet whose devices report on a period does.
func (s *Store) writeAll(ctx context.Context, w *WriteResult) error {
	cfg := &s.cfg
	n := s.tmpl.NumTopics()
	w.Topics = n
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x64736265))
	payload := make([]byte, cfg.payloadSize())
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	batch := make([]ds.Message, 0, cfg.Batch)
	topics := make([]int32, 0, cfg.Batch)
	start := time.Now()
	startClock := s.clock.Load()
	tick := float64(cfg.tick()) / float64(time.Microsecond)
	sent := 0
	flush := func() error {
		if err := s.db.Store(ctx, batch, ds.Sync); err != nil {
			return err
		}
		for _, t := range topics {
			s.written[t]++
		}
		w.Messages += len(batch)
		batch, topics = batch[:0], topics[:0]
		return nil
	}
	var err error
rounds:
	for round := 0; round < cfg.MessagesPerTopic; round++ {
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for _, t := range perm {
			name := s.tmpl.Topic(int(t))
			batch = append(batch, ds.Message{ClientID: name, Topic: name, Payload: payload, QoS: 1})
			topics = append(topics, t)
			sent++
			s.clock.Store(startClock + int64(float64(sent)*tick))
			if len(batch) == cap(batch) {
				if err = flush(); err != nil {
					break rounds
				}
			}
		}
	}
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	w.Seconds = time.Since(start).Seconds()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The batch Store was waiting for may or may not be stored; it is not counted, so a
		// replay may return up to one batch more than Expected (Run does not replay then).
		w.Truncated, err = true, nil
	}
	if err != nil {
		return err
	}
	if w.Seconds > 0 {
		w.MsgsPerSec = float64(w.Messages) / w.Seconds
	}
	w.DiskBytes = s.db.Metrics().Disk.Usage
	if cfg.Rate > 0 {
		w.SimulatedSeconds = float64(w.Messages) / cfg.Rate
	} else {
		w.SimulatedSeconds = w.Seconds
	}
	gens, err := s.db.ListGenerations(0, 0)
	if err != nil {
		return err
	}
	s.gens = map[ds.Rank]bool{}
	for _, g := range gens {
		s.gens[ds.Rank{Shard: g.Shard, Generation: g.ID}] = true
	}
	if !s.cfg.Live {
		// Close the written generation: every epoch becomes complete.
		if _, err := s.db.AddGeneration(); err != nil {
			return err
		}
	}
	return nil
}

// replayAll replays every filter in turn.
func (s *Store) replayAll(ctx context.Context, res *Result) error {
	var mismatch []error
	for _, f := range s.cfg.Filters {
		fr, err := s.Replay(ctx, f)
		if err != nil {
			return err
		}
		res.Filters = append(res.Filters, fr)
		if fr.Truncated {
			break
		}
		if fr.Returned != fr.Expected {
			mismatch = append(mismatch, fmt.Errorf("%w: %s: %d returned, %d expected", ErrMismatch, f, fr.Returned, fr.Expected))
		}
	}
	return errors.Join(mismatch...)
}

// Replay reads every stream of filter in the written generations to its end and measures
// it. Expected is exact only when the write was complete.
func (s *Store) Replay(ctx context.Context, filter string) (FilterResult, error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return FilterResult{}, fmt.Errorf("dsbench: filter %q: %w", filter, err)
	}
	fr := FilterResult{Filter: filter, Expected: s.expected(filter)}
	before := s.db.Metrics().Read
	start := time.Now()
	streams, err := s.db.GetStreams(filter, 0)
	if err != nil {
		return fr, err
	}
	for _, rs := range streams {
		if !s.gens[rs.Rank] {
			continue // the empty generation opened to close the written one
		}
		fr.Streams++
		it, err := s.db.MakeIterator(rs.Stream, filter, 0)
		if err != nil {
			return fr, err
		}
		for {
			var msgs []ds.StoredMessage
			msgs, it, err = s.db.Next(ctx, it, s.cfg.ReadBatch)
			if errors.Is(err, ds.ErrEndOfStream) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					fr.Truncated = true
					break
				}
				return fr, err
			}
			fr.Returned += len(msgs)
			if len(msgs) == 0 {
				break // live: nothing more is visible
			}
		}
		if fr.Truncated {
			break
		}
	}
	fr.Seconds = time.Since(start).Seconds()
	after := s.db.Metrics().Read
	fr.Seeks = after.Seeks - before.Seeks
	fr.Nexts = after.Nexts - before.Nexts
	fr.Collisions = after.Collisions - before.Collisions
	if fr.Returned > 0 {
		fr.KeysPerMsg = float64(fr.KeysRead()) / float64(fr.Returned)
	}
	if fr.Seconds > 0 {
		fr.MsgsPerSec = float64(fr.Returned) / fr.Seconds
	}
	return fr, nil
}

// expected counts the messages written to topics that filter matches. It is computed once per
// filter, outside the measured time.
func (s *Store) expected(filter string) int {
	if n, ok := s.expectedCache[filter]; ok {
		return n
	}
	n := 0
	for i, c := range s.written {
		if c > 0 && topic.Match(filter, s.tmpl.Topic(i)) {
			n += int(c)
		}
	}
	s.expectedCache[filter] = n
	return n
}

// quietLogger keeps pebble's informational logs out of the report.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
