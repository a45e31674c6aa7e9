package ds

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestDataDriven runs the scripts in testdata/. Commands (every timestamp is µs on a fake clock
// that starts at 1000 and only moves with "clock"):
//
//	open [shards=N] [layout=K] [threshold=N] [compression=s2]  fresh store (reference layout)
//	reopen                                  close and open the same files
//	clock t=N                               set the fake clock
//	store                                   one message per line: client topic [payload] [qos=N] [retain]
//	batch shard=N                           one op per line: msg client topic payload | put table key value | del table key
//	get table=T shard=N key=K               read a KV value
//	scan table=T shard=N [prefix=P]         list KV entries
//	streams filter=F [since=N]              list ranked streams, numbered for iter
//	iter name=I stream=N filter=F [since=N] make an iterator from a listed stream
//	next name=I n=N                         read, advance the iterator
//	update name=I key=HEX                   UpdateIterator
//	add-generation                          AddGeneration
//	drop-generation shard=N gen=N           DropGeneration
//	generations [since=N] [until=N]         ListGenerations
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		e := &ddEnv{}
		defer e.close(t)
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return e.run(t, td)
		})
	})
}

type ddEnv struct {
	fs      vfs.FS
	opts    *Options
	clock   fakeClock
	db      *DB
	streams []RankedStream
	iters   map[string]Iterator
}

func (e *ddEnv) close(t *testing.T) {
	if e.db != nil {
		if err := e.db.Check(); err != nil {
			t.Error(err)
		}
		e.db.Close()
		e.db = nil
	}
}

func (e *ddEnv) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "open":
		e.close(t)
		e.fs = vfs.NewMem()
		e.clock.t = time.UnixMicro(1000)
		e.iters = map[string]Iterator{}
		e.opts = testOptions()
		e.opts.FS, e.opts.Now = e.fs, e.clock.now
		td.MaybeScanArgs(t, "shards", &e.opts.NumShards)
		if td.HasArg("layout") {
			td.ScanArgs(t, "layout", &e.opts.Layout.Kind)
		}
		if td.HasArg("threshold") {
			var th int
			td.ScanArgs(t, "threshold", &th)
			e.opts.Layout.Thresholds = []int{th}
		}
		if td.HasArg("compression") {
			e.opts.Compression = S2Compression
		}
		return e.open()
	case "reopen":
		e.close(t)
		return e.open()
	case "clock":
		var us int64
		td.ScanArgs(t, "t", &us)
		e.clock.t = time.UnixMicro(us)
		return ""
	case "store":
		var msgs []Message
		for _, line := range lines(td.Input) {
			msgs = append(msgs, parseMessage(line))
		}
		return errOr(e.db.Store(context.Background(), msgs, Sync), "ok")
	case "batch":
		return e.batch(t, td)
	case "get":
		tbl, shard, key := e.tableArgs(t, td)
		v, err := tbl.Get(shard, []byte(key))
		return errOr(err, string(v))
	case "scan":
		tbl, shard, _ := e.tableArgs(t, td)
		var prefix string
		td.MaybeScanArgs(t, "prefix", &prefix)
		var b strings.Builder
		err := tbl.Scan(shard, []byte(prefix), func(k, v []byte) error {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
			return nil
		})
		return errOr(err, b.String())
	case "streams":
		return e.listStreams(t, td)
	case "iter":
		var name, filter string
		var idx int
		var since uint64
		td.ScanArgs(t, "name", &name)
		td.ScanArgs(t, "stream", &idx)
		td.ScanArgs(t, "filter", &filter)
		td.MaybeScanArgs(t, "since", &since)
		it, err := e.db.MakeIterator(e.streams[idx].Stream, filter, since)
		if err != nil {
			return err.Error()
		}
		e.iters[name] = it
		return "ok"
	case "next":
		var name string
		var n int
		td.ScanArgs(t, "name", &name)
		td.ScanArgs(t, "n", &n)
		msgs, it, err := e.db.Next(context.Background(), e.iters[name], n)
		if err != nil {
			return err.Error()
		}
		e.iters[name] = it
		var b strings.Builder
		for i := range msgs {
			fmt.Fprintln(&b, fmtMsg(&msgs[i]))
		}
		if len(msgs) == 0 {
			return "none"
		}
		return b.String()
	case "add-generation":
		gens, err := e.db.AddGeneration()
		return errOr(err, fmtGenerations(gens))
	case "drop-generation":
		var shard int
		var gen uint32
		td.ScanArgs(t, "shard", &shard)
		td.ScanArgs(t, "gen", &gen)
		return errOr(e.db.DropGeneration(Rank{Shard: shard, Generation: gen}), "ok")
	case "generations":
		var since, until uint64
		td.MaybeScanArgs(t, "since", &since)
		td.MaybeScanArgs(t, "until", &until)
		gens, err := e.db.ListGenerations(since, until)
		return errOr(err, fmtGenerations(gens))
	}
	t.Fatalf("unknown command %q", td.Cmd)
	return ""
}

func (e *ddEnv) open() string {
	db, err := Open("db", e.opts)
	if err != nil {
		return err.Error()
	}
	e.db = db
	return "ok"
}

func (e *ddEnv) batch(t *testing.T, td *datadriven.TestData) string {
	var shard int
	td.ScanArgs(t, "shard", &shard)
	b := e.db.NewBatch(shard)
	for _, line := range lines(td.Input) {
		f := strings.Fields(line)
		switch f[0] {
		case "msg":
			m := parseMessage(strings.Join(f[1:], " "))
			b.AddMessage(&m)
		case "put":
			b.Put(e.table(t, f[1]), []byte(f[2]), []byte(f[3]))
		case "del":
			b.Delete(e.table(t, f[1]), []byte(f[2]))
		default:
			t.Fatalf("unknown batch op %q", line)
		}
	}
	return errOr(e.db.Apply(context.Background(), b, Sync), "ok")
}

func (e *ddEnv) table(t *testing.T, name string) *Table {
	tbl, err := e.db.Table(name)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func (e *ddEnv) tableArgs(t *testing.T, td *datadriven.TestData) (*Table, int, string) {
	var name, key string
	var shard int
	td.ScanArgs(t, "table", &name)
	td.ScanArgs(t, "shard", &shard)
	td.MaybeScanArgs(t, "key", &key)
	return e.table(t, name), shard, key
}

func (e *ddEnv) listStreams(t *testing.T, td *datadriven.TestData) string {
	var filter string
	var since uint64
	td.ScanArgs(t, "filter", &filter)
	td.MaybeScanArgs(t, "since", &since)
	streams, err := e.db.GetStreams(filter, since)
	if err != nil {
		return err.Error()
	}
	e.streams = streams
	var b strings.Builder
	for i, s := range streams {
		fmt.Fprintf(&b, "%d: shard %d gen %d stream %x\n", i, s.Rank.Shard, s.Rank.Generation, s.Stream.layout)
	}
	if len(streams) == 0 {
		return "none"
	}
	return b.String()
}

// parseMessage reads "client topic [payload] [qos=N] [retain]".
func parseMessage(line string) Message {
	f := strings.Fields(line)
	m := Message{ClientID: f[0], Topic: f[1]}
	for _, w := range f[2:] {
		switch {
		case strings.HasPrefix(w, "qos="):
			m.QoS = w[4] - '0'
		case w == "retain":
			m.Retain = true
		default:
			m.Payload = []byte(w)
		}
	}
	return m
}

func fmtGenerations(gens []GenerationInfo) string {
	var b strings.Builder
	for _, g := range gens {
		fmt.Fprintf(&b, "shard %d gen %d [%d, %d) %s\n", g.Shard, g.ID, g.Since, g.Until, g.Layout)
	}
	return b.String()
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func errOr(err error, s string) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}
