package topic

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		filter, name string
		want         bool
	}{
		// Exact levels are compared byte for byte [MQTT-4.7.3-4] v5.
		{"a", "a", true},
		{"a", "A", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/", false},
		{"a/b/", "a/b/", true},
		{"a b", "a b", true},
		{"\ufeffa", "\ufeffa", true}, // a BOM is kept, never stripped [MQTT-1.5.4-3] v5
		{"a", "\ufeffa", false},
		{"/a", "/a", true},
		{"/a", "a", false},
		{"a", "a/b", false},
		{"a/b", "a", false},
		// '+' fills exactly one level, possibly empty (§4.7.1.3 examples).
		{"+", "a", true},
		{"+", "", true},
		{"+", "/", false},
		{"sport/+", "sport/", true},
		{"sport/+", "sport", false},
		{"sport/+", "sport/x/y", false},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a//c", true},
		{"a/+/c", "a/b/d", false},
		{"+/b/+", "a/b/c", true},
		// '#' matches the rest, including nothing (§4.7.1.2 examples).
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "/", true},
		{"sport/#", "sport", true},
		{"sport/#", "sport/", true},
		{"sport/#", "sport/tennis/player1", true},
		{"sport/#", "sports", false},
		{"sport/tennis/#", "sport", false},
		{"/#", "/", true},
		{"/#", "/a", true},
		{"/#", "a", false},
		{"+/#", "a", true},
		{"+/#", "/", true},
		{"a/+/#", "a", false},
		{"a/+/#", "a/b", true},
		// [MQTT-4.7.2-1] v5: leading wildcards never match '$' topics; explicit '$' levels do.
		{"#", "$SYS/broker", false},
		{"+/broker", "$SYS/broker", false},
		{"+", "$", false},
		{"$SYS/#", "$SYS/broker", true},
		{"$SYS/#", "$SYS", true},
		{"$SYS/+", "$SYS/broker", true},
		{"a/+", "a/$b", true},
		{"a/#", "a/$b/c", true},
	}
	for _, c := range cases {
		if got := Match(c.filter, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.filter, c.name, got, c.want)
		}
		if got := topictest.NaiveMatch(c.filter, c.name); got != c.want {
			t.Errorf("topictest.NaiveMatch(%q, %q) = %v, want %v (the reference is wrong)", c.filter, c.name, got, c.want)
		}
		if got := MatchLevels(Levels(c.filter), c.name); got != c.want {
			t.Errorf("MatchLevels(%q, %q) = %v, want %v", c.filter, c.name, got, c.want)
		}
		if got := MatchLevels(Levels(c.filter), []byte(c.name)); got != c.want {
			t.Errorf("MatchLevels(%q, []byte(%q)) = %v, want %v", c.filter, c.name, got, c.want)
		}
	}
}

// TestMatchRandom compares Match with naiveMatch on random valid filters and names drawn from a tiny
// alphabet, so that matches are frequent.
func TestMatchRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		name := topictest.RandomName(r)
		filter := topictest.RandomFilter(r)
		if got, want := Match(filter, name), topictest.NaiveMatch(filter, name); got != want {
			t.Fatalf("seed %d: Match(%q, %q) = %v, naive %v", seed, filter, name, got, want)
		}
		if got, want := MatchLevels(Levels(filter), []byte(name)), Match(filter, name); got != want {
			t.Fatalf("seed %d: MatchLevels(%q, %q) = %v, Match %v", seed, filter, name, got, want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { _ = Match("a/+/c/#", "a/b/c/d/e") })
	if n != 0 {
		t.Errorf("Match allocated %v times per run", n)
	}
	filter, name := Levels("a/+/c/#"), []byte("a/b/c/d/e")
	for _, f := range []func(){
		func() { _ = MatchLevels(filter, name) },
		func() { _ = MatchLevels(filter, "a/b/c/d/e") },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("MatchLevels allocated %v times per run", n)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	for b.Loop() {
		Match("sensors/+/floor3/#", "sensors/building7/floor3/room12/temperature")
	}
}
