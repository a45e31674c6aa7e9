package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mqttds/mqttds/server"
)

const ctlUsage = `mqttds ctl [--api URL] [--json] <command> [arguments]

commands:
  clients               the connected clients
  sessions              every session, online or not
  subscriptions [ID]    every subscription, or those of client ID
  metrics               the broker's counters
  kick ID               disconnect client ID (its session stays)

The broker serves its REST API on api.bind (default 127.0.0.1:18083). --json prints the API's
JSON unchanged.`

// defaultAPI is the broker's default api.bind as a URL.
const defaultAPI = "http://127.0.0.1:18083"

func init() {
	register("ctl", "query a running broker's REST API: clients, sessions, subscriptions, metrics", func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runCtl(ctx, args, os.Stdout, os.Stderr)
	})
}

// ctlCommand is one ctl subcommand: the API path it reads and how it shows the answer.
type ctlCommand struct {
	path string
	// method is the HTTP method; empty means GET.
	method string
	// pathFor, when set, builds the path from the arguments instead of path.
	pathFor func(args []string) string
	// minArgs and maxArgs bound how many positional arguments it takes.
	minArgs, maxArgs int
	// done, when set, is printed (with the arguments) instead of rendering an answer.
	done string
	// query turns the arguments into the request's query.
	query  func(args []string) url.Values
	render func(w io.Writer, body []byte) error
}

var ctlCommands = map[string]ctlCommand{
	"clients":  {path: "/api/v1/clients", render: renderClients},
	"sessions": {path: "/api/v1/sessions", render: renderSessions},
	"subscriptions": {path: "/api/v1/subscriptions", maxArgs: 1, render: renderSubscriptions,
		query: func(args []string) url.Values {
			if len(args) == 0 {
				return nil
			}
			return url.Values{"client": {args[0]}}
		}},
	"metrics": {path: "/api/v1/metrics", render: renderMetrics},
	"kick": {method: http.MethodDelete, minArgs: 1, maxArgs: 1, done: "kicked %s",
		pathFor: func(args []string) string { return "/api/v1/clients/" + url.PathEscape(args[0]) }},
}

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ctl", ctlUsage, stderr)
	api := fs.String("api", defaultAPI, "base URL (or host:port) of the broker's REST API")
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on the API after this long")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("ctl needs a command: %s", strings.Join(ctlCommandNames(), ", "))
	}
	name, rest := pos[0], pos[1:]
	cmd, ok := ctlCommands[name]
	switch {
	case !ok:
		return usagef("unknown ctl command %q (%s)", name, strings.Join(ctlCommandNames(), ", "))
	case len(rest) < cmd.minArgs:
		return usagef("%s needs %d argument(s)", name, cmd.minArgs)
	case len(rest) > cmd.maxArgs:
		return usagef("%s takes at most %d argument(s), got %q", name, cmd.maxArgs, strings.Join(rest, " "))
	case *timeout <= 0:
		return usagef("--timeout must be positive")
	}
	base, err := apiURL(*api)
	if err != nil {
		return usageError{err.Error()}
	}
	var q url.Values
	if cmd.query != nil {
		q = cmd.query(rest)
	}
	c := &http.Client{Timeout: *timeout}
	method, path := http.MethodGet, cmd.path
	if cmd.method != "" {
		method = cmd.method
	}
	if cmd.pathFor != nil {
		path = cmd.pathFor(rest)
	}
	body, err := apiDo(ctx, c, method, base, path, q)
	if err != nil {
		return err
	}
	if cmd.done != "" {
		_, err = fmt.Fprintf(stdout, cmd.done+"\n", strings.Join(rest, " "))
		return err
	}
	if *asJSON {
		_, err = stdout.Write(body)
		return err
	}
	return cmd.render(stdout, body)
}

// apiURL parses the --api value; a bare host:port means http.
func apiURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--api %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return u, nil
}

// apiDo sends method to path (with query q) of the API at base and returns the body of a
// successful (2xx) answer.
func apiDo(ctx context.Context, c *http.Client, method string, base *url.URL, path string, q url.Values) ([]byte, error) {
	u := base.JoinPath(path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the broker's API at %s (is the broker running, with api.bind set?): %w", base, err)
	}
	defer resp.Body.Close()
	// The answers are small; a limit keeps a wrong --api from filling memory.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, snippet(body))
	}
	return body, nil
}

// snippet returns the start of an error body, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// decode unmarshals an API answer, naming what it expected when the body is not that.
func decode(body []byte, v any, what string) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the API answered something that is not %s: %v", what, err)
	}
	return nil
}

func renderClients(w io.Writer, body []byte) error {
	var clients []server.ClientView
	if err := decode(body, &clients, "a list of clients"); err != nil {
		return err
	}
	if len(clients) == 0 {
		_, err := fmt.Fprintln(w, "no clients connected")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tUSERNAME\tPROTOCOL\tKEEPALIVE\tLISTENER\tREMOTE")
	for _, c := range clients {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ClientID, orDash(c.Username), c.Version,
			time.Duration(c.KeepAlive)*time.Second, c.Listener, c.Remote)
	}
	return tw.Flush()
}

func renderSessions(w io.Writer, body []byte) error {
	var sessions []server.SessionInfo
	if err := decode(body, &sessions, "a list of sessions"); err != nil {
		return err
	}
	if len(sessions) == 0 {
		_, err := fmt.Fprintln(w, "no sessions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tONLINE\tDURABLE\tEXPIRY\tINFLIGHT\tQUEUED\tCREATED")
	online, durable := 0, 0
	for _, s := range sessions {
		if s.Online {
			online++
		}
		if s.Durable {
			durable++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.ClientID, yesNo(s.Online), yesNo(s.Durable), s.Expiry,
			s.Inflight, s.Queued, s.Created.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	noun := "sessions"
	if len(sessions) == 1 {
		noun = "session"
	}
	_, err := fmt.Fprintf(w, "%d %s, %d online, %d durable\n", len(sessions), noun, online, durable)
	return err
}

func renderSubscriptions(w io.Writer, body []byte) error {
	var subs []server.SubscriptionView
	if err := decode(body, &subs, "a list of subscriptions"); err != nil {
		return err
	}
	if len(subs) == 0 {
		_, err := fmt.Fprintln(w, "no subscriptions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tFILTER\tQOS\tOPTIONS")
	for _, s := range subs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.ClientID, s.Filter, s.QoS, subscriptionOptions(s))
	}
	return tw.Flush()
}

// subscriptionOptions lists the options that differ from the defaults.
func subscriptionOptions(s server.SubscriptionView) string {
	var opts []string
	if s.NoLocal {
		opts = append(opts, "no_local")
	}
	if s.RetainAsPublished {
		opts = append(opts, "retain_as_published")
	}
	if s.RetainHandling != 0 {
		opts = append(opts, fmt.Sprintf("retain_handling=%d", s.RetainHandling))
	}
	if s.SubscriptionID != 0 {
		opts = append(opts, fmt.Sprintf("id=%d", s.SubscriptionID))
	}
	return orDash(strings.Join(opts, ","))
}

func renderMetrics(w io.Writer, body []byte) error {
	var m server.Metrics
	if err := decode(body, &m, "the broker's metrics"); err != nil {
		return err
	}
	_, err := io.WriteString(w, m.String())
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ctlCommandNames lists the commands, sorted.
func ctlCommandNames() []string {
	names := make([]string, 0, len(ctlCommands))
	for n := range ctlCommands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
