package ds

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

// crashWriters stores batches from several goroutines until stop closes, and calls ack for
// every batch whose Store returned nil. Topics are crash/<round>/<writer>/<seq>.
func crashWriters(db *DB, round, writers int, stop <-chan struct{}, ack func(topics []string)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("w%d", w)
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				n := 1 + seq%5
				msgs := make([]Message, n)
				topics := make([]string, n)
				for i := range msgs {
					topics[i] = fmt.Sprintf("crash/%d/%d/%d", round, w, seq*5+i)
					msgs[i] = Message{ClientID: client, Topic: topics[i], Payload: []byte(topics[i]), QoS: 1}
				}
				if err := db.Store(context.Background(), msgs, Sync); err != nil {
					return
				}
				ack(topics)
			}
		}()
	}
	return &wg
}

// checkAcked reopens nothing: it checks that db holds every acked topic and a sound structure.
func checkAcked(t *testing.T, db *DB, acked map[string]bool) {
	t.Helper()
	require.NoError(t, db.Check())
	have := map[string]bool{}
	for _, m := range readAll(t, db, "crash/#", 0) {
		require.Equal(t, m.Topic, string(m.Payload))
		require.False(t, have[m.Topic], "duplicate %s", m.Topic)
		have[m.Topic] = true
	}
	missing := 0
	for topic := range acked {
		if !have[topic] {
			missing++
		}
	}
	require.Zero(t, missing, "%d of %d acknowledged messages lost", missing, len(acked))
}

// TestCrashableMem crashes an in-memory file system that keeps only synced data, at random
// moments while writers store, and checks that every acknowledged message survived.
func TestCrashableMem(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set DS_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	fs := vfs.NewCrashableMem()
	acked := map[string]bool{}
	for round := 0; round < 4; round++ {
		opts := testOptions()
		opts.FS = fs
		opts.Layout = layout.Options{} // the default, wildcard_optimized
		db, err := Open("db", opts)
		require.NoError(t, err)
		checkAcked(t, db, acked)

		var mu sync.Mutex
		stop := make(chan struct{})
		wg := crashWriters(db, round, 4, stop, func(topics []string) {
			mu.Lock()
			defer mu.Unlock()
			for _, topic := range topics {
				acked[topic] = true
			}
		})
		time.Sleep(time.Duration(5+rng.IntN(30)) * time.Millisecond)
		// Everything acknowledged before the crash must survive it.
		mu.Lock()
		before := make(map[string]bool, len(acked))
		for k := range acked {
			before[k] = true
		}
		mu.Unlock()
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(50), RNG: rand.New(rand.NewPCG(seed, uint64(round)))})
		close(stop)
		wg.Wait()
		db.Close()
		fs, acked = crashed, before
	}
	opts := testOptions()
	opts.FS = fs
	opts.Layout = layout.Options{}
	db := openTest(t, "db", opts)
	checkAcked(t, db, acked)
	t.Logf("%d acknowledged messages survived 4 crashes", len(acked))
}

// TestCrashKill9 runs a child process that stores batches in a real directory and reports
// each acknowledged batch on stdout, kills it with SIGKILL at a random moment, and checks
// after reopening that every acknowledged message is there. MQTTDS_SOAK=<duration> repeats for
// that long.
func TestCrashKill9(t *testing.T) {
	if dir := os.Getenv("DS_CRASH_CHILD_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	acked := map[string]bool{}
	deadline := time.Now()
	if soak, err := time.ParseDuration(os.Getenv("MQTTDS_SOAK")); err == nil {
		deadline = deadline.Add(soak)
	}
	for round := 0; round < 3 || time.Now().Before(deadline); round++ {
		killChild(t, dir, round, time.Duration(50+rng.IntN(250))*time.Millisecond, acked)
		opts := &Options{NumShards: 4, Retention: RetentionOptions{Disabled: true}}
		db, err := Open(dir, opts)
		require.NoError(t, err)
		checkAcked(t, db, acked)
		require.NoError(t, db.Close())
	}
	t.Logf("%d acknowledged messages survived kill -9", len(acked))
}

func killChild(t *testing.T, dir string, round int, after time.Duration, acked map[string]bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DS_CRASH_CHILD_DIR="+dir, fmt.Sprintf("DS_CRASH_ROUND=%d", round))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		once := sync.OnceFunc(func() { close(started) })
		for sc.Scan() {
			line := sc.Text()
			if line == "READY" {
				once()
			}
			if topics, ok := strings.CutPrefix(line, "ACK "); ok {
				for _, topic := range strings.Fields(topics) {
					acked[topic] = true
				}
			}
		}
		once()
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not start")
	}
	time.Sleep(after)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-done // every line the child wrote before dying has been read
	cmd.Wait()
}

// crashChild is the child side: store until killed, print each acknowledged batch.
func crashChild(dir string) {
	round, _ := strconv.Atoi(os.Getenv("DS_CRASH_ROUND"))
	opts := &Options{NumShards: 4, Retention: RetentionOptions{Disabled: true}}
	db, err := Open(dir, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "READY")
	w.Flush()
	crashWriters(db, round, 8, make(chan struct{}), func(topics []string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, "ACK", strings.Join(topics, " "))
		w.Flush()
	}).Wait()
	os.Exit(3)
}
