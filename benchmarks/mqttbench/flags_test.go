package mqttbench

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	payload := filepath.Join(t.TempDir(), "p.bin")
	if err := os.WriteFile(payload, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode  string
		args  string
		check func(c *Config) bool
		err   string // substring of the expected error; "" = success
	}{
		{mode: "pub", args: "", check: func(c *Config) bool {
			return c.Port == 1883 && c.Version == 5 && c.Size == 64 && c.Duration == 10*time.Second &&
				c.ClientID.Expand(3) == "mqttds-bench-pub-3" && c.Topic.Expand(2) == "bench/2"
		}},
		{mode: "pub", args: "-c 4 -q 1 -s 128 -t a/%i/b -I 5ms -L 100 -d 2s --subscribers 4 --sub-topic a/+/b",
			check: func(c *Config) bool {
				return c.Clients == 4 && c.QoS == 1 && c.Size == 128 && c.Topic.Expand(7) == "a/7/b" &&
					c.Interval == 5*time.Millisecond && c.Limit == 100 && c.Duration == 2*time.Second &&
					c.Subscribers == 4 && c.SubTopic.Expand(1) == "a/+/b"
			}},
		{mode: "sub", args: "-V 3 -t sensors/# -c 2 --clean=false", check: func(c *Config) bool {
			return c.Version == 4 && c.Topic.String() == "sensors/#" && !c.CleanStart
		}},
		{mode: "conn", args: "-c 1000 -R 500 --host localhost", check: func(c *Config) bool {
			return c.Clients == 1000 && c.ConnRate == 500 && c.Host == "localhost"
		}},
		{mode: "durable", args: "--messages 50 --restart-cmd true", check: func(c *Config) bool {
			return c.Messages == 50 && c.RestartCmd == "true" && c.QoS == 1 && !c.CleanStart &&
				c.Expiry == 3600 && c.ClientID.String() == "mqttds-bench-durable"
		}},
		{mode: "durable", args: "-V 3", check: func(c *Config) bool { return c.Version == 4 && c.Expiry == 0 && !c.CleanStart }},
		{mode: "pub", args: "--payload-file " + payload, check: func(c *Config) bool {
			return string(c.payloadFile) == "hello"
		}},
		{mode: "pub", args: "--ws --tls --insecure -p 8084", check: func(c *Config) bool {
			return c.WebSocket && c.TLS && c.Insecure && c.Port == 8084
		}},

		{mode: "flood", err: `unknown mode "flood"`},
		{mode: "pub", args: "--host 192.0.2.1", err: "not a loopback address"},
		{mode: "pub", args: "--duration 0s", err: "must stop by itself"},
		{mode: "pub", args: "--duration 2h", err: "out of range"},
		{mode: "pub", args: "-q 3", err: "want 0, 1 or 2"},
		{mode: "pub", args: "-V 4.5", err: "want 3 (3.1.1) or 5"},
		{mode: "pub", args: "-s 10", err: "28-byte header"},
		{mode: "pub", args: "-t a/%x", err: "unknown %x"},
		{mode: "pub", args: "-t a/+", err: "--topic"},
		{mode: "sub", args: "-t a/#/b", err: "--topic"},
		{mode: "pub", args: "-c 2 --client-id fixed", err: "must contain %i"},
		{mode: "pub", args: "--insecure", err: "need --tls"},
		{mode: "pub", args: "stray", err: `unexpected argument "stray"`},
		{mode: "pub", args: "--payload-file /nonexistent/file", err: "--payload-file"},
		{mode: "durable", args: "-q 0", err: "needs --qos 1 or 2"},
		{mode: "durable", args: "--session-expiry 0", err: "needs --session-expiry > 0"},
		{mode: "sub", args: "-V 3 --session-expiry 10", err: "needs --version 5"},
		{mode: "pub", args: "--rss-pid 1", err: "only for conn mode"},
		// Every problem is reported at once.
		{mode: "pub", args: "-c 0 -p 0", err: "--port 0 out of range"},
		{mode: "pub", args: "-c 0 -p 0", err: "--clients 0 out of range"},
	} {
		t.Run(tc.mode+" "+tc.args, func(t *testing.T) {
			c, err := ParseFlags(tc.mode, strings.Fields(tc.args), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		in, want  string
		perClient bool
	}{
		{"bench/%i", "bench/42", true},
		{"%i-%i", "42-42", true},
		{"100%%/x", "100%/x", false},
		{"plain", "plain", false},
		{"", "", false},
	} {
		tp, err := ParseTemplate(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := tp.Expand(42); got != tc.want || tp.PerClient() != tc.perClient {
			t.Errorf("%q: Expand = %q PerClient = %v; want %q %v", tc.in, got, tp.PerClient(), tc.want, tc.perClient)
		}
	}
	for _, bad := range []string{"a%", "a%d", "%c"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS([]byte("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t    1234 kB\n"))
	if err != nil || got != 1234<<10 {
		t.Fatalf("parseVmRSS = %d, %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("no error without a VmRSS line")
	}
	if _, err := readVmRSS(os.Getpid()); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
}
