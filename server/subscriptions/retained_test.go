package subscriptions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

func retainedTopics(entries []RetainedEntry[int]) string {
	var ts []string
	for _, e := range entries {
		ts = append(ts, fmt.Sprintf("%s=%d", e.Topic, e.Value))
	}
	slices.Sort(ts)
	return strings.Join(ts, " ")
}

func TestRetained(t *testing.T) {
	r := NewRetained[int]()
	for i, name := range []string{"sport", "sport/tennis", "sport/tennis/p1", "sport/golf", "sport/", "/a",
		"$SYS/uptime", "$SYS", "a//b"} {
		if replaced, err := r.Set(name, i); err != nil || replaced {
			t.Fatalf("Set(%q) = %v, %v", name, replaced, err)
		}
	}
	cases := []struct{ filter, want string }{
		{"sport", "sport=0"},
		{"sport/#", "sport/=4 sport/golf=3 sport/tennis/p1=2 sport/tennis=1 sport=0"},
		{"sport/+", "sport/=4 sport/golf=3 sport/tennis=1"},
		{"sport/+/p1", "sport/tennis/p1=2"},
		{"+", "sport=0"},
		{"+/+", "/a=5 sport/=4 sport/golf=3 sport/tennis=1"},
		{"#", "/a=5 a//b=8 sport/=4 sport/golf=3 sport/tennis/p1=2 sport/tennis=1 sport=0"}, // [MQTT-4.7.2-1] v5
		{"+/uptime", ""},
		{"$SYS/#", "$SYS/uptime=6 $SYS=7"},
		{"$SYS/+", "$SYS/uptime=6"},
		{"a/+/b", "a//b=8"},
		{"nothing/#", ""},
		{"a/#/b", ""}, // invalid filter: nothing
	}
	for _, c := range cases {
		if got := retainedTopics(r.Match(c.filter, nil)); got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
	if replaced, _ := r.Set("sport", 100); !replaced {
		t.Error("Set of an existing topic did not report replaced")
	}
	if v, ok := r.Get("sport"); !ok || v != 100 {
		t.Errorf("Get(sport) = %v, %v", v, ok)
	}
	if _, err := r.Set("sport/+", 1); err != topic.ErrWildcardInName {
		t.Errorf("Set of a filter: err = %v", err)
	}
	if r.Delete("sport/tennis/p1") != true || r.Delete("sport/tennis/p1") != false {
		t.Error("Delete did not report presence")
	}
	if got := retainedTopics(r.Match("sport/tennis/#", nil)); got != "sport/tennis=1" {
		t.Errorf("after Delete: %q", got)
	}
	if r.Len() != 8 || len(r.All(nil)) != 8 {
		t.Errorf("Len = %d, All = %d, want 8", r.Len(), len(r.All(nil)))
	}
	for _, e := range r.All(nil) {
		r.Delete(e.Topic)
	}
	if r.Len() != 0 || r.mu.root.children.len() != 0 {
		t.Errorf("not empty after deleting everything: %d %v", r.Len(), r.mu.root.children.len())
	}
}

// TestRetainedRandom compares Retained.Match with a scan of every stored topic through naiveMatch.
func TestRetainedRandom(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	r, model := NewRetained[int](), map[string]int{}
	for i := range randomOps(t, 5000) {
		switch op := rng.IntN(10); {
		case op < 4:
			name := topictest.RandomName(rng)
			_, had := model[name]
			if replaced, err := r.Set(name, i); err != nil || replaced != had {
				t.Fatalf("seed %d op %d: Set(%q) = %v, %v; want replaced %v", seed, i, name, replaced, err, had)
			}
			model[name] = i
		case op < 6:
			name := topictest.RandomName(rng)
			_, had := model[name]
			if r.Delete(name) != had {
				t.Fatalf("seed %d op %d: Delete(%q) != %v", seed, i, name, had)
			}
			delete(model, name)
		default:
			filter := topictest.RandomFilter(rng)
			var want []RetainedEntry[int]
			for name, v := range model {
				if topictest.NaiveMatch(filter, name) {
					want = append(want, RetainedEntry[int]{name, v})
				}
			}
			if got, w := retainedTopics(r.Match(filter, nil)), retainedTopics(want); got != w {
				t.Fatalf("seed %d op %d: Match(%q) = %q, want %q", seed, i, filter, got, w)
			}
		}
	}
}
