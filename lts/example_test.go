package lts_test

import (
	"fmt"
	"strings"

	"github.com/mqttds/mqttds/lts"
)

// Learning a few device topics: after two devices per site the third one goes through a
// learned '+' edge, and a filter becomes streams with constraints on their varying levels.
func Example() {
	t := lts.New(&lts.Options{Thresholds: []int{100, 2}})
	var ops []lts.Op
	for _, topic := range []string{"site/1/dev/a/temp", "site/1/dev/b/temp", "site/1/dev/c/temp"} {
		idx, varying, out, err := t.Learn(strings.Split(topic, "/"), ops[:0])
		if err != nil {
			panic(err)
		}
		ops = out
		fmt.Printf("%s: stream %d, varying %q, %d new edges\n", topic, idx, varying, len(ops))
	}
	for _, filter := range []string{"site/1/dev/+/temp", "site/1/dev/z/temp", "site/1/dev/a/temp"} {
		fmt.Printf("%s:", filter)
		for _, m := range t.Match(strings.Split(filter, "/")) {
			fmt.Printf(" %d%v", m.Index, m.Varying)
		}
		fmt.Println()
	}
	// Output:
	// site/1/dev/a/temp: stream 6, varying [], 6 new edges
	// site/1/dev/b/temp: stream 10, varying [], 4 new edges
	// site/1/dev/c/temp: stream 12, varying ["c"], 2 new edges
	// site/1/dev/+/temp: 6[] 10[] 12[+]
	// site/1/dev/z/temp: 12[z]
	// site/1/dev/a/temp: 6[]
}

// Persisting and restoring: ops encode to a key suffix and a value (the layout adds its own
// key prefix); replaying them gives the same ids.
func ExampleDecodeOp() {
	t := lts.New(nil)
	_, _, ops, _ := t.Learn([]string{"a", "b"}, nil)
	restored := lts.New(nil)
	for _, op := range ops {
		key, value := op.AppendKey(nil), op.AppendValue(nil)
		dec, err := lts.DecodeOp(key, value)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%x %x  %s\n", key, value, dec)
		if err := restored.Apply(dec); err != nil {
			panic(err)
		}
	}
	idx, _, ok := restored.Lookup([]string{"a", "b"})
	fmt.Println(idx, ok)
	// Output:
	// 00000000000000000261 010000000000000001  0 -"a"-> 1
	// 00000000000000010262 010000000000000002  1 -"b"-> 2
	// 000000000000000201 010000000000000003  2 -end-> 3
	// 3 true
}
