package mqttbench

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttds/mqttds/mqtt/client/clienttest"
)

// runArgs parses a command line and runs it, returning the Result and the printed output.
func runArgs(t *testing.T, mode, args string) (*Result, string) {
	t.Helper()
	cfg, err := ParseFlags(mode, strings.Fields(args), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// The RESULT line round-trips to the same figures.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	back, err := ParseResultLine(lines[len(lines)-1])
	if err != nil || back.Sent != res.Sent || back.Received != res.Received || back.Lost != res.Lost {
		t.Fatalf("RESULT line %q does not round-trip: %v", lines[len(lines)-1], err)
	}
	return res, out.String()
}

// TestRunAgainstMosquitto runs a short bench of each mode against a real broker and checks the
// accounting end to end: every message counted once, nothing lost at QoS 1 and 2, latency recorded.
func TestRunAgainstMosquitto(t *testing.T) {
	m := clienttest.StartMosquitto(t, nil)
	port := "-p " + strconv.Itoa(m.Port) + " "

	for _, q := range []string{"1", "2"} {
		for _, v := range []string{"3", "5"} {
			res, out := runArgs(t, "pub", port+"-V "+v+" -c 3 --subscribers 2 --sub-topic bench/+ -q "+q+" -L 300 -d 20s --quiet")
			// 3 publishers × 300 messages, each subscriber gets all of them.
			if res.Sent != 900 || res.Acked != 900 || res.Expected != 1800 || res.Received != 1800 ||
				res.Lost != 0 || res.Duplicates != 0 || res.Latency.Count != 1800 || res.StopCause != "limit" {
				t.Errorf("qos %s v%s: unexpected result\n%s", q, v, out)
			}
		}
	}

	// Point to point at a fixed rate: 2 publishers × 50 msg/s for about a second.
	res, out := runArgs(t, "pub", port+"-c 2 --subscribers 2 --rate 100 -L 50 -d 20s --quiet")
	if res.Received != 100 || res.Lost != 0 || res.PublishTime < 0.4 {
		t.Errorf("paced run: unexpected result\n%s", out)
	}

	for _, v := range []string{"3", "5"} {
		res, out := runArgs(t, "durable", port+"-V "+v+" --messages 200 --drain 2s")
		if d := res.Durable; d == nil || d.Acked != 200 || d.Delivered != 200 || d.LostAcked != 0 || !d.SessionPresent {
			t.Errorf("durable v%s: unexpected result\n%s", v, out)
		}
	}

	res, out = runArgs(t, "conn", port+"-c 50 -R 500 -d 1500ms --rss-pid "+strconv.Itoa(m.PID()))
	if res.Connected != 50 || res.ConnectFailed != 0 || res.ConnectLatency.Count != 50 || res.RSSAfter == 0 {
		t.Errorf("conn: unexpected result\n%s", out)
	}

	// The other transports, credentials, and a payload file.
	payload := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(payload, bytes.Repeat([]byte("x"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{
		"--tls --cafile " + m.CAFile + " -p " + strconv.Itoa(m.TLSPort),
		"--ws -p " + strconv.Itoa(m.WSPort),
		"-u alice -P secret --payload-file " + payload + " " + port,
	} {
		res, out := runArgs(t, "pub", args+" -c 2 --subscribers 2 -q 1 -L 100 -d 20s --quiet")
		if res.Received != 200 || res.Lost != 0 {
			t.Errorf("%s: unexpected result\n%s", args, out)
		}
		if strings.Contains(args, "payload-file") && res.Size != HeaderSize+100 {
			t.Errorf("payload file: size %d, want %d", res.Size, HeaderSize+100)
		}
	}
}

// TestRunDurableRestart restarts the broker between publishing and reconnecting. Mosquitto keeps
// nothing written since its last save when killed, but with a clean stop (SIGTERM) it saves its
// database, so the restart command here stops it cleanly and every acknowledged message must arrive.
func TestRunDurableRestart(t *testing.T) {
	m := clienttest.StartMosquitto(t, &clienttest.Options{Persistence: true})
	restart := m.RestartCommand(t)
	res, out := runArgs(t, "durable", "-p "+strconv.Itoa(m.Port)+" --messages 300 --drain 2s --restart-cmd "+restart)
	if d := res.Durable; d == nil || !d.Restarted || d.Acked != 300 || d.Delivered != 300 || !d.SessionPresent {
		t.Errorf("durable with restart: unexpected result\n%s", out)
	}
}

func TestRunRefusesUnreachable(t *testing.T) {
	cfg, err := ParseFlags("conn", []string{"-p", "1", "-d", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "no client could connect") {
		t.Fatalf("Run against a closed port: %v", err)
	}
}

func TestProgressLine(t *testing.T) {
	cfg, err := ParseFlags("pub", []string{"-q", "1", "--subscribers", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRunner(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r.st.e2eLat.record(2 * time.Millisecond)
	r.st.ackLat.record(time.Millisecond)
	prev := counters{connected: 2, sent: 100, acked: 90, received: 80}
	cur := counters{connected: 2, sent: 1100, acked: 1090, received: 1080, dups: 1}
	got := r.progressLine(3*time.Second, prev, cur)
	want := "[   3s] conn 2 | pub 1000/s ack 1000/s p99 1.00 ms | recv 1000/s latency p50 2.00 p99 2.00 p99.9 2.00 ms dup 1 reord 0"
	if got != want {
		t.Fatalf("progress line\n got %q\nwant %q", got, want)
	}
	// The interval histograms were reset by the line.
	if l := r.st.e2eLat.takeInterval(); l.Count != 0 {
		t.Fatalf("interval histogram not reset: %+v", l)
	}
}
