package dsbench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		src      string
		topics   int
		first    string
		second   string
		last     string
		defaults []string
	}{
		{"site/{0..99}/dev/{0..999}/temp", 100_000, "site/0/dev/0/temp", "site/0/dev/1/temp", "site/99/dev/999/temp",
			[]string{"site/33/dev/333/temp", "site/33/dev/+/temp", "site/+/dev/333/temp", "site/#"}},
		{"a/b", 1, "a/b", "", "a/b", []string{"a/b", "a/#"}},
		{"{5..7}", 3, "5", "6", "7", []string{"5", "+", "#"}},
		{"dev-{1..2}-x/t{0..1}", 4, "dev-1-x/t0", "dev-1-x/t1", "dev-2-x/t1",
			[]string{"dev-1-x/t0", "dev-1-x/+", "+/t0", "dev-1-x/#"}},
		{"$SYS/{0..1}", 2, "$SYS/0", "$SYS/1", "$SYS/1", []string{"$SYS/0", "$SYS/+", "$SYS/#"}},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tmpl, err := ParseTemplate(tc.src)
			require.NoError(t, err)
			require.Equal(t, tc.topics, tmpl.NumTopics())
			require.Equal(t, tc.first, tmpl.Topic(0))
			if tc.topics > 1 {
				require.Equal(t, tc.second, tmpl.Topic(1))
			}
			require.Equal(t, tc.last, tmpl.Topic(tc.topics-1))
			require.Equal(t, tc.defaults, tmpl.DefaultFilters())
		})
	}
}

func TestTemplate_Errors(t *testing.T) {
	for src, want := range map[string]string{
		"":                              "empty topic template",
		"a/+/b":                         "holds a wildcard",
		"a/#":                           "holds a wildcard",
		"a/{1..}":                       "is not {LO..HI}",
		"a/{3..1}":                      "is not {LO..HI}",
		"a/{-1..2}":                     "is not {LO..HI}",
		"a/{1..2":                       "'{' without '}'",
		"a/1..2}":                       "'}' without '{'",
		"a/{1..2}{3..4}":                "more than one range",
		"{0..99999}/{0..99999}/{0..99}": "names more than",
	} {
		_, err := ParseTemplate(src)
		require.ErrorContains(t, err, want, "template %q", src)
	}
}

func TestConfig_Validate(t *testing.T) {
	c := Config{Topics: "a/{0..9}", MessagesPerTopic: -1, Batch: -1, Shards: 5000, ReadBatch: -2,
		Filters: []string{"a/#/b"}, Rate: 2e6, Layout: layout.Options{EpochBits: 70}}
	c.EnsureDefaults()
	err := c.Validate()
	for _, want := range []string{"messages per topic = -1", "batch = -1", "shards = 5000", "read batch = -2",
		`filter "a/#/b"`, "rate = 2e+06", "EpochBits 70"} {
		require.ErrorContains(t, err, want)
	}

	c = Config{Rate: math.NaN()}
	c.EnsureDefaults()
	require.ErrorContains(t, c.Validate(), "rate = NaN msg/s: not a number")

	c = Config{Topics: "a/{0..999}", MessagesPerTopic: 20, MaxMessages: 10_000}
	c.EnsureDefaults()
	require.ErrorContains(t, c.Validate(), "1000 topics × 20 messages is more than the limit of 10000")

	c = Config{}
	c.EnsureDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"site/33/dev/333/temp", "site/33/dev/+/temp", "site/+/dev/333/temp", "site/#"}, c.Filters)
}

// tiny is a workload small enough for a unit test whose LTS still learns wildcards: with
// thresholds of 2, both ranged levels become '+' levels after two distinct values.
func tiny() Config {
	return Config{
		Topics:           "s/{0..3}/d/{0..9}/t",
		MessagesPerTopic: 3,
		Shards:           2,
		Batch:            7,
		PayloadBytes:     8,
		Layout:           layout.Options{Thresholds: []int{2}},
		Filters:          []string{"s/1/d/4/t", "s/1/d/+/t", "s/+/d/4/t", "s/#", "+/+/+/+/t", "s/9/d/1/t", "s/1"},
	}
}

// matching is, per filter of tiny(), how many of its 40 topics the filter matches.
var matching = []int{1, 10, 4, 40, 40, 0, 0}

// Ensure that every replay returns exactly the messages written to the matching topics, in
// every layout, epoch size and replay mode, and that the counters add up.
func TestRun_CountsAddUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"wildcard closed", func(*Config) {}},
		{"wildcard live", func(c *Config) { c.Live = true }},
		{"wildcard 1µs epochs", func(c *Config) { c.Layout.EpochBits = layout.NoEpochBits }},
		{"wildcard live wall clock", func(c *Config) { c.Live, c.Rate = true, -1 }},
		{"wildcard 8-bit hashes", func(c *Config) { c.Layout.BitsPerTopicLevel = 8; c.Layout.TopicIndexBytes = 1 }},
		{"reference", func(c *Config) { c.Layout = layout.Options{Kind: layout.KindReference} }},
		{"empty payloads, one shard, Next batches of 1", func(c *Config) { c.PayloadBytes, c.Shards, c.ReadBatch = -1, 1, 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tiny()
			tc.edit(&c)
			res, err := Run(context.Background(), c)
			require.NoError(t, err)
			require.Equal(t, 40*3, res.Write.Messages)
			require.Equal(t, 40, res.Write.Topics)
			require.False(t, res.Write.Truncated)
			require.Len(t, res.Filters, len(c.Filters))
			for i, f := range res.Filters {
				require.Equal(t, matching[i]*c.MessagesPerTopic, f.Returned, f.Filter)
				require.Equal(t, f.Returned, f.Expected, f.Filter)
				if f.Streams > 0 {
					require.NotZero(t, f.Seeks, "every stream read seeks at least once: %s", f.Filter)
				}
				// Every returned message was under the iterator once.
				require.GreaterOrEqual(t, f.KeysRead(), uint64(f.Returned), f.Filter)
				if f.Returned > 0 {
					require.InDelta(t, float64(f.KeysRead())/float64(f.Returned), f.KeysPerMsg, 1e-9)
				}
			}
			if c.Layout.Kind == layout.KindReference {
				require.Nil(t, res.EpochBits)
				// The reference layout reads every message of every shard for every filter.
				for _, f := range res.Filters {
					require.GreaterOrEqual(t, f.Nexts, uint64(res.Write.Messages-c.Shards), f.Filter)
				}
			} else {
				require.NotNil(t, res.EpochBits)
				// No learned structure has the shape of s/1: nothing to read.
				require.Zero(t, res.Filters[6].Streams)
				require.Zero(t, res.Filters[6].KeysRead())
			}
		})
	}
}

func TestRun_Deadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, tiny())
	require.NoError(t, err)
	require.True(t, res.Write.Truncated)
	require.Zero(t, res.Write.Messages)
	require.Empty(t, res.Filters, "no replay of a truncated write")
}

func TestRun_Dir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o600))
	c := tiny()
	c.Dir = dir
	_, err := Run(context.Background(), c)
	require.ErrorContains(t, err, "is not empty")

	c.Dir = filepath.Join(dir, "store")
	_, err = Run(context.Background(), c)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(c.Dir, "MQTTDS.LOCK"), "the store is kept")
}

// Ensure that Execute prints every table and ends with a JSON line holding the same figures.
func TestExecute(t *testing.T) {
	var out bytes.Buffer
	c := tiny()
	c.Dir = t.TempDir()
	rep, err := Execute(context.Background(), Plan{Config: c, SweepEpochBits: []int{0, 20, 4}, CompareReference: true}, &out)
	require.NoError(t, err)
	text := out.String()
	for _, want := range []string{"workload: s/{0..3}/d/{0..9}/t = 40 topics × 3 messages", "epoch_bits 20 (epoch 1.048576s)",
		"replay (closed generation", "epoch_bits sweep", "F4 = s/#", "reference layout", "keys read ref/wild"} {
		require.Contains(t, text, want)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var got Report
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &got))
	require.Len(t, got.Sweep, 3)
	require.Equal(t, 0, *got.Sweep[0].EpochBits)
	require.Equal(t, 20, *got.Sweep[1].EpochBits)
	require.Same(t, rep.Main, rep.Sweep[1], "the main run is not repeated")
	require.Len(t, got.Ratios, len(c.Filters))
	require.Equal(t, rep.Main.Filters[3].Returned, got.Reference.Filters[3].Returned)
	for _, sub := range []string{"main", "epoch-bits-0", "epoch-bits-4", "reference"} {
		require.DirExists(t, filepath.Join(c.Dir, sub))
	}
	// The reference layout reads every message for a one-topic filter; the wildcard layout
	// reads a few keys per message.
	require.Greater(t, got.Ratios[0], 1.0)
}

func TestExecute_BadSweep(t *testing.T) {
	_, err := Execute(context.Background(), Plan{Config: tiny(), SweepEpochBits: []int{65}}, &bytes.Buffer{})
	require.ErrorContains(t, err, "epoch_bits 65 out of range")
}

// Ensure that a store can be replayed again with the same figures, and that Replay refuses
// an invalid filter.
func TestStore_ReplayAgain(t *testing.T) {
	s, err := Write(context.Background(), tiny())
	require.NoError(t, err)
	defer s.Close()
	first, err := s.Replay(context.Background(), "s/+/d/4/t")
	require.NoError(t, err)
	again, err := s.Replay(context.Background(), "s/+/d/4/t")
	require.NoError(t, err)
	require.Equal(t, 12, first.Returned)
	require.Equal(t, first.Returned, again.Returned)
	require.Equal(t, first.Seeks, again.Seeks, "replays are deterministic")
	require.Equal(t, first.Nexts, again.Nexts)
	_, err = s.Replay(context.Background(), "s/#/t")
	require.ErrorContains(t, err, `filter "s/#/t"`)
}

// Ensure that a deadline marks the report truncated, skips the later runs and still ends
// with the JSON line.
func TestExecute_Deadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	rep, err := Execute(ctx, Plan{Config: tiny(), SweepEpochBits: []int{0, 8}, CompareReference: true}, &out)
	require.NoError(t, err)
	require.True(t, rep.Truncated)
	require.True(t, rep.Main.Write.Truncated)
	require.Empty(t, rep.Sweep, "runs after the deadline are skipped")
	require.NotContains(t, out.String(), "epoch_bits sweep")
	require.Nil(t, rep.Reference)
	require.Contains(t, out.String(), "the deadline (--max-duration) stopped a run")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.True(t, json.Valid([]byte(lines[len(lines)-1])))
}

// Ensure that narrow level hashes show up as collisions (600 devices share 256 hash values)
// and cost reads, never results; 64-bit hashes have none.
func TestRun_Collisions(t *testing.T) {
	for _, tc := range []struct {
		bits       int
		collisions bool
	}{{8, true}, {64, false}} {
		c := Config{Topics: "s/{0..1}/d/{0..599}", MessagesPerTopic: 1, Shards: 1,
			Layout:  layout.Options{BitsPerTopicLevel: tc.bits, Thresholds: []int{1}},
			Filters: []string{"s/0/d/199", "s/+/d/199"}}
		res, err := Run(context.Background(), c)
		require.NoError(t, err)
		for _, f := range res.Filters {
			require.Equal(t, f.Expected, f.Returned)
			require.Equal(t, tc.collisions, f.Collisions > 0, "%d-bit hashes, %s: %d collisions", tc.bits, f.Filter, f.Collisions)
		}
	}
}

// Ensure that the same seed gives the same counts on every run: the simulated clock makes the
// keys, and so the seeks and nexts, independent of when and how fast the run goes.
func TestRun_Reproducible(t *testing.T) {
	c := tiny()
	c.Layout.EpochBits = 10
	c.Shards = 3
	a, err := Run(context.Background(), c)
	require.NoError(t, err)
	b, err := Run(context.Background(), c)
	require.NoError(t, err)
	for i := range a.Filters {
		fa, fb := a.Filters[i], b.Filters[i]
		require.Equal(t, [3]uint64{fa.Seeks, fa.Nexts, fa.Collisions}, [3]uint64{fb.Seeks, fb.Nexts, fb.Collisions}, fa.Filter)
	}
}
