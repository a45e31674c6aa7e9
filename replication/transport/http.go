package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mqttds/mqttds/replication/site"
)

// Requests between sites (a write forwarded to a shard's leader) are HTTP on the same port as
// the raft frames: a connection whose first byte is an ASCII letter is HTTP (a frame starts
// with its length, whose first byte is below 0x05 since frames are at most MaxFrame), so a
// site has one address to configure and firewall.

func isHTTP(first byte) bool { return first >= 'A' && first <= 'Z' }

// bufferedConn is a connection whose first bytes were read into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener is a net.Listener fed with the connections the transport found to be HTTP.
type connListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// ServeHTTP serves h to the peers' HTTP requests (Client) until the transport closes.
func (t *Transport) ServeHTTP(h http.Handler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.httpLn != nil {
		return
	}
	l := &connListener{addr: t.ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	t.httpLn = l
	t.httpSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.httpSrv.Serve(l)
	}()
}

// handOver passes an HTTP connection to the server, or closes it if none is serving.
func (t *Transport) handOver(c net.Conn) {
	t.mu.Lock()
	l := t.httpLn
	t.mu.Unlock()
	if l == nil {
		c.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// Client returns an HTTP client whose URLs name sites: http://<site id>/path goes to that
// site's transport address (over TLS when the transport uses it; the URL's scheme stays http
// since the connection below is already secured).
func (t *Transport) Client() *http.Client {
	c := t.httpClient(0, func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		id, err := site.Parse(host)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		p := t.peers[id]
		t.mu.Unlock()
		if p == nil {
			if id == t.self {
				return t.dial(ctx, t.Addr())
			}
			return nil, fmt.Errorf("transport: no address for site %v", id)
		}
		return t.dial(ctx, p.addr)
	})
	c.Transport = filtered{t, c.Transport}
	return c
}

// filtered asks the transport's Filter about each request, as about a raft message of group
// HTTPGroup: pooled connections would outlive a filter checked when dialing.
type filtered struct {
	t    *Transport
	next http.RoundTripper
}

func (f filtered) RoundTrip(r *http.Request) (*http.Response, error) {
	if fl := f.t.filter.Load(); fl != nil {
		if id, err := site.Parse(r.URL.Hostname()); err == nil && !(*fl)(f.t.self, id, HTTPGroup) {
			f.t.filtered.Add(1)
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, ErrFiltered
		}
	}
	return f.next.RoundTrip(r)
}

// AddrClient returns an HTTP client for transports known only by address
// (http://host:port/path), as when asking seeds for their site ids; timeout bounds a request.
func (t *Transport) AddrClient(timeout time.Duration) *http.Client {
	return t.httpClient(timeout, func(ctx context.Context, _, addr string) (net.Conn, error) {
		return t.dial(ctx, addr)
	})
}

func (t *Transport) httpClient(timeout time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
	}}
}

// closeHTTP stops the HTTP server; t.mu is held.
func (t *Transport) closeHTTP() {
	if t.httpLn == nil {
		return
	}
	t.httpLn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := t.httpSrv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.log.Warn("transport: stopping HTTP", "err", err)
	}
	t.httpSrv.Close()
}
