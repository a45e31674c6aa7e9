package layout

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2"
	"github.com/mqttds/mqttds/layout/keymap"
)

// TestDataDriven runs the scripts in testdata against a wildcard layout over an in-memory
// pebble. Commands:
//
//	create [tib=4] [bits=64] [epoch=20] [thresholds=(100,20)]
//	                  a fresh DB and wildcard layout (epoch=0 means NoEpochBits)
//	write             one "<ts> <topic>" per line, one batch; prints every write:
//	                  trie ops and message keys split into their chunks
//	streams           one filter per line; prints the streams
//	read filter=F visible=V [n=10] [since=0] [closed] [repeat]
//	                  reads every stream of F once (repeat: until empty) from the reader
//	                  of F (created on first use at since); prints items, positions, stats
//	reopen            restores the layout from pebble
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var (
			db      *pebble.DB
			w       *wildcard
			readers map[string]map[string]Position
		)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var out strings.Builder
			switch d.Cmd {
			case "create":
				opts := Options{}
				d.MaybeScanArgs(t, "tib", &opts.TopicIndexBytes)
				d.MaybeScanArgs(t, "bits", &opts.BitsPerTopicLevel)
				if d.MaybeScanArgs(t, "epoch", &opts.EpochBits) && opts.EpochBits == 0 {
					opts.EpochBits = NoEpochBits
				}
				if arg, ok := d.Arg("thresholds"); ok {
					for _, v := range arg.Vals {
						n, err := strconv.Atoi(v)
						if err != nil {
							d.Fatalf(t, "thresholds: %v", err)
						}
						opts.Thresholds = append(opts.Thresholds, n)
					}
				}
				db = openMemDB(t)
				var b CookedBatch
				l, err := Create([]byte("g"), opts, nil, &b)
				if err != nil {
					return err.Error()
				}
				w, readers = l.(*wildcard), map[string]map[string]Position{}
				return ""

			case "write":
				var entries []Entry
				for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					tsStr, topic, _ := strings.Cut(line, " ")
					ts, err := strconv.ParseUint(tsStr, 10, 64)
					if err != nil {
						d.Fatalf(t, "%s: %v", line, err)
					}
					entries = append(entries, Entry{Topic: topic, Timestamp: ts, Value: []byte("v")})
				}
				var b CookedBatch
				if err := w.Prepare(entries, &b); err != nil {
					return err.Error()
				}
				for _, wr := range b.Writes {
					out.WriteString(formatWrite(w, wr) + "\n")
				}
				commit(t, db, &b)

			case "streams":
				for _, f := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					fmt.Fprintf(&out, "%s:", f)
					for _, s := range w.Streams(splitLevels(f)) {
						fmt.Fprintf(&out, " %s", formatStream(w, s))
					}
					out.WriteString("\n")
				}

			case "read":
				var f string
				var visible, since uint64
				n := 10
				d.ScanArgs(t, "filter", &f)
				d.ScanArgs(t, "visible", &visible)
				d.MaybeScanArgs(t, "n", &n)
				d.MaybeScanArgs(t, "since", &since)
				bounds := ReadBounds{Visible: visible, Closed: d.HasArg("closed")}
				filter := splitLevels(f)
				positions := readers[f]
				if positions == nil {
					positions = map[string]Position{}
					readers[f] = positions
				}
				for _, s := range w.Streams(filter) {
					pos, ok := positions[string(s)]
					if !ok {
						pos, _ = w.NewPosition(s, filter, since)
					}
					fmt.Fprintf(&out, "%s from %s\n", formatStream(w, s), formatPosition(w, s, pos))
					for {
						var stats Stats
						items, next, err := w.Next(db, s, filter, pos, n, bounds, &stats)
						if err != nil {
							return err.Error()
						}
						for _, it := range items {
							fmt.Fprintf(&out, "  %d %s\n", it.Timestamp, it.Topic)
						}
						fmt.Fprintf(&out, "  -> %s seeks=%d nexts=%d collisions=%d\n",
							formatPosition(w, s, next), stats.Seeks, stats.Nexts, stats.Collisions)
						pos = next
						if !d.HasArg("repeat") || len(items) == 0 {
							break
						}
					}
					positions[string(s)] = pos
				}

			case "reopen":
				l, err := Open(db, []byte("g"), w.opts)
				if err != nil {
					return err.Error()
				}
				w = l.(*wildcard)
				return ""

			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			return out.String()
		})
	})
}

// formatWrite prints a trie op or a message key chunk by chunk.
func formatWrite(w *wildcard, wr Write) string {
	if strings.HasPrefix(string(wr.Key), string(w.triePrefix)) {
		op, err := decodeOpForTest(w, wr)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("trie %s", op)
	}
	topic, _, err := decodeEnvelope(wr.Value)
	if err != nil {
		return err.Error()
	}
	_, varying, _ := w.trie.Lookup(splitLevels(string(topic)))
	key := wr.Key[len(w.dataPrefix):]
	return fmt.Sprintf("msg %-8s %s\n    key %x", topic, formatKey(w, w.maps[len(varying)], key), key)
}

func decodeOpForTest(w *wildcard, wr Write) (fmt.Stringer, error) {
	b := &CookedBatch{Writes: []Write{wr}}
	ops := opsIn(b, w.triePrefix)
	if len(ops) != 1 {
		return nil, fmt.Errorf("undecodable trie write %x", wr.Key)
	}
	return ops[0], nil
}

// formatKey prints a message key (without prefix) as idx|epoch|hashes|low, in hex per chunk.
func formatKey(w *wildcard, m *keymap.Keymap, key []byte) string {
	vec := make([]uint64, m.Dims())
	m.Decode(key, vec)
	var b strings.Builder
	fmt.Fprintf(&b, "idx=%d epoch=%d", vec[dimIndex], w.epoch(vec[dimTime]))
	for _, h := range vec[dimHash:] {
		fmt.Fprintf(&b, " h=%0*x", (w.levelBits+3)/4, h)
	}
	fmt.Fprintf(&b, " low=%d", vec[dimTime]-w.epochStart(w.epoch(vec[dimTime])))
	return b.String()
}

func formatStream(w *wildcard, s Stream) string {
	st, err := w.decodeStream(s)
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, c := range st.varying {
		parts = append(parts, c.String())
	}
	return fmt.Sprintf("%d[%s]", st.index, strings.Join(parts, ","))
}

func formatPosition(w *wildcard, s Stream, p Position) string {
	if len(p) == 10 && p[1] == modeTime {
		return fmt.Sprintf("T(%d)", binary.BigEndian.Uint64(p[2:]))
	}
	st, err := w.decodeStream(s)
	if err != nil || len(p) < 2 || p[1] != modeKey {
		return fmt.Sprintf("bad(%x)", []byte(p))
	}
	return "K(" + formatKey(w, w.maps[len(st.varying)], p[2:]) + ")"
}
