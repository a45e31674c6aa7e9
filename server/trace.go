package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// Traces (EMQX's trace): every packet in and out of the clients a trace matches, by client id or
// by the topic of a PUBLISH, written one line each to a log file bounded in size and time. The
// packet paths read one atomic pointer (Server.traces): nil while no trace runs, so a broker that
// traces nothing pays one load and a nil check per packet.

// TraceSpec says what a trace records and for how long.
type TraceSpec struct {
	// Name is unique among the traces: 1 to 64 letters, digits, '.', '_' or '-'.
	Name string `json:"name"`
	// ClientID traces every packet of that client; Topic every PUBLISH, in or out, whose topic
	// matches that filter. Exactly one is set.
	ClientID string `json:"client_id,omitempty"`
	Topic    string `json:"topic,omitempty"`
	// Duration bounds the trace's life: a Go duration, default 10m, at most 24h.
	Duration string `json:"duration,omitempty"`
	// MaxBytes bounds its log file; default 10 MiB, at most 1 GiB. The trace stops when the
	// next line would not fit.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// TraceView is a trace as the API shows it.
type TraceView struct {
	TraceSpec
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Status is running or stopped; Reason says why a trace stopped: stopped (by a request),
	// ended (its duration ran out), max_bytes (its file is full) or error.
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Packets int64  `json:"packets"`
	Bytes   int64  `json:"bytes"`
}

const (
	defaultTraceDuration = 10 * time.Minute
	maxTraceDuration     = 24 * time.Hour
	defaultTraceBytes    = 10 << 20
	maxTraceBytes        = 1 << 30
	// maxTraces bounds the traces kept, running or stopped.
	maxTraces = 32
)

// ErrTraceExists is returned by StartTrace for a name in use.
var ErrTraceExists = errors.New("server: a trace with that name exists")

var validTraceName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// trace is one trace and its file.
type trace struct {
	spec   TraceSpec
	filter topic.Filter
	start  time.Time
	end    time.Time
	path   string
	timer  *time.Timer

	mu      sync.Mutex
	f       *os.File // nil once stopped
	reason  string
	packets int64
	bytes   int64
}

// traceSet is the broker's traces; active (Server.traces) holds the running ones.
type traceSet struct {
	mu     sync.Mutex
	dir    string
	traces map[string]*trace
}

func (t *trace) view() TraceView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := TraceView{TraceSpec: t.spec, Start: t.start, End: t.end, Status: "running", Reason: t.reason,
		Packets: t.packets, Bytes: t.bytes}
	if t.f == nil {
		v.Status = "stopped"
	}
	return v
}

// matches reports whether the trace records a packet of clientID (whose PUBLISH topic, in or
// out, is topicName).
func (t *trace) matches(clientID string, p *mqtt.Packet, topicName string) bool {
	if t.spec.ClientID != "" {
		return clientID == t.spec.ClientID || (p.Type == mqtt.TypeConnect && p.Connect != nil && p.Connect.ClientID == t.spec.ClientID)
	}
	return p.Type == mqtt.TypePublish && topic.Match(t.spec.Topic, topicName)
}

// record appends one line; a line that does not fit stops the trace.
func (t *trace) record(s *Server, dir, clientID string, p *mqtt.Packet) {
	if clientID == "" && p.Type == mqtt.TypeConnect && p.Connect != nil {
		clientID = p.Connect.ClientID
	}
	var b strings.Builder
	b.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"))
	b.WriteString(" " + dir + " client=" + strconv.Quote(clientID) + " ")
	b.WriteString(p.String())
	if p.Type == mqtt.TypePublish {
		const show = 64
		pl := p.Payload
		if len(pl) > show {
			pl = pl[:show]
		}
		b.WriteString(" data=" + strconv.Quote(string(pl)))
		if len(p.Payload) > show {
			b.WriteString("…")
		}
	}
	b.WriteByte('\n')
	line := b.String()
	t.mu.Lock()
	if t.f == nil {
		t.mu.Unlock()
		return
	}
	if t.bytes+int64(len(line)) > t.spec.MaxBytes {
		t.mu.Unlock()
		s.stopTrace(t, "max_bytes")
		return
	}
	_, err := t.f.WriteString(line)
	t.bytes += int64(len(line))
	t.packets++
	t.mu.Unlock()
	if err != nil {
		s.log.Error("trace write failed", "trace", t.spec.Name, "err", err)
		s.stopTrace(t, "error")
	}
}

// tracePacket records p (inbound "in" or outbound "out") in every running trace that matches.
// topicName is the PUBLISH's topic (an outbound one may go out with an alias only).
func (s *Server) tracePacket(active []*trace, dir, clientID string, p *mqtt.Packet, topicName string) {
	for _, t := range active {
		if t.matches(clientID, p, topicName) {
			t.record(s, dir, clientID, p)
		}
	}
}

// traceIn is called for every decoded inbound packet.
func (c *conn) traceIn(p *mqtt.Packet) {
	if a := c.srv.traces.Load(); a != nil {
		c.srv.tracePacket(*a, "in", c.clientID, p, p.Topic)
	}
}

// traceOut is called for every packet written; topicName is the PUBLISH's topic.
func (c *conn) traceOut(p *mqtt.Packet, topicName string) {
	if a := c.srv.traces.Load(); a != nil {
		c.srv.tracePacket(*a, "out", c.clientID, p, topicName)
	}
}

func (s *Server) traceSet() *traceSet {
	s.traceOnce.Do(func() { s.traceState = &traceSet{dir: s.opts.API.TraceDir, traces: map[string]*trace{}} })
	return s.traceState
}

// StartTrace starts a trace.
func (s *Server) StartTrace(spec TraceSpec) (TraceView, error) {
	if !validTraceName.MatchString(spec.Name) {
		return TraceView{}, fmt.Errorf("name %q: 1 to 64 letters, digits, '.', '_' or '-'", spec.Name)
	}
	var f topic.Filter
	switch {
	case (spec.ClientID == "") == (spec.Topic == ""):
		return TraceView{}, errors.New("give exactly one of client_id and topic")
	case spec.Topic != "":
		var err error
		if f, err = s.topics.ParseFilter(spec.Topic); err != nil {
			return TraceView{}, fmt.Errorf("topic %q: %v", spec.Topic, err)
		}
		if f.Group != "" {
			return TraceView{}, fmt.Errorf("topic %q: a trace takes a plain filter, not a shared subscription", spec.Topic)
		}
	}
	d := defaultTraceDuration
	if spec.Duration != "" {
		var err error
		if d, err = time.ParseDuration(spec.Duration); err != nil || d <= 0 || d > maxTraceDuration {
			return TraceView{}, fmt.Errorf("duration %q: want a Go duration up to %s", spec.Duration, maxTraceDuration)
		}
	}
	spec.Duration = d.String()
	if spec.MaxBytes == 0 {
		spec.MaxBytes = defaultTraceBytes
	}
	if spec.MaxBytes < 0 || spec.MaxBytes > maxTraceBytes {
		return TraceView{}, fmt.Errorf("max_bytes %d: want 1 to %d", spec.MaxBytes, maxTraceBytes)
	}
	ts := s.traceSet()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, dup := ts.traces[spec.Name]; dup {
		return TraceView{}, ErrTraceExists
	}
	if len(ts.traces) >= maxTraces {
		return TraceView{}, fmt.Errorf("%d traces are kept already: delete one", maxTraces)
	}
	if ts.dir == "" {
		dir, err := os.MkdirTemp("", "mqttds-trace-")
		if err != nil {
			return TraceView{}, err
		}
		ts.dir = dir
	}
	if err := os.MkdirAll(ts.dir, 0o700); err != nil {
		return TraceView{}, err
	}
	path := filepath.Join(ts.dir, spec.Name+".log")
	file, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return TraceView{}, err
	}
	now := time.Now().UTC()
	t := &trace{spec: spec, filter: f, start: now, end: now.Add(d), path: path, f: file}
	ts.traces[spec.Name] = t
	t.timer = time.AfterFunc(d, func() { s.stopTrace(t, "ended") })
	s.publishTracesLocked(ts)
	s.log.Info("trace started", "trace", spec.Name, "client", spec.ClientID, "topic", spec.Topic, "duration", d)
	return t.view(), nil
}

// publishTracesLocked makes the running traces the ones the packet paths see.
func (s *Server) publishTracesLocked(ts *traceSet) {
	var active []*trace
	for _, t := range ts.traces {
		t.mu.Lock()
		if t.f != nil {
			active = append(active, t)
		}
		t.mu.Unlock()
	}
	if len(active) == 0 {
		s.traces.Store(nil)
		return
	}
	s.traces.Store(&active)
}

// stopTrace stops t (if running) for reason, keeping its file.
func (s *Server) stopTrace(t *trace, reason string) {
	ts := s.traceSet()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t.mu.Lock()
	f := t.f
	t.f = nil
	if f != nil {
		t.reason = reason
	}
	t.mu.Unlock()
	if f == nil {
		return
	}
	t.timer.Stop()
	if err := f.Close(); err != nil {
		s.log.Error("closing a trace failed", "trace", t.spec.Name, "err", err)
	}
	s.publishTracesLocked(ts)
	s.log.Info("trace stopped", "trace", t.spec.Name, "reason", reason)
}

func (s *Server) lookupTrace(name string) *trace {
	ts := s.traceSet()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.traces[name]
}

// Traces lists the traces, running and stopped, by name.
func (s *Server) Traces() []TraceView {
	ts := s.traceSet()
	ts.mu.Lock()
	all := make([]*trace, 0, len(ts.traces))
	for _, t := range ts.traces {
		all = append(all, t)
	}
	ts.mu.Unlock()
	out := make([]TraceView, 0, len(all))
	for _, t := range all {
		out = append(out, t.view())
	}
	slices.SortFunc(out, func(a, b TraceView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// StopTrace stops the named trace, keeping its log; ok is false if there is none.
func (s *Server) StopTrace(name string) (TraceView, bool) {
	t := s.lookupTrace(name)
	if t == nil {
		return TraceView{}, false
	}
	s.stopTrace(t, "stopped")
	return t.view(), true
}

// DeleteTrace stops the named trace and deletes its log.
func (s *Server) DeleteTrace(name string) bool {
	t := s.lookupTrace(name)
	if t == nil {
		return false
	}
	s.stopTrace(t, "stopped")
	ts := s.traceSet()
	ts.mu.Lock()
	delete(ts.traces, name)
	ts.mu.Unlock()
	if err := os.Remove(t.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("removing a trace log failed", "trace", name, "err", err)
	}
	return true
}

// stopTraces stops every trace (Close).
func (s *Server) stopTraces() {
	for _, v := range s.Traces() {
		if t := s.lookupTrace(v.Name); t != nil {
			s.stopTrace(t, "stopped")
		}
	}
}

// traceLog returns the path of the named trace's log, or "".
func (s *Server) traceLog(name string) string {
	if t := s.lookupTrace(name); t != nil {
		return t.path
	}
	return ""
}

func (s *Server) apiTraces(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Traces()) }

func (s *Server) apiTraceStart(w http.ResponseWriter, r *http.Request) {
	var spec TraceSpec
	if !decodeBody(w, r, &spec) {
		return
	}
	v, err := s.StartTrace(spec)
	switch {
	case errors.Is(err, ErrTraceExists):
		apiFail(w, http.StatusConflict, codeConflict, "a trace named %q exists", spec.Name)
	case err != nil:
		apiFail(w, http.StatusBadRequest, codeBadRequest, "%v", err)
	default:
		writeJSONStatus(w, http.StatusCreated, v)
	}
}

func (s *Server) apiTrace(w http.ResponseWriter, r *http.Request) {
	t := s.lookupTrace(r.PathValue("name"))
	if t == nil {
		apiFail(w, http.StatusNotFound, codeTraceNotFound, "no trace %q", r.PathValue("name"))
		return
	}
	writeJSON(w, t.view())
}

func (s *Server) apiTraceStop(w http.ResponseWriter, r *http.Request) {
	v, ok := s.StopTrace(r.PathValue("name"))
	if !ok {
		apiFail(w, http.StatusNotFound, codeTraceNotFound, "no trace %q", r.PathValue("name"))
		return
	}
	writeJSON(w, v)
}

func (s *Server) apiTraceDelete(w http.ResponseWriter, r *http.Request) {
	if !s.DeleteTrace(r.PathValue("name")) {
		apiFail(w, http.StatusNotFound, codeTraceNotFound, "no trace %q", r.PathValue("name"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiTraceLog answers the trace's log file as it is now (a running trace keeps growing).
func (s *Server) apiTraceLog(w http.ResponseWriter, r *http.Request) {
	path := s.traceLog(r.PathValue("name"))
	if path == "" {
		apiFail(w, http.StatusNotFound, codeTraceNotFound, "no trace %q", r.PathValue("name"))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		apiFail(w, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.Copy(w, f)
}
