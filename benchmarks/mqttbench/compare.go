package mqttbench

import (
	"fmt"
	"io"
	"strings"
)

// WriteComparison prints a Markdown table comparing runs of the same scenarios on several brokers.
// Each result's Label is "broker/scenario". base names the broker the others are divided by; the
// last columns are other ÷ base, with the metric saying which direction is better. Results of a
// broker that has no base result in the same scenario get no ratio.
func WriteComparison(w io.Writer, results []*Result, base string) error {
	type key struct{ broker, scenario string }
	byKey := map[key]*Result{}
	var scenarios, brokers []string
	seen := map[string]bool{}
	for _, r := range results {
		broker, scenario, ok := strings.Cut(r.Label, "/")
		if !ok {
			return fmt.Errorf("bench: result label %q is not broker/scenario", r.Label)
		}
		byKey[key{broker, scenario}] = r
		if !seen["s:"+scenario] {
			seen["s:"+scenario] = true
			scenarios = append(scenarios, scenario)
		}
		if !seen["b:"+broker] {
			seen["b:"+broker] = true
			brokers = append(brokers, broker)
		}
	}
	// The base broker goes first.
	for i, b := range brokers {
		if b == base {
			brokers = append(append([]string{base}, brokers[:i]...), brokers[i+1:]...)
			break
		}
	}
	others := brokers
	if len(brokers) > 0 && brokers[0] == base {
		others = brokers[1:]
	}

	var b strings.Builder
	b.WriteString("| scenario | metric |")
	for _, br := range brokers {
		b.WriteString(" " + br + " |")
	}
	for _, o := range others {
		fmt.Fprintf(&b, " %s ÷ %s |", o, base)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(brokers)+len(others)) + "\n")
	for _, sc := range scenarios {
		var rows []metric
		for _, br := range brokers {
			if r := byKey[key{br, sc}]; r != nil {
				rows = metricsOf(r)
				break
			}
		}
		for i, m := range rows {
			fmt.Fprintf(&b, "| %s | %s |", sc, m.name)
			vals := make([]metric, len(brokers))
			for j, br := range brokers {
				if r := byKey[key{br, sc}]; r != nil {
					vals[j] = metricsOf(r)[i]
					b.WriteString(" " + vals[j].text + " |")
				} else {
					b.WriteString(" — |")
				}
			}
			for _, o := range others {
				b.WriteString(" " + ratio(byKey[key{base, sc}], byKey[key{o, sc}], i) + " |")
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// metric is one row of the table for one run: its display text and, when a ratio makes sense, its
// value.
type metric struct {
	name  string
	text  string
	value float64
	ratio bool
}

func num(name string, v float64, format string) metric {
	return metric{name: name, text: fmt.Sprintf(format, v), value: v, ratio: true}
}

func txt(name, text string) metric { return metric{name: name, text: text} }

// metricsOf lists the rows a run's mode reports, always the same rows for the same mode.
func metricsOf(r *Result) []metric {
	switch r.Mode {
	case ModeConn:
		return []metric{
			num("connections/s (higher is better)", r.ConnectRate, "%.0f"),
			num("connect p50 ms (lower is better)", r.ConnectLatency.P50, "%.2f"),
			num("connect p99 ms (lower is better)", r.ConnectLatency.P99, "%.2f"),
			num("broker RSS per connection, KiB (lower is better)", r.RSSPerConn/1024, "%.1f"),
			txt("connected / failed", fmt.Sprintf("%d / %d", r.Connected, r.ConnectFailed)),
		}
	case ModeDurable:
		d := r.Durable
		if d == nil {
			d = &DurableResult{}
		}
		present := "no"
		if d.SessionPresent {
			present = "yes"
		}
		drain := num("drain time s (lower is better)", d.DrainSeconds, "%.2f")
		if d.Delivered == 0 {
			drain = txt(drain.name, "n/a") // nothing arrived, so there was nothing to drain
		}
		return []metric{
			num("QoS 1 msg/s published to the offline session (higher is better)", r.SendRate, "%.0f"),
			num("PUBACK p50 ms (lower is better)", r.AckLatency.P50, "%.2f"),
			txt("acked messages delivered after restart", fmt.Sprintf("%d / %d", d.Delivered, d.Acked)),
			txt("session present after restart", present),
			txt("duplicates", fmt.Sprintf("%d", d.Duplicates)),
			drain,
		}
	default:
		rate, what := r.RecvRate, "received msg/s (higher is better)"
		if r.Subs == 0 {
			rate, what = r.SendRate, "published msg/s (higher is better)"
		}
		return []metric{
			num(what, rate, "%.0f"),
			num("latency p50 ms (lower is better)", r.Latency.P50, "%.2f"),
			num("latency p99 ms (lower is better)", r.Latency.P99, "%.2f"),
			txt("lost / duplicates / reordered", fmt.Sprintf("%d / %d / %d", r.Lost, r.Duplicates, r.Reordered)),
		}
	}
}

func ratio(base, other *Result, row int) string {
	if base == nil || other == nil {
		return "—"
	}
	b, o := metricsOf(base)[row], metricsOf(other)[row]
	if !b.ratio || b.value == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", o.value/b.value)
}
