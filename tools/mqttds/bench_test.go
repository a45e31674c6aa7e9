package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchTable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "results.txt")
	lines := "[   1s] conn 8 | pub 100/s\n" +
		`RESULT {"mode":"pub","label":"mosquitto/qos1-p2p","subscribers":4,"recv_rate":1000,"latency":{"p50_ms":2,"p99_ms":4}}` + "\n" +
		`RESULT {"mode":"pub","label":"mqttds/qos1-p2p","subscribers":4,"recv_rate":3000,"latency":{"p50_ms":1,"p99_ms":2}}` + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := benchTable([]string{file}, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| qos1-p2p | received msg/s (higher is better) | 1000 | 3000 | 3.00× |") {
		t.Fatalf("table:\n%s", b.String())
	}

	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("RESULT {not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := benchTable([]string{bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "bad.txt") {
		t.Fatalf("bad RESULT line: %v", err)
	}
	if err := benchTable(nil, io.Discard); err == nil {
		t.Fatal("no files accepted")
	}
}

func TestBenchUsage(t *testing.T) {
	if code := dispatch([]string{"bench", "flood"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown mode: exit %d, want 2", code)
	}
	if code := dispatch([]string{"bench", "pub", "--duration", "0s"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unbounded run: exit %d, want 2", code)
	}
}
