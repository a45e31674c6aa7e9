package subscriptions

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

func sharedSubscriber(t *testing.T, ix *Index, topicName string) Subscriber {
	t.Helper()
	for _, s := range ix.Match(topicName, "", nil) {
		if s.Shared() {
			return s
		}
	}
	t.Fatalf("no shared subscriber for %q", topicName)
	return Subscriber{}
}

func TestPick(t *testing.T) {
	ix := New()
	for _, c := range []string{"m0", "m1", "m2"} {
		if _, err := ix.Add(c, "$share/g/jobs/#", Options{QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	offline := map[string]bool{}
	online := func(id string) bool { return !offline[id] }

	t.Run("round robin visits every member in turn", func(t *testing.T) {
		s := sharedSubscriber(t, ix, "jobs/1")
		seen := map[string]int{}
		for range 30 {
			m, ok := s.Pick(RoundRobin, "p", online)
			if !ok {
				t.Fatal("no member picked")
			}
			seen[m.ClientID]++
		}
		if seen["m0"] != 10 || seen["m1"] != 10 || seen["m2"] != 10 {
			t.Errorf("round robin is uneven: %v", seen)
		}
	})
	t.Run("round robin state survives across Match calls", func(t *testing.T) {
		a := sharedSubscriber(t, ix, "jobs/1")
		b := sharedSubscriber(t, ix, "jobs/2")
		m1, _ := a.Pick(RoundRobin, "p", nil)
		m2, _ := b.Pick(RoundRobin, "p", nil)
		if m1.ClientID == m2.ClientID {
			t.Errorf("two consecutive round-robin picks chose %s twice", m1.ClientID)
		}
	})
	t.Run("offline members are skipped by every strategy", func(t *testing.T) {
		offline["m0"], offline["m2"] = true, true
		defer clear(offline)
		s := sharedSubscriber(t, ix, "jobs/1")
		for _, st := range []Strategy{RoundRobin, Random, Sticky, HashClientID} {
			for range 10 {
				if m, ok := s.Pick(st, "p", online); !ok || m.ClientID != "m1" {
					t.Errorf("%v picked %q, %v; want m1", st, m.ClientID, ok)
				}
			}
		}
	})
	t.Run("nobody online", func(t *testing.T) {
		s := sharedSubscriber(t, ix, "jobs/1")
		for _, st := range []Strategy{RoundRobin, Random, Sticky, HashClientID} {
			if _, ok := s.Pick(st, "p", func(string) bool { return false }); ok {
				t.Errorf("%v picked a member although none is online", st)
			}
		}
	})
	t.Run("sticky keeps its member until it goes offline", func(t *testing.T) {
		s := sharedSubscriber(t, ix, "jobs/1")
		first, _ := s.Pick(Sticky, "p", online)
		for range 20 {
			if m, _ := s.Pick(Sticky, "p", online); m.ClientID != first.ClientID {
				t.Fatalf("sticky moved from %s to %s", first.ClientID, m.ClientID)
			}
		}
		offline[first.ClientID] = true
		defer clear(offline)
		second, _ := s.Pick(Sticky, "p", online)
		if second.ClientID == first.ClientID {
			t.Fatal("sticky kept an offline member")
		}
		delete(offline, first.ClientID)
		if m, _ := s.Pick(Sticky, "p", online); m.ClientID != second.ClientID {
			t.Errorf("sticky left %s for %s when the old member came back", second.ClientID, m.ClientID)
		}
	})
	t.Run("hash sends one publisher to one member", func(t *testing.T) {
		s := sharedSubscriber(t, ix, "jobs/1")
		spread := map[string]bool{}
		for _, pub := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			m, _ := s.Pick(HashClientID, pub, nil)
			for range 5 {
				if again, _ := s.Pick(HashClientID, pub, nil); again != m {
					t.Fatalf("publisher %s went to %s then %s", pub, m.ClientID, again.ClientID)
				}
			}
			spread[m.ClientID] = true
		}
		if len(spread) < 2 {
			t.Errorf("8 publishers all hashed to %v", spread)
		}
	})
	t.Run("random reaches every member", func(t *testing.T) {
		s := sharedSubscriber(t, ix, "jobs/1")
		seen := map[string]bool{}
		for i := 0; i < 300 && len(seen) < 3; i++ {
			m, _ := s.Pick(Random, "p", nil)
			seen[m.ClientID] = true
		}
		if len(seen) != 3 {
			t.Errorf("random reached only %v", seen)
		}
	})
	t.Run("a non-shared subscriber has no member", func(t *testing.T) {
		s := Subscriber{ClientID: "x"}
		if _, ok := s.Pick(RoundRobin, "p", nil); ok {
			t.Error("picked a member of a non-shared subscriber")
		}
	})
}

func TestStrategyNames(t *testing.T) {
	for _, st := range []Strategy{RoundRobin, Random, Sticky, HashClientID} {
		got, err := ParseStrategy(st.String())
		if err != nil || got != st {
			t.Errorf("ParseStrategy(%q) = %v, %v", st.String(), got, err)
		}
	}
	if _, err := ParseStrategy("fastest"); err == nil {
		t.Error("ParseStrategy accepted an unknown name")
	}
	if got := Strategy(9).String(); got != "Strategy(9)" {
		t.Errorf("String of an unknown strategy = %q", got)
	}
}

// TestGroupMembers drives one large shared subscription (past the member-index threshold) through random
// joins, option changes and departures, and checks after each step that Members matches a model and that
// every snapshot handed out earlier is unchanged: callers read those without the lock.
func TestGroupMembers(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix := New()
	model := map[string]byte{} // client → QoS
	type snapshot struct {
		members []Member
		copy    []Member
	}
	var snapshots []snapshot
	for i := range randomOps(t, 4000) {
		c := fmt.Sprintf("m%d", r.IntN(60))
		switch r.IntN(3) {
		case 0:
			ix.Remove(c, "$share/g/t")
			delete(model, c)
		default:
			q := byte(r.IntN(3))
			if _, err := ix.Add(c, "$share/g/t", Options{QoS: q}); err != nil {
				t.Fatal(err)
			}
			model[c] = q
		}
		var got map[string]byte
		for _, s := range ix.Match("t", "", nil) {
			got = map[string]byte{}
			for _, m := range s.Members {
				got[m.ClientID] = m.QoS
			}
			snapshots = append(snapshots, snapshot{s.Members, slices.Clone(s.Members)})
		}
		if len(model) == 0 && got == nil {
			continue
		}
		if !maps.Equal(got, model) {
			t.Fatalf("seed %d op %d: members %v, want %v", seed, i, got, model)
		}
	}
	for i, s := range snapshots {
		if !slices.Equal(s.members, s.copy) {
			t.Fatalf("seed %d: snapshot %d changed after it was handed out", seed, i)
		}
	}
}
