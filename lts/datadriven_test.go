package lts

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the scripts in testdata. Commands:
//
//	new [thresholds=(100,20)] [max-varying=10] [max-index=N]   fresh trie, forget recorded ops
//	learn [ops]            one topic per line; prints index, varying levels (and new ops)
//	lookup                 one topic per line
//	match                  one filter per line
//	dump                   the trie as an indented tree
//	ops | wildcard-ops     the ops of Ops() / WildcardOps()
//	restore [from=recorded|ops|wildcard]
//	                       encodes the chosen ops, decodes them, applies them to a fresh trie
//	                       with the same options and makes it the current trie; prints its dump
//	apply                  one op per line: "<parent> <kind> [label] <child>"
//	encode                 the recorded ops as hex key suffix / value
//	decode                 one "<key hex> <value hex>" per line ("-" for empty)
//	stats
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var (
			opts     Options
			tr       = New(nil)
			recorded []Op
		)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var out strings.Builder
			switch d.Cmd {
			case "new":
				opts = Options{}
				if d.HasArg("thresholds") {
					arg, _ := d.Arg("thresholds")
					for _, v := range arg.Vals {
						n, err := strconv.Atoi(v)
						if err != nil {
							d.Fatalf(t, "thresholds: %v", err)
						}
						opts.Thresholds = append(opts.Thresholds, n)
					}
				}
				d.MaybeScanArgs(t, "max-varying", &opts.MaxVarying)
				var maxIndex uint64
				if d.MaybeScanArgs(t, "max-index", &maxIndex) {
					opts.MaxIndex = Index(maxIndex)
				}
				if err := opts.Validate(); err != nil {
					return err.Error()
				}
				tr, recorded = New(&opts), nil
				return ""

			case "learn":
				for _, line := range lines(d.Input) {
					before := len(recorded)
					idx, varying, ops, err := tr.Learn(strings.Split(line, "/"), recorded)
					recorded = ops
					if err != nil {
						fmt.Fprintf(&out, "%s: error: %v\n", line, err)
						continue
					}
					fmt.Fprintf(&out, "%s: %d %s\n", line, idx, fmtVarying(varying))
					if d.HasArg("ops") {
						for _, op := range recorded[before:] {
							fmt.Fprintf(&out, "  %s\n", op)
						}
					}
				}

			case "lookup":
				for _, line := range lines(d.Input) {
					idx, varying, ok := tr.Lookup(strings.Split(line, "/"))
					if !ok {
						fmt.Fprintf(&out, "%s: not found\n", line)
						continue
					}
					fmt.Fprintf(&out, "%s: %d %s\n", line, idx, fmtVarying(varying))
				}

			case "match":
				for _, line := range lines(d.Input) {
					ms := tr.Match(strings.Split(line, "/"))
					fmt.Fprintf(&out, "%s:", line)
					if len(ms) == 0 {
						out.WriteString(" none")
					}
					for _, m := range ms {
						fmt.Fprintf(&out, " %d%s", m.Index, fmtConstraints(m.Varying))
					}
					out.WriteString("\n")
				}

			case "dump":
				dump(&out, tr)

			case "ops":
				fmtOps(&out, tr.Ops())

			case "wildcard-ops":
				fmtOps(&out, tr.WildcardOps())

			case "restore":
				from := "recorded"
				d.MaybeScanArgs(t, "from", &from)
				var ops []Op
				switch from {
				case "recorded":
					ops = recorded
				case "ops":
					ops = tr.Ops()
				case "wildcard":
					ops = tr.WildcardOps()
				default:
					d.Fatalf(t, "unknown source %q", from)
				}
				fresh := New(&opts)
				for _, op := range ops {
					dec, err := DecodeOp(op.AppendKey(nil), op.AppendValue(nil))
					if err != nil {
						d.Fatalf(t, "decode %s: %v", op, err)
					}
					if dec != op {
						d.Fatalf(t, "round trip: %s became %s", op, dec)
					}
					if err := fresh.Apply(dec); err != nil {
						fmt.Fprintf(&out, "apply %s: %v\n", op, err)
					}
				}
				tr, recorded = fresh, append([]Op(nil), ops...)
				dump(&out, tr)

			case "apply":
				for _, line := range lines(d.Input) {
					op := parseOp(t, d, line)
					if err := tr.Apply(op); err != nil {
						fmt.Fprintf(&out, "%s: %v\n", op, err)
					} else {
						fmt.Fprintf(&out, "%s: ok\n", op)
					}
				}

			case "encode":
				for _, op := range recorded {
					fmt.Fprintf(&out, "%-24s key=%x value=%x\n", op, op.AppendKey(nil), op.AppendValue(nil))
				}

			case "decode":
				for _, line := range lines(d.Input) {
					f := strings.Fields(line)
					if len(f) != 2 {
						d.Fatalf(t, "want <key hex> <value hex>: %q", line)
					}
					k, err1 := hex.DecodeString(strings.TrimPrefix(f[0], "-"))
					v, err2 := hex.DecodeString(strings.TrimPrefix(f[1], "-"))
					if err1 != nil || err2 != nil {
						d.Fatalf(t, "bad hex in %q", line)
					}
					op, err := DecodeOp(k, v)
					if err != nil {
						fmt.Fprintf(&out, "error: %v\n", err)
					} else {
						fmt.Fprintf(&out, "%s\n", op)
					}
				}

			case "stats":
				s := tr.Stats()
				fmt.Fprintf(&out, "nodes=%d edges=%d concrete=%d plus=%d streams=%d next=%d\n",
					s.Nodes, s.Edges, s.ConcreteEdges, s.WildcardEdges, s.Streams, s.NextIndex)

			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			if err := CheckInvariants(tr); err != nil {
				d.Fatalf(t, "invariants: %v", err)
			}
			return out.String()
		})
	})
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func fmtVarying(v []string) string {
	return "[" + strings.Join(quoteAll(v), " ") + "]"
}

func fmtConstraints(cs []Constraint) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		if c.Any {
			parts[i] = "+"
		} else {
			parts[i] = strconv.Quote(c.Value)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func quoteAll(v []string) []string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = strconv.Quote(s)
	}
	return q
}

func fmtOps(out *strings.Builder, ops []Op) {
	for _, op := range ops {
		fmt.Fprintf(out, "%s\n", op)
	}
	if len(ops) == 0 {
		out.WriteString("none\n")
	}
}

// dump prints the trie with children in label order, end of topic first, '+' last.
func dump(out *strings.Builder, tr *Trie) {
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	var rec func(n *node, depth int)
	rec = func(n *node, depth int) {
		ind := strings.Repeat("  ", depth)
		if n.eot != 0 {
			fmt.Fprintf(out, "%send -> %d\n", ind, n.eot)
		}
		for _, e := range n.sortedKids() {
			fmt.Fprintf(out, "%s%q %d\n", ind, e.label, e.child.id)
			rec(e.child, depth+1)
		}
		if n.plus != nil {
			fmt.Fprintf(out, "%s+ %d\n", ind, n.plus.id)
			rec(n.plus, depth+1)
		}
	}
	out.WriteString("root 0\n")
	rec(tr.root, 1)
	if tr.dollar != nil {
		fmt.Fprintf(out, "$root %d\n", tr.dollar.id)
		rec(tr.dollar, 1)
	}
}

// parseOp parses "<parent> <kind> [label] <child>" with kind one of end, concrete, +, $.
// The label "" is written as "".
func parseOp(t *testing.T, d *datadriven.TestData, line string) Op {
	f := strings.Fields(line)
	if len(f) < 3 {
		d.Fatalf(t, "bad op %q", line)
	}
	num := func(s string) Index {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			d.Fatalf(t, "bad id %q", s)
		}
		return Index(n)
	}
	op := Op{Parent: num(f[0]), Child: num(f[len(f)-1])}
	switch f[1] {
	case "end":
		op.Kind = EdgeEnd
	case "+":
		op.Kind = EdgePlus
	case "$":
		op.Kind = EdgeDollar
	case "concrete":
		op.Kind = EdgeConcrete
		if len(f) != 4 {
			d.Fatalf(t, "concrete op needs a label: %q", line)
		}
		l, err := strconv.Unquote(f[2])
		if err != nil {
			l = f[2]
		}
		op.Label = l
	default:
		n, err := strconv.Atoi(f[1])
		if err != nil {
			d.Fatalf(t, "bad kind %q", f[1])
		}
		op.Kind = EdgeKind(n)
	}
	return op
}
