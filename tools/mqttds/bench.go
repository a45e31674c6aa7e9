package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mqttds/mqttds/benchmarks/mqttbench"
)

const benchUsage = `mqttds bench <mode> [flags]      load an MQTT broker and measure it
mqttds bench table [--base NAME] FILE...   compare RESULT lines of several runs

modes:
  conn     open --clients connections at --conn-rate and hold them for --duration
  sub      subscribe --clients clients to --topic and count what arrives
  pub      publish from --clients clients to --topic; with --subscribers N, also receive in this
           process and count loss, duplicates, reordering and latency exactly
  durable  offline persistent session: publish --messages at QoS 1, optionally --restart-cmd,
           reconnect and count the acknowledged messages that arrive

Every run stops by itself (--duration, --limit) and only targets loopback addresses unless
--allow-remote is given. Progress is printed every second; the run ends with a summary and a
line "RESULT {json}". Run 'mqttds bench <mode> -h' for a mode's flags.`

func init() {
	register("bench", "load generator: conn, sub, pub and durable-session runs with exact loss and latency", runBench)
}

func runBench(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, benchUsage)
		return usagef("bench needs a mode")
	}
	mode, rest := args[0], args[1:]
	switch mode {
	case "-h", "--help", "-help", "help":
		fmt.Fprintln(os.Stdout, benchUsage)
		return nil
	case "table":
		return benchTable(rest, os.Stdout)
	}
	cfg, err := mqttbench.ParseFlags(mode, rest, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = mqttbench.Run(ctx, cfg, os.Stdout)
	return err
}

// benchTable reads RESULT lines from files ("-" for stdin) and prints the comparison table.
func benchTable(args []string, w io.Writer) error {
	fs := newFlagSet("bench table", "mqttds bench table [--base NAME] FILE...", os.Stderr)
	base := fs.String("base", "mosquitto", "the broker the others are compared with (label prefix before '/')")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("bench table needs at least one file of RESULT lines")
	}
	var results []*mqttbench.Result
	for _, name := range files {
		rs, err := readResults(name)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	return mqttbench.WriteComparison(w, results, *base)
}

func readResults(name string) ([]*mqttbench.Result, error) {
	f := os.Stdin
	if name != "-" {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var out []*mqttbench.Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "RESULT ") {
			continue
		}
		r, err := mqttbench.ParseResultLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
