package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/apikey"
)

const ctlUsage = `mqttds ctl [--api URL] [--key KEY] [--data-dir DIR] [--json] <command> [arguments]

commands:
  status                        the node: version, uptime, listeners, counts
  clients [list]                every client: connected ones, and disconnected ones with a session
  clients show ID               one client with its session and subscriptions
  clients kick ID               disconnect client ID (its session stays; --session deletes it too)
  sessions                      every session, online or not
  subscriptions [list] [ID]     every subscription, or those of client ID
  retained list [FILTER]        retained messages (all, or those matching a topic filter)
  retained show TOPIC           one retained message with its payload
  retained delete TOPIC         delete a retained message
  metrics                       the broker's counters
  publish TOPIC PAYLOAD         publish as the broker (--qos N, --retain)
  ds info                       the storage: databases, shards, sites, pending replica changes
  ds set_replicas DB SITE...    move storage DB onto these sites (balanced; runs in the background)
  ds join DB SITE               add SITE to storage DB's sites and rebalance
  ds leave DB SITE              move every replica of storage DB off SITE
  ds forget SITE                drop a site that is gone for good from every replica set
  trace start NAME --client ID | --topic FILTER [--duration 10m] [--max-bytes N]
                                trace a client's packets, or PUBLISH packets on matching topics
  trace list | stop NAME | log NAME | delete NAME
  api-key create NAME           create an API key (--expires-in 720h); its token is shown once
  api-key list                  the API keys
  api-key delete ID|NAME        delete an API key
  kick ID                       the same as clients kick

The broker serves its REST API on api.bind (default 127.0.0.1:18083). Every command but
status's /healthz needs a credential: --key (or MQTTDS_API_KEY) takes an API key or api.token;
without one, ctl reads the broker's local token from DIR/api.token (--data-dir, default ./data,
the broker's data_dir), and only for a loopback --api. --json prints the API's JSON unchanged.`

// defaultAPI is the broker's default api.bind as a URL.
const defaultAPI = "http://127.0.0.1:18083"

func init() {
	register("ctl", "manage a running broker through its REST API: clients, subscriptions, retained, keys", func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runCtl(ctx, args, os.Stdout, os.Stderr)
	})
}

// ctlFlags are the flags of every ctl command; each command reads those that apply to it.
type ctlFlags struct {
	expiresIn string
	session   bool
	// clients list filters
	connected, disconnected, durable, memory bool
	prefix, username                         string
	// trace start
	traceClient, traceTopic, traceDuration string
	traceMaxBytes                          int64
	// publish
	qos    int
	retain bool
}

// ctlCommand is one ctl subcommand: the API path it calls and how it shows the answer.
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
	query func(args []string, f *ctlFlags) url.Values
	// body, when set, is the JSON request body.
	body func(args []string, f *ctlFlags) any
	// list marks a paginated listing: every page is fetched.
	list bool
	// raw prints the answer as it is, with or without --json (a log).
	raw bool
	// fetch, when set, makes the calls itself and returns the JSON to render (several routes).
	fetch  func(ctx context.Context, c *apiClient) ([]byte, error)
	render func(w io.Writer, body []byte) error
}

var ctlCommands = map[string]ctlCommand{
	"status":       {path: "/api/v1/status", render: renderStatus},
	"clients":      {path: "/api/v1/clients", list: true, query: clientFilterQuery, render: renderClients},
	"clients list": {path: "/api/v1/clients", list: true, query: clientFilterQuery, render: renderClients},
	"clients show": {minArgs: 1, maxArgs: 1, render: renderClient,
		pathFor: func(args []string) string { return "/api/v1/clients/" + url.PathEscape(args[0]) }},
	"clients kick": {method: http.MethodDelete, minArgs: 1, maxArgs: 1, done: "kicked %s",
		pathFor: func(args []string) string { return "/api/v1/clients/" + url.PathEscape(args[0]) },
		query: func(_ []string, f *ctlFlags) url.Values {
			if f.session {
				return url.Values{"session": {"true"}}
			}
			return nil
		}},
	"sessions":           {path: "/api/v1/sessions", list: true, query: clientFilterQuery, render: renderSessions},
	"subscriptions":      {path: "/api/v1/subscriptions", list: true, maxArgs: 1, render: renderSubscriptions, query: clientQuery},
	"subscriptions list": {path: "/api/v1/subscriptions", list: true, maxArgs: 1, render: renderSubscriptions, query: clientQuery},
	"retained list": {path: "/api/v1/retained", list: true, maxArgs: 1, render: renderRetainedList,
		query: func(args []string, _ *ctlFlags) url.Values {
			if len(args) == 0 {
				return nil
			}
			return url.Values{"filter": {args[0]}}
		}},
	"retained show": {minArgs: 1, maxArgs: 1, render: renderRetained,
		pathFor: func(args []string) string { return "/api/v1/retained/" + url.PathEscape(args[0]) }},
	"retained delete": {method: http.MethodDelete, minArgs: 1, maxArgs: 1, done: "deleted the retained message of %s",
		pathFor: func(args []string) string { return "/api/v1/retained/" + url.PathEscape(args[0]) }},
	"metrics": {path: "/api/v1/metrics", render: renderMetrics},
	"publish": {method: http.MethodPost, path: "/api/v1/publish", minArgs: 2, maxArgs: 2, render: renderPublished,
		body: func(args []string, f *ctlFlags) any {
			return server.PublishRequest{Topic: args[0], Payload: args[1], QoS: byte(f.qos), Retain: f.retain}
		}},
	"trace start": {method: http.MethodPost, path: "/api/v1/traces", minArgs: 1, maxArgs: 1, render: renderTraceStarted,
		body: func(args []string, f *ctlFlags) any {
			return server.TraceSpec{Name: args[0], ClientID: f.traceClient, Topic: f.traceTopic, Duration: f.traceDuration,
				MaxBytes: f.traceMaxBytes}
		}},
	"trace list": {path: "/api/v1/traces", render: renderTraces},
	"trace stop": {method: http.MethodPut, minArgs: 1, maxArgs: 1, done: "stopped trace %s",
		pathFor: func(args []string) string { return "/api/v1/traces/" + url.PathEscape(args[0]) + "/stop" }},
	"trace log": {minArgs: 1, maxArgs: 1, raw: true,
		pathFor: func(args []string) string { return "/api/v1/traces/" + url.PathEscape(args[0]) + "/log" }},
	"trace delete": {method: http.MethodDelete, minArgs: 1, maxArgs: 1, done: "deleted trace %s",
		pathFor: func(args []string) string { return "/api/v1/traces/" + url.PathEscape(args[0]) }},
	"ds info": {fetch: fetchDSInfo, render: renderDSInfo},
	"ds set_replicas": {method: http.MethodPut, minArgs: 2, maxArgs: 255, render: renderPlan,
		pathFor: func(args []string) string { return "/api/v1/ds/storages/" + url.PathEscape(args[0]) + "/replicas" },
		body:    func(args []string, _ *ctlFlags) any { return args[1:] }},
	"ds join":  {method: http.MethodPut, minArgs: 2, maxArgs: 2, render: renderPlan, pathFor: replicaPath},
	"ds leave": {method: http.MethodDelete, minArgs: 2, maxArgs: 2, render: renderPlan, pathFor: replicaPath},
	"ds forget": {method: http.MethodDelete, minArgs: 1, maxArgs: 1, render: renderPlan,
		pathFor: func(args []string) string { return "/api/v1/ds/sites/" + url.PathEscape(args[0]) }},
	"api-key create": {method: http.MethodPost, path: "/api/v1/api_keys", minArgs: 1, maxArgs: 1, render: renderKeyCreated,
		body: func(args []string, f *ctlFlags) any {
			return server.APIKeyRequest{Name: args[0], ExpiresIn: f.expiresIn}
		}},
	"api-key list": {path: "/api/v1/api_keys", render: renderKeys},
	"api-key delete": {method: http.MethodDelete, minArgs: 1, maxArgs: 1, done: "deleted API key %s",
		pathFor: func(args []string) string { return "/api/v1/api_keys/" + url.PathEscape(args[0]) }},
}

// replicaPath is the route of one site of a storage's replicas: ds join and ds leave DB SITE.
func replicaPath(args []string) string {
	return "/api/v1/ds/storages/" + url.PathEscape(args[0]) + "/replicas/" + url.PathEscape(args[1])
}

func init() {
	ctlCommands["kick"] = ctlCommands["clients kick"]
}

// clientFilterQuery turns the clients list flags into the API's filters.
func clientFilterQuery(_ []string, f *ctlFlags) url.Values {
	q := url.Values{}
	switch {
	case f.connected:
		q.Set("connected", "true")
	case f.disconnected:
		q.Set("connected", "false")
	}
	switch {
	case f.durable:
		q.Set("durable", "true")
	case f.memory:
		q.Set("durable", "false")
	}
	if f.prefix != "" {
		q.Set("client_id_prefix", f.prefix)
	}
	if f.username != "" {
		q.Set("username", f.username)
	}
	return q
}

func clientQuery(args []string, _ *ctlFlags) url.Values {
	if len(args) == 0 {
		return nil
	}
	return url.Values{"client": {args[0]}}
}

// lookupCommand finds the command named by the first one or two positional arguments.
func lookupCommand(pos []string) (string, ctlCommand, []string, bool) {
	if len(pos) >= 2 {
		if cmd, ok := ctlCommands[pos[0]+" "+pos[1]]; ok {
			return pos[0] + " " + pos[1], cmd, pos[2:], true
		}
	}
	cmd, ok := ctlCommands[pos[0]]
	return pos[0], cmd, pos[1:], ok
}

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ctl", ctlUsage, stderr)
	api := fs.String("api", defaultAPI, "base URL (or host:port) of the broker's REST API")
	key := fs.String("key", "", "API key or api.token to authenticate with (default $MQTTDS_API_KEY, then DIR/api.token)")
	dataDir := fs.String("data-dir", "", "the broker's data directory, where it writes its local token (default $MQTTDS_DATA_DIR or ./data)")
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on the API after this long")
	var f ctlFlags
	fs.StringVar(&f.expiresIn, "expires-in", "", "api-key create: the key stops working after this long (Go duration, 720h)")
	fs.BoolVar(&f.session, "session", false, "clients kick: delete the client's session too")
	fs.BoolVar(&f.connected, "connected", false, "clients list, sessions: connected clients only")
	fs.BoolVar(&f.disconnected, "disconnected", false, "clients list, sessions: disconnected sessions only")
	fs.BoolVar(&f.durable, "durable", false, "clients list, sessions: durable sessions only")
	fs.BoolVar(&f.memory, "in-memory", false, "clients list, sessions: in-memory sessions only")
	fs.StringVar(&f.prefix, "prefix", "", "clients list, sessions: client ids starting with this")
	fs.StringVar(&f.username, "username", "", "clients list, sessions: connected clients with this username")
	fs.IntVar(&f.qos, "qos", 0, "publish: QoS 0, 1 or 2")
	fs.BoolVar(&f.retain, "retain", false, "publish: retain the message (an empty payload deletes the retained one)")
	fs.StringVar(&f.traceClient, "client", "", "trace start: trace this client id")
	fs.StringVar(&f.traceTopic, "topic", "", "trace start: trace PUBLISH packets whose topic matches this filter")
	fs.StringVar(&f.traceDuration, "duration", "", "trace start: stop after this long (default 10m, at most 24h)")
	fs.Int64Var(&f.traceMaxBytes, "max-bytes", 0, "trace start: stop when the log reaches this size (default 10 MiB)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("ctl needs a command: %s", strings.Join(ctlCommandNames(), ", "))
	}
	name, cmd, rest, ok := lookupCommand(pos)
	switch {
	case !ok:
		return usagef("unknown ctl command %q (%s)", strings.Join(pos, " "), strings.Join(ctlCommandNames(), ", "))
	case len(rest) < cmd.minArgs:
		return usagef("%s needs %d argument(s)", name, cmd.minArgs)
	case len(rest) > cmd.maxArgs:
		return usagef("%s takes at most %d argument(s), got %q", name, cmd.maxArgs, strings.Join(rest, " "))
	case *timeout <= 0:
		return usagef("--timeout must be positive")
	case f.connected && f.disconnected:
		return usagef("--connected and --disconnected exclude each other")
	case f.durable && f.memory:
		return usagef("--durable and --in-memory exclude each other")
	}
	base, err := apiURL(*api)
	if err != nil {
		return usageError{err.Error()}
	}
	cl := &apiClient{http: &http.Client{Timeout: *timeout}, base: base, token: credential(base, *key, *dataDir)}
	var q url.Values
	if cmd.query != nil {
		q = cmd.query(rest, &f)
	}
	method, path := http.MethodGet, cmd.path
	if cmd.method != "" {
		method = cmd.method
	}
	if cmd.pathFor != nil {
		path = cmd.pathFor(rest)
	}
	var reqBody any
	if cmd.body != nil {
		reqBody = cmd.body(rest, &f)
	}
	var body []byte
	if cmd.fetch != nil {
		body, err = cmd.fetch(ctx, cl)
	} else if cmd.list {
		body, err = cl.list(ctx, path, q)
	} else {
		body, err = cl.do(ctx, method, path, q, reqBody)
	}
	if err != nil {
		return err
	}
	if cmd.done != "" {
		_, err = fmt.Fprintf(stdout, cmd.done+"\n", strings.Join(rest, " "))
		return err
	}
	if *asJSON || cmd.raw {
		_, err = stdout.Write(body)
		return err
	}
	return cmd.render(stdout, body)
}

// credential picks the token ctl sends: --key, then $MQTTDS_API_KEY, then the broker's local
// token from the data directory, which is sent only to a loopback API (it would be wrong, and a
// leak, to send one host's token to another). "" sends none.
func credential(base *url.URL, key, dataDir string) string {
	if key != "" {
		return key
	}
	if k := os.Getenv("MQTTDS_API_KEY"); k != "" {
		return k
	}
	if !isLoopbackHost(base.Hostname()) {
		return ""
	}
	if dataDir == "" {
		dataDir = os.Getenv("MQTTDS_DATA_DIR")
	}
	if dataDir == "" {
		dataDir = "./data"
	}
	b, err := os.ReadFile(filepath.Join(dataDir, server.LocalTokenFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
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

// apiClient calls one broker's API with one credential.
type apiClient struct {
	http  *http.Client
	base  *url.URL
	token string
}

// do sends method to path (with query q and, if not nil, reqBody as JSON) and returns the body
// of a successful (2xx) answer.
func (c *apiClient) do(ctx context.Context, method, path string, q url.Values, reqBody any) ([]byte, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = q.Encode()
	body, _, err := c.get(ctx, method, u.String(), reqBody)
	return body, err
}

// list fetches every page of a listing (following X-Next-Cursor, which keeps the path and
// query, so an API behind a path prefix works too) and returns one JSON array: the answer
// itself when there was one page.
func (c *apiClient) list(ctx context.Context, path string, q url.Values) ([]byte, error) {
	q = maps.Clone(q)
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", "1000")
	var all []json.RawMessage
	for pages := 1; ; pages++ {
		body, hdr, err := c.get(ctx, http.MethodGet, c.base.JoinPath(path).String()+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		cursor := hdr.Get("X-Next-Cursor")
		if pages == 1 && cursor == "" {
			return body, nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("the API answered something that is not a list: %v", err)
		}
		all = append(all, items...)
		if cursor == "" {
			b, err := json.MarshalIndent(all, "", "  ")
			return append(b, '\n'), err
		}
		q.Set("after", cursor)
	}
}

// get is do for a full URL; it also returns the answer's headers.
func (c *apiClient) get(ctx context.Context, method, u string, reqBody any) ([]byte, http.Header, error) {
	var rd io.Reader
	if reqBody != nil {
		b, err := json.Marshal(reqBody)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the broker's API at %s (is the broker running, with api.bind set?): %w", c.base, err)
	}
	defer resp.Body.Close()
	// The answers are small; a limit keeps a wrong --api from filling memory.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := snippet(body)
		var ae server.APIError
		if json.Unmarshal(body, &ae) == nil && ae.Code != "" {
			msg = ae.Code + ": " + ae.Message
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (pass --key or set MQTTDS_API_KEY; on the broker's host ctl reads the broker's local token from --data-dir)"
		}
		return nil, nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, msg)
	}
	return body, resp.Header, nil
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

func renderKeys(w io.Writer, body []byte) error {
	var keys []apikey.Info
	if err := decode(body, &keys, "a list of API keys"); err != nil {
		return err
	}
	if len(keys) == 0 {
		_, err := fmt.Fprintln(w, "no API keys")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tCREATED\tEXPIRES")
	for _, k := range keys {
		expires := "never"
		if !k.Expires.IsZero() {
			expires = k.Expires.UTC().Format(time.RFC3339)
			if k.Expired(time.Now()) {
				expires += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, k.ID, k.Created.UTC().Format(time.RFC3339), expires)
	}
	return tw.Flush()
}

func renderKeyCreated(w io.Writer, body []byte) error {
	var k server.APIKeyCreated
	if err := decode(body, &k, "a created API key"); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "created API key %s (id %s)\n%s\nThis is the only time the token is shown: keep it in a secret store.\n"+
		"Use it with --key, MQTTDS_API_KEY, or the header Authorization: Bearer <token>.\n", k.Name, k.ID, k.Token)
	return err
}
