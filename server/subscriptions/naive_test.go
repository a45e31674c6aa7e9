package subscriptions

import (
	"cmp"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt/topic/topictest"
)

// naiveIndex is the reference model of Index: a flat list of subscriptions.
type naiveIndex struct {
	subs map[[2]string]Options // (client, filter as written after $queue canonicalisation) → options
}

func canonical(filter string) (group, flt string) {
	switch {
	case strings.HasPrefix(filter, "$share/"):
		rest := filter[len("$share/"):]
		i := strings.IndexByte(rest, '/')
		return rest[:i], rest[i+1:]
	case strings.HasPrefix(filter, "$queue/"):
		return "$queue", filter[len("$queue/"):]
	}
	return "", filter
}

func (n *naiveIndex) key(client, filter string) [2]string {
	g, f := canonical(filter)
	return [2]string{client, g + "\x00" + f}
}

func (n *naiveIndex) add(client, filter string, o Options) bool {
	k := n.key(client, filter)
	_, ok := n.subs[k]
	n.subs[k] = o
	return ok
}

func (n *naiveIndex) remove(client, filter string) bool {
	k := n.key(client, filter)
	_, ok := n.subs[k]
	delete(n.subs, k)
	return ok
}

// pick returns one existing subscription, at random, as (client, filter); (client, filter) if none.
func (n *naiveIndex) pick(r *rand.Rand, client, filter string) (string, string) {
	i := r.IntN(len(n.subs) + 1)
	for k := range n.subs {
		if i--; i < 0 {
			grp, flt, _ := strings.Cut(k[1], "\x00")
			if grp != "" {
				flt = "$share/" + grp + "/" + flt
			}
			return k[0], flt
		}
	}
	return client, filter
}

func (n *naiveIndex) removeClient(client string) int {
	c := 0
	for k := range n.subs {
		if k[0] == client {
			delete(n.subs, k)
			c++
		}
	}
	return c
}

// match returns what Index.Match should, formatted with formatSubscribers.
func (n *naiveIndex) match(topic, publisher string) string {
	clients := map[string]*Subscriber{}
	groups := map[string]*Subscriber{} // group + "\x00" + filter
	for k, o := range n.subs {
		client := k[0]
		grp, flt, _ := strings.Cut(k[1], "\x00")
		if !topictest.NaiveMatch(flt, topic) {
			continue
		}
		if grp != "" {
			g := groups[k[1]]
			if g == nil {
				g = &Subscriber{Group: grp, group: &group{}}
				groups[k[1]] = g
			}
			g.Members = append(g.Members, Member{ClientID: client, QoS: o.QoS,
				RetainAsPublished: o.RetainAsPublished, SubscriptionID: o.SubscriptionID})
			continue
		}
		if o.NoLocal && client == publisher {
			continue
		}
		s := clients[client]
		if s == nil {
			s = &Subscriber{ClientID: client}
			clients[client] = s
		}
		s.QoS = max(s.QoS, o.QoS)
		s.RetainAsPublished = s.RetainAsPublished || o.RetainAsPublished
		if o.SubscriptionID != 0 {
			s.SubscriptionIDs = append(s.SubscriptionIDs, o.SubscriptionID)
		}
	}
	var out []Subscriber
	for _, s := range clients {
		out = append(out, *s)
	}
	for _, g := range groups {
		out = append(out, *g)
	}
	return formatSubscribers(out)
}

func sortMembers(m []Member) {
	slices.SortFunc(m, func(a, b Member) int { return cmp.Compare(a.ClientID, b.ClientID) })
}

// testSeed returns the seed of a randomized test: MQTTDS_SEED if set, else the clock. It is logged so
// that a failure can be replayed.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MQTTDS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MQTTDS_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with MQTTDS_SEED=%d)", seed, seed)
	return seed
}

// randomOps is the number of operations of a randomized test: small by default, MQTTDS_RANDOM_OPS for
// long runs.
func randomOps(t *testing.T, def int) int {
	if s := os.Getenv("MQTTDS_RANDOM_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("MQTTDS_RANDOM_OPS: %v", err)
		}
		return n
	}
	if testing.Short() {
		return def / 10
	}
	return def
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
