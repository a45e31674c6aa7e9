package mqttbench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Result is the outcome of one run: what the summary prints and what the JSON line carries. Fields
// that do not apply to the mode are zero and left out of the JSON.
type Result struct {
	Mode      Mode    `json:"mode"`
	Label     string  `json:"label,omitempty"`
	Version   string  `json:"mqtt_version"`
	QoS       int     `json:"qos"`
	Clients   int     `json:"clients"`
	Subs      int     `json:"subscribers,omitempty"`
	Size      int     `json:"payload_bytes,omitempty"`
	Elapsed   float64 `json:"elapsed_s"`
	StopCause string  `json:"stop"`

	// Connections.
	Connected      int64          `json:"connected"`
	ConnectFailed  int64          `json:"connect_failed"`
	Disconnected   int64          `json:"disconnected"`            // lost after connecting
	ConnectError   string         `json:"connect_error,omitempty"` // the first failure, as an example
	ConnectRate    float64        `json:"connect_rate,omitempty"`
	ConnectLatency LatencySummary `json:"connect_latency"`
	RSSBefore      int64          `json:"rss_before_bytes,omitempty"`
	RSSAfter       int64          `json:"rss_after_bytes,omitempty"`
	RSSPerConn     float64        `json:"rss_per_conn_bytes,omitempty"`

	// Publishing.
	Sent        int64          `json:"sent,omitempty"`
	Acked       int64          `json:"acked,omitempty"`
	PubFailed   int64          `json:"publish_failed,omitempty"`
	SendRate    float64        `json:"send_rate,omitempty"`
	AckLatency  LatencySummary `json:"ack_latency"`
	PublishTime float64        `json:"publish_s,omitempty"`

	// Receiving.
	Received    int64          `json:"received,omitempty"`
	Expected    int64          `json:"expected,omitempty"` // pub mode with subscribers: sent × matching subscribers
	RecvRate    float64        `json:"recv_rate,omitempty"`
	Lost        int64          `json:"lost"`
	Duplicates  int64          `json:"duplicates"`
	Reordered   int64          `json:"reordered"`
	Foreign     int64          `json:"foreign,omitempty"` // not from this run, or not a bench payload
	Latency     LatencySummary `json:"latency"`
	LossIsExact bool           `json:"loss_exact"`

	// durable mode.
	Durable *DurableResult `json:"durable,omitempty"`
}

// DurableResult is what durable mode measures.
type DurableResult struct {
	Published      int     `json:"published"`
	Acked          int64   `json:"acked"`
	Restarted      bool    `json:"restarted"`
	RestartSeconds float64 `json:"restart_s,omitempty"` // restart command start → session reconnected
	SessionPresent bool    `json:"session_present"`
	Delivered      int64   `json:"delivered"` // distinct acked messages that arrived
	LostAcked      int64   `json:"lost_acked"`
	Duplicates     int64   `json:"duplicates"`
	DrainSeconds   float64 `json:"drain_s"` // reconnect → last message
}

// WriteJSON writes r as one line of JSON prefixed by "RESULT ", so a script can pick it out of the
// progress output with grep.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "RESULT %s\n", b)
	return err
}

// ParseResultLine decodes a line written by WriteJSON.
func ParseResultLine(line string) (*Result, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "RESULT ")
	if !ok {
		return nil, fmt.Errorf("bench: not a RESULT line: %.40q", line)
	}
	r := &Result{}
	if err := json.Unmarshal([]byte(rest), r); err != nil {
		return nil, fmt.Errorf("bench: RESULT line: %w", err)
	}
	return r, nil
}

// WriteSummary writes the human-readable end-of-run report.
func (r *Result) WriteSummary(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("== %s: MQTT %s, %d client(s), QoS %d, %.1fs (%s)", r.Mode, r.Version, r.Clients, r.QoS, r.Elapsed, r.StopCause)
	p("connections   %d up, %d failed, %d dropped; connect %s", r.Connected, r.ConnectFailed,
		r.Disconnected, r.ConnectLatency)
	if r.ConnectError != "" {
		p("first failure %s", r.ConnectError)
	}
	if r.ConnectRate > 0 {
		p("connect rate  %.0f conn/s", r.ConnectRate)
	}
	if r.RSSAfter > 0 {
		p("broker RSS    %s → %s, %.1f KiB per connection", mib(r.RSSBefore), mib(r.RSSAfter), r.RSSPerConn/1024)
	}
	if r.Sent > 0 || r.Mode == ModePub {
		p("published     %d sent, %d acked, %d failed; %.0f msg/s over %.1fs; ack %s",
			r.Sent, r.Acked, r.PubFailed, r.SendRate, r.PublishTime, r.AckLatency)
	}
	if r.Received > 0 || r.Subs > 0 || r.Mode == ModeSub {
		exact := "gaps only: a lost tail is not visible without the publishers' counts"
		if r.LossIsExact {
			exact = fmt.Sprintf("exact, of %d expected", r.Expected)
		}
		p("received      %d, %.0f msg/s; lost %d (%s), duplicates %d, reordered %d, foreign %d",
			r.Received, r.RecvRate, r.Lost, exact, r.Duplicates, r.Reordered, r.Foreign)
		p("latency       %s", r.Latency)
	}
	if d := r.Durable; d != nil {
		p("durable       %d published, %d acked; restarted %v (%.2fs); session present %v",
			d.Published, d.Acked, d.Restarted, d.RestartSeconds, d.SessionPresent)
		p("              %d of the acked delivered, %d acked lost, %d duplicates, drained in %.2fs",
			d.Delivered, d.LostAcked, d.Duplicates, d.DrainSeconds)
	}
}

func (s LatencySummary) String() string {
	if s.Count == 0 {
		return "latency n/a"
	}
	return fmt.Sprintf("p50 %s p90 %s p99 %s p99.9 %s max %s ms (n=%d)", f2(s.P50), f2(s.P90), f2(s.P99),
		f2(s.P999), f2(s.Max), s.Count)
}

func f2(ms float64) string {
	if ms >= 100 {
		return fmt.Sprintf("%.0f", ms)
	}
	return fmt.Sprintf("%.2f", ms)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
