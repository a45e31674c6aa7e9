// Package transport carries raft messages between the sites of a cluster over TCP.
//
// Each site listens on one address; for each peer it keeps one outbound connection, fed by a
// bounded queue and written by one goroutine, so Send never blocks the raft loop. A message
// that cannot be queued or written is dropped and the peer is reported unreachable: raft
// retransmits what matters (heartbeats, appends after a rejection), and a dropped message is
// indistinguishable from a lost packet, which raft is built to survive.
//
// A frame is
//
//	length:4 crc32c:4 | from:8 group:4 raftpb.Message
//
// (big endian; length and checksum cover what follows them). A frame that fails its checksum
// or does not decode closes the connection: the stream cannot be trusted after it.
//
// With ListenTLS every connection, raft frames and HTTP alike, runs over mutual TLS: a site
// presents its certificate when it accepts and when it dials, and takes a peer only if the
// peer's certificate chains to the cluster's CA. The CA is what makes a machine a member, so
// the transport trusts any certificate it signed.
//
// Tests inject faults with SetFilter: a filter that returns false drops the message, which
// models partitions and lossy links without touching the network; it is asked about the
// HTTP requests of Client too (group HTTPGroup), so a partition cuts forwarded writes,
// membership calls and snapshot streams as well. SetMessageFilter drops messages by kind.
package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mqttds/mqttds/replication/site"
)

// MaxFrame bounds a frame's size; a peer announcing a larger frame is disconnected.
const MaxFrame = 64 << 20

const queueLen = 4096

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Handler receives the messages addressed to this site, from one goroutine per connection.
type Handler interface {
	// HandleMessage is called for every message received for group.
	HandleMessage(group uint32, m *pb.Message)
	// Unreachable is called when a message to peer could not be delivered.
	Unreachable(peer site.ID, group uint32)
}

// Filter decides whether a message may travel; false drops it.
type Filter func(from, to site.ID, group uint32) bool

// HTTPGroup is the group a Filter is asked about for an HTTP request between sites.
const HTTPGroup = ^uint32(0)

// ErrFiltered is the error of an HTTP request a Filter dropped.
var ErrFiltered = errors.New("transport: request dropped by the fault filter")

// MessageFilter decides, from the message itself, whether a message this site sends may
// travel; false drops it. It models a link that loses some kinds of messages (a follower
// that gets heartbeats but no entries lags its leader while it stays in touch).
type MessageFilter func(to site.ID, group uint32, m *pb.Message) bool

// Stats counts a transport's traffic.
type Stats struct {
	Sent, Received, Dropped, Filtered uint64
}

// Transport is a site's endpoint. Its methods are safe for concurrent use.
type Transport struct {
	self    site.ID
	ln      net.Listener
	handler Handler
	log     *slog.Logger
	tls     *tls.Config // nil: plain TCP

	mu     sync.Mutex
	peers  map[site.ID]*peer
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	filter    atomic.Pointer[Filter]
	msgFilter atomic.Pointer[MessageFilter]

	httpLn  *connListener // set by ServeHTTP
	httpSrv *http.Server

	sent, received, dropped, filtered atomic.Uint64

	heard sync.Map // site.ID -> *atomic.Int64: unix nanoseconds of the last frame from it
}

// LastHeard returns when the last frame from id arrived (zero if none has).
func (t *Transport) LastHeard(id site.ID) time.Time {
	v, ok := t.heard.Load(id)
	if !ok {
		return time.Time{}
	}
	return time.Unix(0, v.(*atomic.Int64).Load())
}

func (t *Transport) noteHeard(id site.ID) {
	v, ok := t.heard.Load(id)
	if !ok {
		v, _ = t.heard.LoadOrStore(id, new(atomic.Int64))
	}
	v.(*atomic.Int64).Store(time.Now().UnixNano())
}

// Listen starts a transport for self on addr ("127.0.0.1:0" picks a port; see Addr).
func Listen(addr string, self site.ID, h Handler, log *slog.Logger) (*Transport, error) {
	return ListenTLS(addr, self, h, log, nil)
}

// ListenTLS is Listen over mutual TLS with cfg (see LoadTLS); a nil cfg is plain TCP. cfg
// must hold this site's certificate, the CA pool in both RootCAs and ClientCAs, and
// ClientAuth tls.RequireAndVerifyClientCert.
func ListenTLS(addr string, self site.ID, h Handler, log *slog.Logger, cfg *tls.Config) (*Transport, error) {
	if cfg != nil && (len(cfg.Certificates) == 0 || cfg.RootCAs == nil || cfg.ClientCAs == nil ||
		cfg.ClientAuth != tls.RequireAndVerifyClientCert) {
		return nil, errors.New("transport: a TLS configuration needs a certificate, the CA in RootCAs and ClientCAs, and verified client certificates")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	t := &Transport{self: self, ln: ln, handler: h, log: log.With("site", self.String()), tls: cfg,
		peers: map[site.ID]*peer{}, conns: map[net.Conn]struct{}{}}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the address the transport listens on.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// dialTimeout bounds a connection's set-up towards a peer, TLS handshake included.
const dialTimeout = time.Second

// dial connects to a peer's transport at addr, over TLS when the transport uses it.
func (t *Transport) dial(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || t.tls == nil {
		return c, err
	}
	cfg := t.tls.Clone()
	if cfg.ServerName == "" {
		// The peer's certificate must name the host it is reached at.
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			c.Close()
			return nil, err
		}
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("transport: TLS with %s: %w", addr, err)
	}
	return tc, nil
}

// SetFilter installs f (nil removes it).
func (t *Transport) SetFilter(f Filter) {
	if f == nil {
		t.filter.Store(nil)
		return
	}
	t.filter.Store(&f)
}

// SetMessageFilter installs f for the messages this site sends (nil removes it).
func (t *Transport) SetMessageFilter(f MessageFilter) {
	if f == nil {
		t.msgFilter.Store(nil)
		return
	}
	t.msgFilter.Store(&f)
}

// Stats returns the traffic counters.
func (t *Transport) Stats() Stats {
	return Stats{Sent: t.sent.Load(), Received: t.received.Load(), Dropped: t.dropped.Load(), Filtered: t.filtered.Load()}
}

// PeerAddr returns the address of peer, "" if unknown.
func (t *Transport) PeerAddr(id site.ID) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		return p.addr
	}
	return ""
}

// AddPeer sets the address of peer (replacing an earlier one).
func (t *Transport) AddPeer(id site.ID, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if p, ok := t.peers[id]; ok {
		if p.addr == addr {
			return
		}
		p.stop()
	}
	p := &peer{t: t, id: id, addr: addr, queue: make(chan frame, queueLen), done: make(chan struct{})}
	t.peers[id] = p
	t.wg.Add(1)
	go p.run()
}

type frame struct {
	group uint32
	msg   *pb.Message
}

// Send queues m for group to its recipient (m.To). It never blocks.
func (t *Transport) Send(group uint32, m *pb.Message) {
	to := site.ID(m.GetTo())
	if f := t.filter.Load(); f != nil && !(*f)(t.self, to, group) {
		t.filtered.Add(1)
		return
	}
	if f := t.msgFilter.Load(); f != nil && !(*f)(to, group, m) {
		t.filtered.Add(1)
		return
	}
	t.mu.Lock()
	p := t.peers[to]
	t.mu.Unlock()
	if p == nil {
		t.dropped.Add(1)
		t.handler.Unreachable(to, group)
		return
	}
	select {
	case p.queue <- frame{group, m}:
	default:
		t.dropped.Add(1)
		t.handler.Unreachable(to, group)
	}
}

// Close stops listening, closes every connection and waits for the transport's goroutines.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	err := t.ln.Close()
	for _, p := range t.peers {
		p.stop()
	}
	for c := range t.conns {
		c.Close()
	}
	t.closeHTTP()
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *Transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		if t.tls != nil {
			// The handshake runs on the first read, in serve, under its deadline.
			c = tls.Server(c, t.tls)
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(c)
	}
}

// serve reads frames from an inbound connection until it fails.
func (t *Transport) serve(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		if c == nil {
			return
		}
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := r.Peek(1)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		if t.tls != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			t.log.Warn("transport: refusing connection", "remote", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	if isHTTP(first[0]) {
		t.mu.Lock()
		delete(t.conns, c) // the HTTP server owns it now
		t.mu.Unlock()
		t.handOver(&bufferedConn{Conn: c, r: r})
		c = nil
		return
	}
	for {
		from, group, m, err := ReadFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.log.Warn("transport: dropping connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		if f := t.filter.Load(); f != nil && !(*f)(from, t.self, group) {
			t.filtered.Add(1)
			continue
		}
		t.received.Add(1)
		t.noteHeard(from)
		t.handler.HandleMessage(group, m)
	}
}

// AppendFrame appends the frame of a message from site from for group to buf.
func AppendFrame(buf []byte, from site.ID, group uint32, m *pb.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, 8)...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(from))
	buf = binary.BigEndian.AppendUint32(buf, group)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return buf[:start], err
	}
	body := buf[start+8:]
	if len(body) > MaxFrame {
		return buf[:start], fmt.Errorf("transport: message of %d bytes exceeds the frame limit", len(body))
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(body, crcTable))
	return buf, nil
}

// ReadFrame reads and checks one frame: the sending site, the group and the message.
func ReadFrame(r io.Reader) (site.ID, uint32, *pb.Message, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 12 || n > MaxFrame {
		return 0, 0, nil, fmt.Errorf("transport: frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, 0, nil, fmt.Errorf("transport: short frame: %w", err)
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return 0, 0, nil, errors.New("transport: frame checksum mismatch")
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(body[12:], m); err != nil {
		return 0, 0, nil, fmt.Errorf("transport: bad message: %w", err)
	}
	return site.ID(binary.BigEndian.Uint64(body)), binary.BigEndian.Uint32(body[8:]), m, nil
}

// peer is the outbound side towards one site.
type peer struct {
	t     *Transport
	id    site.ID
	addr  string
	queue chan frame
	done  chan struct{}
	once  sync.Once
}

func (p *peer) stop() { p.once.Do(func() { close(p.done) }) }

// run dials the peer and writes queued frames, batching what is queued into one write;
// on failure it reports the peer unreachable, drops the queued frames and redials after a
// pause.
func (p *peer) run() {
	defer p.t.wg.Done()
	var conn net.Conn
	var buf []byte
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var f frame
		select {
		case <-p.done:
			return
		case f = <-p.queue:
		}
		if conn == nil {
			c, err := p.t.dial(context.Background(), p.addr)
			if err != nil {
				p.fail(f)
				select {
				case <-p.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			conn = c
		}
		buf = buf[:0]
		var groups []uint32
		for {
			var err error
			if buf, err = AppendFrame(buf, p.t.self, f.group, f.msg); err != nil {
				p.t.log.Error("transport: cannot encode a message", "err", err)
			} else {
				groups = append(groups, f.group)
			}
			if len(buf) > 1<<20 {
				break
			}
			select {
			case f = <-p.queue:
				continue
			default:
			}
			break
		}
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(buf); err != nil {
			conn.Close()
			conn = nil
			p.t.dropped.Add(uint64(len(groups)))
			for _, g := range groups {
				p.t.handler.Unreachable(p.id, g)
			}
			continue
		}
		p.t.sent.Add(uint64(len(groups)))
	}
}

// fail drops f and everything queued behind it.
func (p *peer) fail(f frame) {
	p.t.dropped.Add(1)
	p.t.handler.Unreachable(p.id, f.group)
	for {
		select {
		case f = <-p.queue:
			p.t.dropped.Add(1)
			p.t.handler.Unreachable(p.id, f.group)
		default:
			return
		}
	}
}
