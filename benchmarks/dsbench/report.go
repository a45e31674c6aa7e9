package dsbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mqttds/mqttds/layout"
)

// Plan is a whole dsbench invocation: the main run of Config, optionally the same workload
// once per SweepEpochBits value, and optionally once with the reference layout.
type Plan struct {
	Config
	// SweepEpochBits lists epoch_bits values to run the workload with (0 = a 1 µs epoch).
	SweepEpochBits []int
	// CompareReference runs the workload with the reference layout too and reports the ratio
	// of keys read (reference / this layout).
	CompareReference bool
}

// Report is everything a Plan measured. It is printed as tables, then as one JSON line.
type Report struct {
	// Format is the version of this JSON shape (ReportFormat); it only moves forward.
	Format int     `json:"format"`
	Config Config  `json:"config"`
	Main   *Result `json:"main"`
	// Sweep has one result per SweepEpochBits value, in order.
	Sweep []*Result `json:"sweep,omitempty"`
	// Reference is the reference layout's result; Ratios has one entry per filter: keys read
	// by the reference layout divided by keys read by Main's layout.
	Reference *Result   `json:"reference,omitempty"`
	Ratios    []float64 `json:"ratios,omitempty"`
	// Truncated reports that the deadline stopped a run; runs after it were skipped.
	Truncated bool `json:"truncated,omitempty"`
}

// ReportFormat is the version of the JSON report: 1 is the shape of Report, Result,
// WriteResult and FilterResult as their json tags name them.
const ReportFormat = 1

// Execute runs p and writes its tables to w as each part completes, then the report as one
// JSON line. Each run gets a fresh store: with Config.Dir set, in its own subdirectory (main,
// epoch-bits-N, reference). A replay that miscounts makes Execute return an error wrapping
// ErrMismatch after printing everything.
func Execute(ctx context.Context, p Plan, w io.Writer) (*Report, error) {
	p.EnsureDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	for _, e := range p.SweepEpochBits {
		if e < 0 || e > 64 {
			return nil, fmt.Errorf("dsbench: swept epoch_bits %d out of range 0..64", e)
		}
	}
	rep := &Report{Format: ReportFormat, Config: p.Config}
	var mismatches []error
	run := func(name string, c Config) (*Result, bool, error) {
		if rep.Truncated {
			return nil, false, nil
		}
		if c.Dir != "" {
			c.Dir = filepath.Join(c.Dir, name)
		}
		res, err := Run(ctx, c)
		if errors.Is(err, ErrMismatch) {
			mismatches = append(mismatches, fmt.Errorf("%s: %w", name, err))
			err = nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", name, err)
		}
		if res.truncated() {
			rep.Truncated = true
		}
		return res, true, nil
	}

	// 1. The main run.
	res, _, err := run("main", p.Config)
	if err != nil {
		return rep, err
	}
	rep.Main = res
	writeHeader(w, &p.Config)
	writeMain(w, &p.Config, res)

	// 2. The epoch_bits sweep.
	if len(p.SweepEpochBits) > 0 && p.Layout.Kind == layout.KindWildcardOptimized {
		for _, e := range p.SweepEpochBits {
			if e == *rep.Main.EpochBits {
				rep.Sweep = append(rep.Sweep, rep.Main)
				continue
			}
			c := p.Config
			c.Layout.EpochBits = e
			if e == 0 {
				c.Layout.EpochBits = layout.NoEpochBits
			}
			res, ok, err := run("epoch-bits-"+strconv.Itoa(e), c)
			if err != nil {
				return rep, err
			}
			if ok {
				rep.Sweep = append(rep.Sweep, res)
			}
		}
		if len(rep.Sweep) > 0 {
			writeSweep(w, &p.Config, rep.Sweep)
		}
	} else if len(p.SweepEpochBits) > 0 {
		fmt.Fprintf(w, "\nepoch_bits sweep skipped: the %s layout has no epochs\n", p.Layout.Kind)
	}

	// 3. The reference layout.
	if p.CompareReference && p.Layout.Kind != layout.KindReference {
		c := p.Config
		c.Layout = layout.Options{Kind: layout.KindReference}
		res, ok, err := run("reference", c)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Reference = res
			rep.Ratios = ratios(res, rep.Main)
			writeReference(w, res, rep.Ratios)
		}
	}
	if rep.Truncated {
		fmt.Fprintln(w, "\nthe deadline (--max-duration) stopped a run: figures marked * are partial, later runs skipped")
	}
	line, err := json.Marshal(rep)
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(w, "\n%s\n", line)
	return rep, errors.Join(mismatches...)
}

func (r *Result) truncated() bool {
	if r.Write.Truncated {
		return true
	}
	for _, f := range r.Filters {
		if f.Truncated {
			return true
		}
	}
	return false
}

// ratios returns, per filter of both results, keys read by ref over keys read by wild.
func ratios(ref, wild *Result) []float64 {
	var out []float64
	for i := range min(len(ref.Filters), len(wild.Filters)) {
		w := wild.Filters[i].KeysRead()
		if w == 0 {
			out = append(out, 0)
			continue
		}
		out = append(out, float64(ref.Filters[i].KeysRead())/float64(w))
	}
	return out
}

func writeHeader(w io.Writer, c *Config) {
	t, _ := ParseTemplate(c.Topics)
	clock := fmt.Sprintf("simulated clock %s msg/s", human(c.Rate))
	if c.Rate < 0 {
		clock = "wall clock"
	}
	fmt.Fprintf(w, "workload: %s = %d topics × %d messages, payload %d B, %d shards, batches of %d, %s\n",
		c.Topics, t.NumTopics(), c.MessagesPerTopic, c.payloadSize(), c.Shards, c.Batch, clock)
	fmt.Fprintf(w, "layout:   %s\n", layoutString(&c.Layout))
}

func layoutString(o *layout.Options) string {
	if o.Kind == layout.KindReference {
		return o.Kind
	}
	e := o.EpochBits
	if e == layout.NoEpochBits {
		e = 0
	}
	th := make([]string, len(o.Thresholds))
	for i, v := range o.Thresholds {
		th[i] = strconv.Itoa(v)
	}
	return fmt.Sprintf("%s, topic_index_bytes %d, bits_per_topic_level %d, epoch_bits %d (epoch %s), thresholds %s",
		o.Kind, o.TopicIndexBytes, o.BitsPerTopicLevel, e, epochLength(e), strings.Join(th, ","))
}

// epochLength formats 2^bits µs.
func epochLength(bits int) string {
	if bits >= 40 {
		return fmt.Sprintf("2^%d µs", bits)
	}
	d := time.Duration(1<<bits) * time.Microsecond
	return d.String()
}

func writeMain(w io.Writer, c *Config, r *Result) {
	wr := &r.Write
	fmt.Fprintf(w, "\nwrite: %d messages in %.2f s = %s msg/s%s; %.1f s of simulated time; disk %s (%d B/message)\n",
		wr.Messages, wr.Seconds, human(wr.MsgsPerSec), star(wr.Truncated), wr.SimulatedSeconds,
		bytesString(wr.DiskBytes), wr.DiskBytes/uint64(max(wr.Messages, 1)))
	mode := "closed generation: every epoch complete"
	if c.Live {
		mode = "live generation: the open epoch read in time order"
	}
	fmt.Fprintf(w, "\nreplay (%s; Next batches of %d):\n", mode, c.ReadBatch)
	writeFilters(w, r, nil)
}

// writeFilters prints the per-filter table; ratios, when given, adds a column.
func writeFilters(w io.Writer, r *Result, ratios []float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "filter\tstreams\treturned\texpected\tkeys/msg\tseeks\tnexts\tcollisions\tmsg/s\t"
	if ratios != nil {
		header += "keys read ref/wild\t"
	}
	fmt.Fprintln(tw, header)
	for i, f := range r.Filters {
		fmt.Fprintf(tw, "%s\t%d\t%d%s\t%d\t%s\t%d\t%d\t%d\t%s\t", f.Filter, f.Streams, f.Returned, star(f.Truncated),
			f.Expected, perMsg(f.KeysPerMsg, f.Returned), f.Seeks, f.Nexts, f.Collisions, human(f.MsgsPerSec))
		if ratios != nil && i < len(ratios) {
			fmt.Fprintf(tw, "%.1f×\t", ratios[i])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func writeSweep(w io.Writer, c *Config, rows []*Result) {
	fmt.Fprintf(w, "\nepoch_bits sweep (same workload, a fresh store each; keys read per returned message):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "epoch_bits\tepoch\twrite msg/s\tdisk B/msg\t"
	for i := range c.Filters {
		header += fmt.Sprintf("F%d keys/msg\t", i+1)
	}
	fmt.Fprintln(tw, header+"replay msg/s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s%s\t%d\t", *r.EpochBits, epochLength(*r.EpochBits), human(r.Write.MsgsPerSec),
			star(r.Write.Truncated), r.Write.DiskBytes/uint64(max(r.Write.Messages, 1)))
		var returned int
		var secs float64
		for i := range c.Filters {
			if i >= len(r.Filters) {
				fmt.Fprint(tw, "-\t")
				continue
			}
			f := &r.Filters[i]
			fmt.Fprintf(tw, "%s%s\t", perMsg(f.KeysPerMsg, f.Returned), star(f.Truncated))
			returned += f.Returned
			secs += f.Seconds
		}
		rate := 0.0
		if secs > 0 {
			rate = float64(returned) / secs
		}
		fmt.Fprintf(tw, "%s\t\n", human(rate))
	}
	tw.Flush()
	for i, f := range c.Filters {
		fmt.Fprintf(w, "  F%d = %s\n", i+1, f)
	}
}

func writeReference(w io.Writer, ref *Result, ratios []float64) {
	fmt.Fprintf(w, "\nreference layout (same workload; write %s msg/s, disk %d B/message):\n",
		human(ref.Write.MsgsPerSec), ref.Write.DiskBytes/uint64(max(ref.Write.Messages, 1)))
	writeFilters(w, ref, ratios)
}

func star(truncated bool) string {
	if truncated {
		return "*"
	}
	return ""
}

func perMsg(v float64, returned int) string {
	if returned == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// human formats a rate with three significant digits and a k/M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func bytesString(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
