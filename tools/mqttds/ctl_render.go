package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mqttds/mqttds/server"
)

func renderStatus(w io.Writer, body []byte) error {
	var st server.NodeStatus
	if err := decode(body, &st, "the node's status"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "node\t%s\n", st.Node)
	fmt.Fprintf(tw, "version\t%s (%s)\n", st.Version, st.GoVersion)
	fmt.Fprintf(tw, "uptime\t%s (since %s)\n", time.Duration(st.Uptime*float64(time.Second)).Round(time.Second),
		st.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "durable sessions\t%s\n", yesNo(st.Durable))
	for i, l := range st.Listeners {
		label := ""
		if i == 0 {
			label = "listeners"
		}
		fmt.Fprintf(tw, "%s\t%s %s %s\n", label, l.ID, l.Protocol, l.Address)
	}
	fmt.Fprintf(tw, "connections\t%d\n", st.Connections)
	fmt.Fprintf(tw, "sessions\t%d\n", st.Sessions)
	fmt.Fprintf(tw, "subscriptions\t%d\n", st.Subscriptions)
	fmt.Fprintf(tw, "retained\t%d\n", st.Retained)
	return tw.Flush()
}

// inflight shows a listing's in-flight count; "-" where the listing did not read it (a
// compact durable session: `clients show` does).
func inflight(n *int) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(*n)
}

func connectedWord(b bool) string {
	if b {
		return "connected"
	}
	return "disconnected"
}

func renderClients(w io.Writer, body []byte) error {
	var clients []server.ClientView
	if err := decode(body, &clients, "a list of clients"); err != nil {
		return err
	}
	if len(clients) == 0 {
		_, err := fmt.Fprintln(w, "no clients")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tSTATE\tDURABLE\tUSERNAME\tPROTOCOL\tKEEPALIVE\tINFLIGHT\tQUEUED\tEXPIRY\tREMOTE")
	connected, durable := 0, 0
	for _, c := range clients {
		keepAlive := "-"
		if c.Connected {
			connected++
			keepAlive = (time.Duration(c.KeepAlive) * time.Second).String()
		}
		if c.Durable {
			durable++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.ClientID, connectedWord(c.Connected), yesNo(c.Durable),
			orDash(c.Username), orDash(c.Version), keepAlive, inflight(c.Inflight), c.Queued, c.Expiry, orDash(c.Remote))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s, %d connected, %d durable\n", plural(len(clients), "client"), connected, durable)
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func renderClient(w io.Writer, body []byte) error {
	var c server.ClientDetail
	if err := decode(body, &c, "a client"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "client id\t%s\n", c.ClientID)
	fmt.Fprintf(tw, "state\t%s\n", connectedWord(c.Connected))
	if c.Connected {
		fmt.Fprintf(tw, "username\t%s\n", orDash(c.Username))
		fmt.Fprintf(tw, "protocol\t%s\n", c.Version)
		fmt.Fprintf(tw, "keep alive\t%s\n", time.Duration(c.KeepAlive)*time.Second)
		fmt.Fprintf(tw, "listener\t%s\n", c.Listener)
		fmt.Fprintf(tw, "remote\t%s\n", c.Remote)
	}
	fmt.Fprintf(tw, "durable\t%s\n", yesNo(c.Durable))
	fmt.Fprintf(tw, "session expiry\t%s\n", c.Expiry)
	if !c.Created.IsZero() {
		fmt.Fprintf(tw, "created\t%s\n", c.Created.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "in flight\t%s\n", inflight(c.Inflight))
	fmt.Fprintf(tw, "queued\t%d\n", c.Queued)
	fmt.Fprintf(tw, "awaiting PUBREL\t%d\n", c.AwaitingRel)
	fmt.Fprintf(tw, "subscriptions\t%d\n", len(c.Subscriptions))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(c.Subscriptions) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nFILTER\tQOS\tOPTIONS")
	for _, s := range c.Subscriptions {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s.Filter, s.QoS, subscriptionOptions(s))
	}
	return tw.Flush()
}

func renderRetainedList(w io.Writer, body []byte) error {
	var msgs []server.RetainedView
	if err := decode(body, &msgs, "a list of retained messages"); err != nil {
		return err
	}
	if len(msgs) == 0 {
		_, err := fmt.Fprintln(w, "no retained messages")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tQOS\tSIZE\tPUBLISHER\tCREATED\tEXPIRES")
	for _, m := range msgs {
		expires := "never"
		if !m.Expires.IsZero() {
			expires = m.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", m.Topic, m.QoS, m.PayloadSize, orDash(m.Publisher),
			m.Created.UTC().Format(time.RFC3339), expires)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, plural(len(msgs), "retained message"))
	return err
}

func renderRetained(w io.Writer, body []byte) error {
	var m server.RetainedMessage
	if err := decode(body, &m, "a retained message"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "topic\t%s\n", m.Topic)
	fmt.Fprintf(tw, "qos\t%d\n", m.QoS)
	fmt.Fprintf(tw, "publisher\t%s\n", orDash(m.Publisher))
	fmt.Fprintf(tw, "created\t%s\n", m.Created.UTC().Format(time.RFC3339))
	if !m.Expires.IsZero() {
		fmt.Fprintf(tw, "expires\t%s\n", m.Expires.UTC().Format(time.RFC3339))
	}
	if m.ContentType != "" {
		fmt.Fprintf(tw, "content type\t%s\n", m.ContentType)
	}
	if m.ResponseTopic != "" {
		fmt.Fprintf(tw, "response topic\t%s\n", m.ResponseTopic)
	}
	for _, u := range m.UserProperties {
		fmt.Fprintf(tw, "user property\t%s=%s\n", u.Key, u.Value)
	}
	if printable(m.Payload) {
		fmt.Fprintf(tw, "payload\t%s\n", m.Payload)
	} else {
		fmt.Fprintf(tw, "payload (base64)\t%s\n", base64.StdEncoding.EncodeToString(m.Payload))
	}
	return tw.Flush()
}

// printable reports whether a payload can be shown as text: UTF-8 without control characters
// other than tab.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' {
			return false
		}
	}
	return true
}

// DSInfo is what `ctl ds info --json` prints: every storage with its shards, and the sites.
type DSInfo struct {
	Storages []server.StorageDetail `json:"storages"`
	Sites    []server.SiteView      `json:"sites"`
}

func fetchDSInfo(ctx context.Context, c *apiClient) ([]byte, error) {
	var info DSInfo
	body, err := c.do(ctx, http.MethodGet, "/api/v1/ds/storages", nil, nil)
	if err != nil {
		return nil, err
	}
	var storages []server.StorageView
	if err := decode(body, &storages, "a list of storages"); err != nil {
		return nil, err
	}
	for _, st := range storages {
		body, err := c.do(ctx, http.MethodGet, "/api/v1/ds/storages/"+url.PathEscape(st.Name), nil, nil)
		if err != nil {
			return nil, err
		}
		var d server.StorageDetail
		if err := decode(body, &d, "a storage"); err != nil {
			return nil, err
		}
		info.Storages = append(info.Storages, d)
	}
	if body, err = c.do(ctx, http.MethodGet, "/api/v1/ds/sites", nil, nil); err != nil {
		return nil, err
	}
	if err := decode(body, &info.Sites, "a list of sites"); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(info, "", "  ")
	return append(b, '\n'), err
}

func renderDSInfo(w io.Writer, body []byte) error {
	var info DSInfo
	if err := decode(body, &info, "storage information"); err != nil {
		return err
	}
	if len(info.Storages) == 0 {
		fmt.Fprintln(w, "no durable storage (durable_sessions.enable is off)")
	}
	for _, st := range info.Storages {
		fmt.Fprintf(w, "storage %s: %s, %s, %s on disk, sites %s\n", st.Name, plural(st.Shards, "shard"),
			plural(st.Generations, "generation"), byteSize(st.DiskBytes), strings.Join(st.Sites, ", "))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		changing := false
		for _, sh := range st.ShardList {
			changing = changing || sh.Target != nil || sh.Pending != ""
		}
		header := "SHARD\tREPLICAS\tGENERATIONS\tCURRENT LAYOUT"
		if changing {
			header += "\tTARGET\tPENDING"
		}
		fmt.Fprintln(tw, header)
		for _, sh := range st.ShardList {
			var replicas []string
			for _, r := range sh.Replicas {
				state := r.Status
				if r.Lag != nil && *r.Lag > 0 {
					state += fmt.Sprintf(", %d behind", *r.Lag)
				}
				replicas = append(replicas, r.Site+" ("+state+")")
			}
			layout := "-"
			for _, g := range sh.Generations {
				if g.Current {
					layout = g.Layout
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s", sh.ID, strings.Join(replicas, ", "), len(sh.Generations), layout)
			if changing {
				target := "-"
				if sh.Target != nil {
					target = strings.Join(sh.Target, ", ")
				}
				fmt.Fprintf(tw, "\t%s\t%s", target, orDash(sh.Pending))
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tNODE\tSTATE\tSHARDS")
	for _, s := range info.Sites {
		state := "down"
		if s.Up {
			state = "up"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Site, s.Node, state, s.Shards)
	}
	return tw.Flush()
}

// byteSize shows a size with a binary unit.
func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func renderTraces(w io.Writer, body []byte) error {
	var traces []server.TraceView
	if err := decode(body, &traces, "a list of traces"); err != nil {
		return err
	}
	if len(traces) == 0 {
		_, err := fmt.Fprintln(w, "no traces")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMATCH\tSTATUS\tPACKETS\tBYTES\tSTART\tEND")
	for _, t := range traces {
		match := "client " + t.ClientID
		if t.Topic != "" {
			match = "topic " + t.Topic
		}
		status := t.Status
		if t.Reason != "" {
			status += " (" + t.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", t.Name, match, status, t.Packets, t.Bytes,
			t.Start.UTC().Format(time.RFC3339), t.End.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func renderTraceStarted(w io.Writer, body []byte) error {
	var t server.TraceView
	if err := decode(body, &t, "a trace"); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "started trace %s until %s (at most %s); read it with: mqttds ctl trace log %s\n",
		t.Name, t.End.UTC().Format(time.RFC3339), byteSize(uint64(t.MaxBytes)), t.Name)
	return err
}

func renderPublished(w io.Writer, body []byte) error {
	var r server.PublishResult
	if err := decode(body, &r, "a publish result"); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "published to %s\n", plural(r.Delivered, "session"))
	return err
}

// renderPlan shows the plan of a replica change: the shards that move, and from where to where.
func renderPlan(w io.Writer, body []byte) error {
	var p server.ClusterPlan
	if err := decode(body, &p, "a replica plan"); err != nil {
		return err
	}
	if len(p.Shards) == 0 {
		_, err := fmt.Fprintln(w, "nothing to move: every shard is where it should be")
		return err
	}
	fmt.Fprintf(w, "%s to move (in the background; ds info shows the progress):\n", plural(len(p.Shards), "shard"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tFROM\tTO\tADD\tREMOVE\tNEW LEADER")
	for _, sh := range p.Shards {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", sh.Shard, strings.Join(sh.From, ", "), strings.Join(sh.To, ", "),
			orDash(strings.Join(sh.Add, ", ")), orDash(strings.Join(sh.Remove, ", ")), orDash(sh.Leader))
	}
	return tw.Flush()
}
