package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/benchmarks/dsbench"
	"github.com/mqttds/mqttds/layout"
)

func TestDSBenchFlags(t *testing.T) {
	defaults, err := parseDSBenchFlags(nil, io.Discard)
	require.NoError(t, err)
	c := defaults.plan.Config
	require.Equal(t, dsbench.DefaultTopics, c.Topics)
	require.Equal(t, layout.KindWildcardOptimized, c.Layout.Kind)
	require.Equal(t, 20, c.Layout.EpochBits)
	require.Equal(t, []int{100, 20}, c.Layout.Thresholds)
	require.Equal(t, 16, c.Shards)
	require.Len(t, c.Filters, 4, "the default filter set")
	require.Equal(t, 10*time.Minute, defaults.maxDuration)
	require.False(t, defaults.plan.CompareReference)

	f, err := parseDSBenchFlags([]string{"--topics", "a/{1..5}/b", "--filter", "a/+/b", "--filter", "a/#",
		"--epoch-bits", "0", "--bits-per-level", "16", "--topic-index-bytes", "2", "--shards", "3",
		"--payload", "200", "--messages-per-topic", "4", "--thresholds", "10,0", "--sweep-epoch-bits", "0, 8,16",
		"--compare-reference", "--live", "--max-duration", "30s", "--layout", "reference", "--rate", "-1"}, io.Discard)
	require.NoError(t, err)
	c = f.plan.Config
	require.Equal(t, "a/{1..5}/b", c.Topics)
	require.Equal(t, []string{"a/+/b", "a/#"}, c.Filters)
	require.Equal(t, layout.NoEpochBits, c.Layout.EpochBits, "--epoch-bits 0 is a 1 µs epoch")
	require.Equal(t, 16, c.Layout.BitsPerTopicLevel)
	require.Equal(t, 2, c.Layout.TopicIndexBytes)
	require.Equal(t, layout.KindReference, c.Layout.Kind)
	require.Equal(t, []int{10, 0}, c.Layout.Thresholds)
	require.Equal(t, 3, c.Shards)
	require.Equal(t, 200, c.PayloadBytes)
	require.Equal(t, 4, c.MessagesPerTopic)
	require.Equal(t, -1.0, c.Rate)
	require.True(t, c.Live)
	require.Equal(t, []int{0, 8, 16}, f.plan.SweepEpochBits)
	require.True(t, f.plan.CompareReference)
	require.Equal(t, 30*time.Second, f.maxDuration)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, "takes no arguments"},
		{[]string{"--epoch-bits", "65"}, "EpochBits 65 out of range"},
		{[]string{"--layout", "btree"}, `unknown kind "btree"`},
		{[]string{"--bits-per-level", "4"}, "BitsPerTopicLevel 4"},
		{[]string{"--topic-index-bytes", "9"}, "TopicIndexBytes 9"},
		{[]string{"--filter", "a/#/b"}, `filter "a/#/b"`},
		{[]string{"--topics", "a/+"}, "holds a wildcard"},
		{[]string{"--messages-per-topic", "200"}, "more than the limit of 10000000"},
		{[]string{"--sweep-epoch-bits", "4,x"}, "comma-separated list of integers"},
		{[]string{"--sweep-epoch-bits", "70"}, "70 out of range"},
		{[]string{"--thresholds", "-1"}, "Thresholds[0] = -1"},
		{[]string{"--max-duration", "0s"}, "--max-duration must be positive"},
		{[]string{"--rate", "0"}, "--rate must be positive"},
		{[]string{"--shards", "0"}, "--shards must be positive, got 0"},
		{[]string{"--shards", "2000"}, "shards = 2000"},
		{[]string{"--batch", "-3"}, "--batch must be positive"},
		{[]string{"--payload", "-3"}, "--payload must not be negative"},
	} {
		_, err := parseDSBenchFlags(tc.args, io.Discard)
		var ue usageError
		require.ErrorAs(t, err, &ue, "%v", tc.args)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
	_, err = parseDSBenchFlags([]string{"-h"}, io.Discard)
	require.ErrorIs(t, err, flag.ErrHelp)
}

// Ensure that a tiny run end to end prints the tables and a last JSON line whose counts add
// up: each filter returns its matching topics × messages per topic.
func TestDSBench_EndToEnd(t *testing.T) {
	var out bytes.Buffer
	err := runDSBench(context.Background(), []string{"--topics", "s/{0..4}/d/{0..7}", "--messages-per-topic", "3",
		"--shards", "2", "--thresholds", "2", "--filter", "s/2/d/5", "--filter", "s/+/d/5", "--filter", "s/3/d/+",
		"--filter", "s/#", "--sweep-epoch-bits", "0,12", "--compare-reference", "--data-dir", t.TempDir()}, &out, io.Discard)
	require.NoError(t, err)
	text := out.String()
	require.Contains(t, text, "write: 120 messages")
	require.Contains(t, text, "epoch_bits sweep")
	require.Contains(t, text, "keys read ref/wild")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var rep dsbench.Report
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &rep))
	topics := []int{1, 5, 8, 40}
	for _, r := range append([]*dsbench.Result{rep.Main, rep.Reference}, rep.Sweep...) {
		require.Len(t, r.Filters, 4)
		for i, f := range r.Filters {
			require.Equal(t, topics[i]*3, f.Returned, "%s %s", r.Layout, f.Filter)
			require.Equal(t, f.Expected, f.Returned)
		}
	}
	require.Len(t, rep.Sweep, 2)
	require.Len(t, rep.Ratios, 4)
}

func TestDSBench_Dispatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := dispatch([]string{"dsbench", "--shards", "0"}, &stdout, &stderr)
	require.Equal(t, 2, code)
	require.Contains(t, stderr.String(), "--shards must be positive")
	require.Empty(t, stdout.String(), "nothing runs")
}
