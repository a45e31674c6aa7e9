package ds_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/ds"
)

// The README's "ds API in ten lines", runnable. The lines between the README markers are the
// README's code block, one tab deeper; TestREADMEBlockMatchesExample keeps the two identical.
func Example_readme() {
	ctx := context.Background()
	check := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "ds-readme")
	check(err)
	defer os.RemoveAll(dir)

	// README begin
	db, err := ds.Open(dir, nil) // nil options: 16 shards, wildcard_optimized layout, 24 h retention
	check(err)
	defer db.Close()

	// Store returns once the messages are durable; concurrent callers share one fsync.
	check(db.Store(ctx, []ds.Message{
		{ClientID: "sensor-7", Topic: "site/1/dev/7/temp", Payload: []byte("21.5"), QoS: 1},
		{ClientID: "sensor-8", Topic: "site/1/dev/8/temp", Payload: []byte("19.0"), QoS: 1},
	}, ds.Sync))

	// Replay a filter: the streams that may hold matches, ranked by (shard, generation).
	streams, err := db.GetStreams("site/1/dev/+/temp", 0)
	check(err)
	for _, s := range streams {
		it, err := db.MakeIterator(s.Stream, "site/1/dev/+/temp", 0)
		check(err)
		msgs, _, err := db.Next(ctx, it, 100) // also returns the advanced iterator (MarshalBinary)
		check(err)
		for _, m := range msgs {
			fmt.Printf("%s %s\n", m.Topic, m.Payload)
		}
	}
	// README end

	// Unordered output:
	// site/1/dev/7/temp 21.5
	// site/1/dev/8/temp 19.0
}

// TestREADMEBlockMatchesExample checks that the README shows exactly the code Example_readme
// runs, so the README cannot drift from the API.
func TestREADMEBlockMatchesExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	block, ok := between(string(readme), "## The `ds` API in ten lines", "```go\n", "```\n")
	if !ok {
		t.Fatal("README.md: no go code block under \"## The `ds` API in ten lines\"")
	}
	code, ok := between(string(src), "func Example_readme", "\t// README begin\n", "\t// README end\n")
	if !ok {
		t.Fatal("readme_test.go: README markers not found")
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(code, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if block != want.String() {
		t.Errorf("README.md block differs from Example_readme.\nREADME:\n%s\nexample:\n%s", block, want.String())
	}
}

// between returns the text after the first begin that follows anchor, up to the next end.
func between(s, anchor, begin, end string) (string, bool) {
	_, s, ok := strings.Cut(s, anchor)
	if !ok {
		return "", false
	}
	_, s, ok = strings.Cut(s, begin)
	if !ok {
		return "", false
	}
	s, _, ok = strings.Cut(s, end)
	return s, ok
}
