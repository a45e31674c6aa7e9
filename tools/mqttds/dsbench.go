package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mqttds/mqttds/benchmarks/dsbench"
	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/layout"
)

const dsbenchUsage = `mqttds dsbench [flags]

Writes a synthetic fleet workload into a fresh store, replays topic filters, and prints write
throughput and, per filter, messages returned, keys read per message, seeks, nexts, collisions
and replay rate; then one JSON line. Bounded by --max-duration and --max-messages.`

func init() {
	register("dsbench", "profile the storage layout: write a fleet workload, replay filters, count seeks and nexts", func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runDSBench(ctx, args, os.Stdout, os.Stderr)
	})
}

// dsbenchFlags are the parsed flags: the plan and the overall deadline.
type dsbenchFlags struct {
	plan        dsbench.Plan
	maxDuration time.Duration
}

func runDSBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDSBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.maxDuration)
	defer cancel()
	_, err = dsbench.Execute(ctx, f.plan, stdout)
	return err
}

// parseDSBenchFlags turns the command line into a validated plan; every problem is a usage
// error.
func parseDSBenchFlags(args []string, stderr io.Writer) (*dsbenchFlags, error) {
	fs := newFlagSet("dsbench", dsbenchUsage, stderr)
	var (
		out     dsbenchFlags
		c       = &out.plan.Config
		filters stringList
		sweep   intList
		th      intList
	)
	fs.StringVar(&c.Topics, "topics", dsbench.DefaultTopics, "topic template: levels may hold one inclusive range {LO..HI}")
	fs.IntVar(&c.MessagesPerTopic, "messages-per-topic", dsbench.DefaultMessagesPerTopic, "messages written to each topic (one round over the topics, in random order, per message)")
	fs.IntVar(&c.MaxMessages, "max-messages", dsbench.DefaultMaxMessages, "refuse workloads of more messages than this")
	fs.IntVar(&c.PayloadBytes, "payload", dsbench.DefaultPayloadBytes, "payload size in bytes")
	fs.Float64Var(&c.Rate, "rate", dsbench.DefaultRate, "simulated publish rate of the fleet (msg/s) that drives the store clock; -1: the wall clock")
	fs.IntVar(&c.Batch, "batch", dsbench.DefaultBatch, "messages per Store call (they share a commit time)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the publish order")
	fs.IntVar(&c.Shards, "shards", ds.DefaultNumShards, "number of shards of the store")
	fs.StringVar(&c.Layout.Kind, "layout", layout.KindWildcardOptimized, "layout: wildcard_optimized or reference")
	epochBits := fs.Int("epoch-bits", layout.DefaultEpochBits, "epoch_bits of wildcard_optimized (0..64; the epoch is 2^N µs)")
	fs.IntVar(&c.Layout.BitsPerTopicLevel, "bits-per-level", layout.DefaultBitsPerTopicLevel, "bits of the hash of a varying topic level (8..64)")
	fs.IntVar(&c.Layout.TopicIndexBytes, "topic-index-bytes", layout.DefaultTopicIndexBytes, "bytes of the stream index in a key (1..8)")
	fs.Var(&th, "thresholds", "LTS learning thresholds per depth, comma-separated, last repeats (default 100,20)")
	fs.Var(&filters, "filter", "topic filter to replay (repeatable; default: one topic, each ranged level as '+', FIRST/#)")
	fs.IntVar(&c.ReadBatch, "read-batch", dsbench.DefaultReadBatch, "messages per Next call")
	fs.BoolVar(&c.Live, "live", false, "replay the generation while it is current (open epoch read in time order) instead of closing it first")
	fs.StringVar(&c.Dir, "data-dir", "", "directory for the stores (missing or empty; each run gets a subdirectory); default a temporary directory, removed")
	fs.Var(&sweep, "sweep-epoch-bits", "run the workload once per epoch_bits value (comma-separated, e.g. 0,4,8,12,16,20) and print a table")
	fs.BoolVar(&out.plan.CompareReference, "compare-reference", false, "run the workload with the reference layout too and print keys read reference / wildcard")
	fs.DurationVar(&out.maxDuration, "max-duration", 10*time.Minute, "stop the whole command after this long (partial figures are marked, later runs skipped)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("dsbench takes no arguments, got %q", strings.Join(pos, " "))
	}
	// The library reads a zero as "the default"; on the command line it is a mistake.
	for _, v := range []struct {
		name  string
		value int
	}{{"messages-per-topic", c.MessagesPerTopic}, {"max-messages", c.MaxMessages}, {"batch", c.Batch},
		{"shards", c.Shards}, {"read-batch", c.ReadBatch}, {"bits-per-level", c.Layout.BitsPerTopicLevel},
		{"topic-index-bytes", c.Layout.TopicIndexBytes}} {
		if v.value <= 0 {
			return nil, usagef("--%s must be positive, got %d", v.name, v.value)
		}
	}
	if c.PayloadBytes < 0 {
		return nil, usagef("--payload must not be negative")
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = -1 // empty payloads
	}
	if *epochBits == 0 {
		c.Layout.EpochBits = layout.NoEpochBits
	} else {
		c.Layout.EpochBits = *epochBits
	}
	c.Layout.Thresholds = th
	c.Filters = filters
	out.plan.SweepEpochBits = sweep
	if out.maxDuration <= 0 {
		return nil, usagef("--max-duration must be positive")
	}
	if c.Rate == 0 {
		return nil, usagef("--rate must be positive, or -1 for the wall clock")
	}
	out.plan.EnsureDefaults()
	if err := out.plan.Validate(); err != nil {
		return nil, usageError{err.Error()}
	}
	for _, e := range sweep {
		if e < 0 || e > 64 {
			return nil, usagef("--sweep-epoch-bits: %d out of range 0..64", e)
		}
	}
	return &out, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// intList is a comma-separated list of integers.
type intList []int

func (l *intList) String() string {
	parts := make([]string, len(*l))
	for i, v := range *l {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(v string) error {
	*l = (*l)[:0]
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("%q is not a comma-separated list of integers", v)
		}
		*l = append(*l, n)
	}
	return nil
}
