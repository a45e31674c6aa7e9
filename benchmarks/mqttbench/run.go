package mqttbench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/internal/fdtable"
	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/client"
)

// Run executes one bench run as cfg describes (cfg must have passed Validate): a progress line every
// second on out unless cfg.Quiet, then the summary and the RESULT line. It returns when the run is
// over: by its limits, at cfg.Duration (plus cfg.Drain for receivers to catch up), or when ctx ends.
// The error is for runs that could not be carried out at all (for example no client could connect);
// losses and failures are figures in the Result, not errors.
func Run(ctx context.Context, cfg *Config, out io.Writer) (*Result, error) {
	// Room for every connection in the descriptor table first: otherwise each doubling of the
	// table stalls the dial that needs it (internal/fdtable), and the connect latency measured
	// is the load generator's own.
	if _, err := fdtable.Reserve(cfg.Clients + cfg.Subscribers + 256); err != nil {
		return nil, fmt.Errorf("bench: reserving file descriptors: %w", err)
	}
	r, err := newRunner(cfg, out)
	if err != nil {
		return nil, err
	}
	var res *Result
	switch cfg.Mode {
	case ModeConn:
		res, err = r.runConn(ctx)
	case ModeSub:
		res, err = r.runSub(ctx)
	case ModePub:
		res, err = r.runPub(ctx)
	case ModeDurable:
		res, err = r.runDurable(ctx)
	default:
		return nil, fmt.Errorf("bench: unknown mode %q", cfg.Mode)
	}
	if res != nil {
		res.WriteSummary(out)
		if jerr := res.WriteJSON(out); jerr != nil && err == nil {
			err = jerr
		}
	}
	return res, err
}

// runner holds what every mode shares: the configuration, the counters and the clock.
type runner struct {
	cfg     *Config
	out     io.Writer
	runID   uint32
	tls     *tls.Config
	start   time.Time
	payload []byte // template copied by each publisher
	st      stats
}

// stats are the live counters of a run; the progress line reads them every second.
type stats struct {
	connected, connFailed, dropped  atomic.Int64
	sent, acked, pubFailed          atomic.Int64
	received, duplicates, reordered atomic.Int64
	foreign                         atomic.Int64
	connLat, ackLat, e2eLat         *latency
	outstanding                     atomic.Int64 // QoS 1/2 publishes not yet acknowledged
	distinct                        atomic.Int64 // receipts that were not duplicates
	lastRecv                        atomic.Int64 // unix ns of the latest receipt
	firstConnErr                    atomic.Pointer[error]
}

func newRunner(cfg *Config, out io.Writer) (*runner, error) {
	r := &runner{cfg: cfg, out: out, start: time.Now()}
	var b [4]byte
	_, _ = rand.Read(b[:])
	r.runID = binary.BigEndian.Uint32(b[:])
	r.st.connLat, r.st.ackLat, r.st.e2eLat = newLatency(), newLatency(), newLatency()
	r.payload = newPayloadTemplate(cfg.Size, cfg.payloadFile)
	if cfg.TLS {
		r.tls = &tls.Config{ServerName: cfg.Host, InsecureSkipVerify: cfg.Insecure}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("bench: --cafile: %w", err)
			}
			r.tls.RootCAs = x509.NewCertPool()
			if !r.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("bench: --cafile %s holds no PEM certificate", cfg.CAFile)
			}
		}
	}
	return r, nil
}

// clientOptions are the connection options of one client of this run.
func (r *runner) clientOptions(id string, onMessage func(*client.Message)) *client.Options {
	c := r.cfg
	o := &client.Options{
		Addr:       c.Addr(),
		TLS:        r.tls,
		WebSocket:  c.WebSocket,
		WSPath:     c.WSPath,
		Version:    mqtt.Version(c.Version),
		ClientID:   id,
		Username:   c.Username,
		CleanStart: c.CleanStart,
		KeepAlive:  c.KeepAlive,
		Inflight:   c.Inflight,
		OnMessage:  onMessage,
	}
	if c.Password != "" {
		o.Password = []byte(c.Password)
	}
	if c.Version == 5 {
		o.SessionExpiry = c.Expiry
	}
	return o
}

// connect dials one client, counting the outcome and the time to CONNACK.
func (r *runner) connect(ctx context.Context, o *client.Options) (*client.Client, error) {
	t0 := time.Now()
	cl, err := client.Dial(ctx, o)
	if err != nil {
		if ctx.Err() == nil { // a dial cut short by the end of the run is not the broker's failure
			r.st.connFailed.Add(1)
			r.st.firstConnErr.CompareAndSwap(nil, &err)
		}
		return nil, err
	}
	r.st.connLat.record(time.Since(t0))
	r.st.connected.Add(1)
	go func() {
		<-cl.Done()
		if !errors.Is(cl.Err(), client.ErrClosed) {
			r.st.dropped.Add(1)
		}
	}()
	return cl, nil
}

// connectAll connects n clients, paced to cfg.ConnRate, using a few dialers at once so that a slow
// handshake does not hold up the schedule. opts builds the options of client k (0-based). It
// returns the clients in order, with nil for those that failed or were never dialed, and the first
// error seen.
func (r *runner) connectAll(ctx context.Context, n int, opts func(k int) *client.Options) ([]*client.Client, error) {
	clients := make([]*client.Client, n)
	var firstErr atomic.Pointer[error] // not atomic.Value: errors of different types would panic it
	next := make(chan int)
	done := make(chan struct{})
	workers := min(n, 32)
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for k := range next {
				cl, err := r.connect(ctx, opts(k))
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				clients[k] = cl
			}
		}()
	}
	pace := newPacer(r.cfg.ConnRate)
feed:
	for k := 0; k < n; k++ {
		if !pace.wait(ctx, k) {
			break feed
		}
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	for w := 0; w < workers; w++ {
		<-done
	}
	var err error
	if p := firstErr.Load(); p != nil {
		err = *p
	}
	return clients, err
}

// closeAll disconnects every client politely, then waits for their goroutines to end.
func closeAll(clients []*client.Client) {
	for _, cl := range clients {
		if cl != nil {
			_ = cl.Disconnect()
		}
	}
}

// pacer spaces events at a fixed rate from its creation: event k is due at start + k/rate. Late
// events are not skipped: the schedule catches up, so the average rate is the asked one.
type pacer struct {
	start    time.Time
	interval time.Duration
	timer    *time.Timer
}

func newPacer(rate float64) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
	}
	return p
}

func newIntervalPacer(d time.Duration) *pacer { return &pacer{start: time.Now(), interval: d} }

// wait blocks until event k is due. It returns false if ctx ended first.
func (p *pacer) wait(ctx context.Context, k int) bool {
	if p.interval <= 0 {
		return ctx.Err() == nil
	}
	d := time.Until(p.start.Add(time.Duration(k) * p.interval))
	if d <= 0 {
		return ctx.Err() == nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func firstError(p *atomic.Pointer[error]) string {
	if e := p.Load(); e != nil {
		return (*e).Error()
	}
	return ""
}

// baseResult fills the fields every mode reports.
func (r *runner) baseResult(stop string) *Result {
	c := r.cfg
	v := "5"
	if c.Version == 4 {
		v = "3.1.1"
	}
	res := &Result{
		Mode: c.Mode, Label: c.Label, Version: v, QoS: int(c.QoS), Clients: c.Clients,
		Elapsed: time.Since(r.start).Seconds(), StopCause: stop,
		Connected: r.st.connected.Load(), ConnectFailed: r.st.connFailed.Load(), Disconnected: r.st.dropped.Load(),
		ConnectLatency: r.st.connLat.summary(),
		ConnectError:   firstError(&r.st.firstConnErr),
		Sent:           r.st.sent.Load(), Acked: r.st.acked.Load(), PubFailed: r.st.pubFailed.Load(),
		AckLatency: r.st.ackLat.summary(),
		Received:   r.st.received.Load(), Duplicates: r.st.duplicates.Load(), Reordered: r.st.reordered.Load(),
		Foreign: r.st.foreign.Load(), Latency: r.st.e2eLat.summary(),
	}
	if c.Mode == ModePub || c.Mode == ModeDurable {
		res.Size = len(r.payload)
	}
	return res
}
