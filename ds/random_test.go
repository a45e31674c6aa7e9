package ds

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// TestRandomAgainstModel runs a random log of operations (store, clock moves, add and drop
// generations, reopen, reads with random filters and batch sizes through serialized iterators)
// against ds and against a naive in-memory model, under several option sets, and compares every
// read. DS_SEED replays a seed; DS_RANDOM_OPS sets the log length.
func TestRandomAgainstModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	ops := 300
	if s := os.Getenv("DS_RANDOM_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	configs := map[string]func(*Options){
		"reference": func(o *Options) {},
		"wildcard": func(o *Options) {
			o.Layout = layout.Options{Kind: layout.KindWildcardOptimized, Thresholds: []int{3, 2}, EpochBits: 8}
		},
		"wildcard-narrow": func(o *Options) {
			o.Layout = layout.Options{Kind: layout.KindWildcardOptimized, Thresholds: []int{1}, BitsPerTopicLevel: 8,
				TopicIndexBytes: 2, EpochBits: layout.NoEpochBits}
			o.Compression = S2Compression
			o.Buffer.MaxItems = 3
		},
	}
	for name, configure := range configs {
		t.Run(name, func(t *testing.T) {
			t.Logf("seed %d (DS_SEED=%d to replay)", seed, seed)
			r := newRandomRun(t, seed, configure)
			defer r.db.Close()
			for i := 0; i < ops; i++ {
				r.step()
			}
			r.compare("#")
		})
	}
}

type modelMsg struct {
	client, topic, payload string
	gen                    uint32
}

type randomRun struct {
	t     *testing.T
	rng   *rand.Rand
	opts  *Options
	clock *fakeClock
	db    *DB
	// model holds each shard's messages in commit order and the live generation ids.
	model   [][]modelMsg
	gens    [][]uint32
	counter int
}

func newRandomRun(t *testing.T, seed uint64, configure func(*Options)) *randomRun {
	r := &randomRun{t: t, rng: rand.New(rand.NewPCG(seed, 1)), clock: &fakeClock{t: time.UnixMicro(1 << 40)}}
	r.opts = testOptions()
	r.opts.FS = vfs.NewMem()
	r.opts.Now = r.clock.now
	configure(r.opts)
	r.reopen()
	r.model = make([][]modelMsg, r.db.NumShards())
	r.gens = make([][]uint32, r.db.NumShards())
	for i := range r.gens {
		r.gens[i] = []uint32{1}
	}
	return r
}

func (r *randomRun) reopen() {
	if r.db != nil {
		require.NoError(r.t, r.db.Check())
		require.NoError(r.t, r.db.Close())
	}
	db, err := Open("db", r.opts)
	require.NoError(r.t, err)
	r.db = db
}

var randomFilters = []string{"#", "a/#", "a/+", "a/+/x", "+/+/x", "dev/+/temp", "dev/7/#", "+", "b", "a/1/x", "dev/#", "+/#"}

func (r *randomRun) topic() string {
	switch r.rng.IntN(4) {
	case 0:
		return fmt.Sprintf("dev/%d/%s", r.rng.IntN(40), []string{"temp", "hum"}[r.rng.IntN(2)])
	case 1:
		return fmt.Sprintf("a/%d", r.rng.IntN(5))
	case 2:
		return fmt.Sprintf("a/%d/x", r.rng.IntN(5))
	}
	return []string{"b", "c", "b/x", "a"}[r.rng.IntN(4)]
}

func (r *randomRun) step() {
	ctx := context.Background()
	switch p := r.rng.IntN(100); {
	case p < 60:
		n := 1 + r.rng.IntN(4)
		client := fmt.Sprintf("c%d", r.rng.IntN(6))
		msgs := make([]Message, n)
		shard := r.db.ShardOf(client)
		for i := range msgs {
			r.counter++
			msgs[i] = Message{ClientID: client, Topic: r.topic(), Payload: []byte(strconv.Itoa(r.counter))}
			gens := r.gens[shard]
			r.model[shard] = append(r.model[shard], modelMsg{client, msgs[i].Topic, string(msgs[i].Payload), gens[len(gens)-1]})
		}
		require.NoError(r.t, r.db.Store(ctx, msgs, Sync))
	case p < 70:
		r.clock.t = r.clock.t.Add(time.Duration(r.rng.IntN(3000)) * time.Microsecond)
	case p < 73:
		_, err := r.db.AddGeneration()
		require.NoError(r.t, err)
		for i := range r.gens {
			r.gens[i] = append(r.gens[i], r.gens[i][len(r.gens[i])-1]+1)
		}
	case p < 75:
		shard := r.rng.IntN(len(r.gens))
		if len(r.gens[shard]) < 2 {
			return
		}
		gen := r.gens[shard][0]
		require.NoError(r.t, r.db.DropGeneration(Rank{Shard: shard, Generation: gen}))
		r.gens[shard] = r.gens[shard][1:]
		r.model[shard] = slices.DeleteFunc(r.model[shard], func(m modelMsg) bool { return m.gen == gen })
	case p < 77:
		r.reopen()
	default:
		r.compare(randomFilters[r.rng.IntN(len(randomFilters))])
	}
}

// compare reads every message matching filter, shard by shard, generation by generation, with
// random batch sizes, a marshal/unmarshal of the iterator between calls and sometimes a resume
// from a message's After, and checks it against the model.
func (r *randomRun) compare(filter string) {
	ctx := context.Background()
	streams, err := r.db.GetStreams(filter, 0)
	require.NoError(r.t, err)
	got := make([][]StoredMessage, r.db.NumShards())
	for _, rs := range streams {
		it, err := r.db.MakeIterator(rs.Stream, filter, 0)
		require.NoError(r.t, err)
		for {
			b, err := it.MarshalBinary()
			require.NoError(r.t, err)
			require.NoError(r.t, it.UnmarshalBinary(b))
			msgs, next, err := r.db.Next(ctx, it, 1+r.rng.IntN(5))
			if err == ErrEndOfStream || (err == nil && len(msgs) == 0) {
				break
			}
			require.NoError(r.t, err)
			if len(msgs) > 1 && r.rng.IntN(3) == 0 {
				// Resume behind the first message only: the rest must come again.
				msgs, next = msgs[:1], msgs[0].After
			}
			got[rs.Rank.Shard] = append(got[rs.Rank.Shard], msgs...)
			it = next
		}
	}
	for shard := range got {
		slices.SortFunc(got[shard], func(a, b StoredMessage) int { return int(a.Timestamp) - int(b.Timestamp) })
		var gotS, wantS []string
		for _, m := range got[shard] {
			gotS = append(gotS, m.ClientID+" "+m.Topic+" "+string(m.Payload))
		}
		for _, m := range r.model[shard] {
			if topicMatches(filter, m.topic) {
				wantS = append(wantS, m.client+" "+m.topic+" "+m.payload)
			}
		}
		require.Equal(r.t, wantS, gotS, "filter %q shard %d", filter, shard)
	}
}

// topicMatches is the naive MQTT matcher the model uses.
func topicMatches(filter, topic string) bool {
	f, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(f) == len(tl)
}
