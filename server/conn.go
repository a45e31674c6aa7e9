package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// conn is one network connection: a reader goroutine that decodes packets and
// runs the protocol, and a writer that drains a bounded outbound queue.
//
// The writer goroutine exists only while there is something to write, and
// both directions borrow their bufio buffers from pools only while bytes are
// moving, so an idle connection holds no buffers and one goroutine (the
// reader, parked in a 1-byte read).
type conn struct {
	srv      *Server
	nc       net.Conn
	listener string
	remote   net.Addr

	// Set by the CONNECT handling before the session is attached; read-only
	// afterwards.
	version          mqtt.Version
	clientID         string
	username         string
	keepAlive        time.Duration // 0: no keep alive
	clientReceiveMax uint16        // the client's Receive Maximum, 65535 if absent
	clientMaxPacket  uint32        // the client's Maximum Packet Size, 0 if absent
	clientAliasMax   uint16        // the client's Topic Alias Maximum [MQTT-3.1.2-26] v5
	sess             Session
	connected        bool // reader goroutine's view; others use ready
	// ready is set once CONNECT succeeded and the fields above are final;
	// other goroutines read them only after seeing it.
	ready atomic.Bool

	// Reader goroutine only.
	first [1]byte // the first byte of a packet, read without a buffer
	// firstRead: first holds the next packet's first byte.
	firstRead bool
	br        *bufio.Reader     // borrowed while a burst of packets is being read
	aliasIn   map[uint16]string // inbound topic aliases [MQTT-3.3.2-12] v5
	limiter   rateLimiter

	out struct {
		sync.Mutex
		// q holds packets for the writer. Invariant: a writer goroutine is
		// running iff running is set.
		q       []outItem
		running bool
		closed  bool
		// held keeps the writer from starting while CONNECT is being
		// accepted: the CONNACK is queued first but goes out only once the
		// connection is ready, so a client holding its CONNACK is listed
		// and kickable. Invariant: no writer starts while held.
		held bool
		// connack is set once a CONNACK is queued: what is pushed from then
		// on goes out after it (disconnect).
		connack bool
		// n mirrors len(q) for flow control, which reads it under the
		// session's lock instead of this one.
		n atomic.Int32
		// idle, made by waitWriter, is closed when the writer stops or
		// the connection closes (stoppedLocked).
		idle chan struct{}
	}
	// Writer goroutine only.
	aliasOut  map[string]uint16 // outbound topic aliases
	cause     atomic.Int32      // DisconnectCause, set once (-1 while unset)
	closeOnce sync.Once
	// goodbye is set when a failing CONNACK was queued.
	goodbye atomic.Bool
	// finished is closed when finish is done with the session.
	finished chan struct{}
}

// outItem is one packet for the writer: a PUBLISH built from a delivery at
// write time (so the expiry and topic alias are computed when it goes out),
// a small acknowledgement, or a prepared packet.
type outItem struct {
	kind   mqtt.Type
	pid    uint16
	reason mqtt.ReasonCode
	d      delivery     // PUBLISH
	dup    bool         // PUBLISH: a retransmission [MQTT-3.3.1-1] v5
	pkt    *mqtt.Packet // CONNACK, SUBACK, UNSUBACK, DISCONNECT
	// closeAfter closes the connection once this packet is written (a
	// CONNACK or DISCONNECT with a failure code [MQTT-4.13.2-1] v5). An
	// item of kind 0 writes nothing: it only closes, after what was queued
	// before it.
	closeAfter bool
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// writeTimeout bounds one write to a client: a peer that stops reading is
// disconnected instead of holding its writer forever.
const writeTimeout = 30 * time.Second

func newConn(s *Server, listener string, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, listener: listener, remote: nc.RemoteAddr(), finished: make(chan struct{})}
	c.cause.Store(-1)
	c.limiter = s.newRateLimiter()
	return c
}

// info describes the client to hooks.
func (c *conn) info() ClientInfo {
	return ClientInfo{ClientID: c.clientID, Username: c.username, Listener: c.listener,
		RemoteAddr: c.remote, Version: c.version}
}

// errPacketTooLarge is returned by readPacket for a packet over our maximum.
var errPacketTooLarge = &mqtt.Error{Code: mqtt.PacketTooLarge, Rule: "MQTT-3.2.2-15",
	Version: mqtt.V5, Detail: "packet larger than the server's Maximum Packet Size"}

// readPacket reads and decodes one packet. The size limit is checked from
// the fixed header, before the body is allocated, so a hostile remaining
// length costs nothing. The body gets one allocation that the packet's
// strings and payload then share.
func (c *conn) readPacket(deadline time.Duration) (mqtt.Packet, error) {
	if err := c.awaitPacket(deadline); err != nil {
		return mqtt.Packet{}, err
	}
	return c.readRest()
}

// awaitPacket waits for the first byte of the next packet. When nothing is
// buffered it reads that byte straight from the socket, so that an idle
// connection holds no read buffer; and it is a small function called from
// a small one, so that the goroutine parked here uses little stack (which
// lets the runtime shrink it after a burst of deep packet handling).
func (c *conn) awaitPacket(deadline time.Duration) error {
	if deadline > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(deadline))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	if c.br != nil {
		return nil
	}
	if _, err := io.ReadFull(c.nc, c.first[:]); err != nil {
		return err
	}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	c.firstRead = true
	return nil
}

// readRest reads the packet whose first byte awaitPacket saw.
func (c *conn) readRest() (mqtt.Packet, error) {
	// 1. The first byte: already read, or buffered.
	b0 := c.first[0]
	if c.firstRead {
		c.firstRead = false
	} else {
		var err error
		if b0, err = c.br.ReadByte(); err != nil {
			return mqtt.Packet{}, err
		}
	}
	// 2. The remaining length (variable byte integer, at most 4 bytes).
	var hdr [5]byte
	hdr[0] = b0
	n, rl := 1, 0
	for shift := 0; ; shift += 7 {
		b, err := c.br.ReadByte()
		if err != nil {
			return mqtt.Packet{}, err
		}
		hdr[n] = b
		n++
		rl |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if n == 5 {
			return mqtt.Packet{}, &mqtt.Error{Code: mqtt.MalformedPacket, Rule: "MQTT5 §1.5.5",
				Version: c.version, Detail: "remaining length longer than 4 bytes"}
		}
	}
	// 3. The size check, then the body.
	if uint64(n+rl) > uint64(c.srv.opts.MaxPacketSize) {
		return mqtt.Packet{}, errPacketTooLarge
	}
	buf, err := readBody(c.br, hdr[:n], rl)
	if err != nil {
		return mqtt.Packet{}, err
	}
	if c.br.Buffered() == 0 {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
	c.srv.stats.packetsReceived.Add(1)
	c.srv.stats.bytesReceived.Add(int64(len(buf)))
	c.limiter.wait(len(buf))
	p, _, err := mqtt.Decode(buf, c.version)
	if err == nil {
		c.traceIn(&p)
	}
	return p, err
}

// eagerBody is the largest body readBody allocates in one piece before any of
// it has arrived.
const eagerBody = 64 << 10

// readBody returns the fixed header followed by the next rl bytes of r. A
// large body is read in slices and the buffer grows only as bytes arrive, so
// a client that announces a packet just under the size limit and then sends
// nothing costs at most eagerBody, not the announced size.
func readBody(r io.Reader, hdr []byte, rl int) ([]byte, error) {
	total := len(hdr) + rl
	if total <= eagerBody {
		buf := make([]byte, total)
		copy(buf, hdr)
		_, err := io.ReadFull(r, buf[len(hdr):])
		return buf, err
	}
	buf := make([]byte, len(hdr), eagerBody)
	copy(buf, hdr)
	for len(buf) < total {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow geometrically
		}
		end := min(cap(buf), total)
		n, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// push queues an item for the writer and starts the writer if none runs. A
// QoS 0 PUBLISH that finds the queue full is dropped (reported false);
// anything else over the hard limit means the client stopped reading, and
// the connection is closed.
func (c *conn) push(it outItem) bool {
	c.out.Lock()
	if c.out.closed {
		c.out.Unlock()
		return false
	}
	limit := c.srv.opts.OutboundQueue
	if len(c.out.q) >= limit {
		if it.kind == mqtt.TypePublish && it.d.qos == mqtt.QoS0 {
			c.out.Unlock()
			return false
		}
		if len(c.out.q) >= 4*limit {
			c.out.Unlock()
			c.srv.log.Warn("client not reading, disconnecting", "client", c.clientID)
			c.close(CauseQuota)
			return false
		}
	}
	c.out.q = append(c.out.q, it)
	c.out.n.Store(int32(len(c.out.q)))
	c.out.connack = c.out.connack || it.kind == mqtt.TypeConnack
	start := !c.out.running && !c.out.held
	c.out.running = c.out.running || start
	c.out.Unlock()
	if start {
		go c.writeLoop()
	}
	return true
}

// holdWrites queues what is pushed from now on without writing it, until
// releaseWrites.
func (c *conn) holdWrites() {
	c.out.Lock()
	c.out.held = true
	c.out.Unlock()
}

// releaseWrites starts the writer on what was queued while held.
func (c *conn) releaseWrites() {
	c.out.Lock()
	c.out.held = false
	start := !c.out.running && !c.out.closed && len(c.out.q) > 0
	c.out.running = c.out.running || start
	c.out.Unlock()
	if start {
		go c.writeLoop()
	}
}

// sendPublish queues a PUBLISH for a delivery.
func (c *conn) sendPublish(d delivery, dup bool) {
	if !c.push(outItem{kind: mqtt.TypePublish, d: d, dup: dup}) && d.qos == mqtt.QoS0 {
		c.srv.dropped(c.clientID, d.msg, DropSlowConsumer)
	}
}

// sendPublishes queues PUBLISHes for ds in order, under one lock and with
// one growth of the queue: a durable window hands over tens of deliveries at
// once. Each is treated as sendPublish would.
func (c *conn) sendPublishes(ds []delivery) {
	c.out.Lock()
	c.out.q = slices.Grow(c.out.q, len(ds))
	var dropped []delivery // QoS 0 ones that found the queue full
	limit := c.srv.opts.OutboundQueue
	for i, d := range ds {
		if c.out.closed {
			dropped = append(dropped, qos0(ds[i:])...)
			break
		}
		if len(c.out.q) >= limit {
			if d.qos == mqtt.QoS0 {
				dropped = append(dropped, d)
				continue
			}
			if len(c.out.q) >= 4*limit {
				c.out.Unlock()
				c.srv.log.Warn("client not reading, disconnecting", "client", c.clientID)
				c.close(CauseQuota)
				c.dropAll(append(dropped, qos0(ds[i:])...))
				return
			}
		}
		c.out.q = append(c.out.q, outItem{kind: mqtt.TypePublish, d: d})
	}
	c.out.n.Store(int32(len(c.out.q)))
	start := !c.out.running && !c.out.held && !c.out.closed && len(c.out.q) > 0
	c.out.running = c.out.running || start
	c.out.Unlock()
	if start {
		go c.writeLoop()
	}
	c.dropAll(dropped)
}

// qos0 returns the QoS 0 deliveries of ds.
func qos0(ds []delivery) []delivery {
	var out []delivery
	for _, d := range ds {
		if d.qos == mqtt.QoS0 {
			out = append(out, d)
		}
	}
	return out
}

// dropAll reports QoS 0 deliveries dropped for a slow consumer.
func (c *conn) dropAll(ds []delivery) {
	for _, d := range ds {
		c.srv.dropped(c.clientID, d.msg, DropSlowConsumer)
	}
}

// sendAck queues PUBACK, PUBREC, PUBREL, PUBCOMP or PINGRESP.
func (c *conn) sendAck(t mqtt.Type, pid uint16, code mqtt.ReasonCode) {
	c.push(outItem{kind: t, pid: pid, reason: code})
}

// sendPacket queues a prepared packet.
func (c *conn) sendPacket(p *mqtt.Packet, closeAfter bool) {
	c.push(outItem{kind: p.Type, pkt: p, closeAfter: closeAfter})
}

// writeLoop drains the queue, encoding into a pooled buffer, and flushes
// whenever the queue runs dry. It exits when the queue is empty.
func (c *conn) writeLoop() {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	defer func() {
		bw.Reset(nil)
		writerPool.Put(bw)
	}()
	var batch []outItem
	for {
		c.out.Lock()
		batch, c.out.q = c.out.q, batch[:0]
		c.out.n.Store(0)
		if len(batch) == 0 {
			c.out.Unlock()
			if err := c.flush(bw); err != nil {
				c.writeFailed()
				return
			}
			c.out.Lock()
			if len(c.out.q) == 0 {
				c.out.running = false
				c.out.q = nil // an idle connection keeps no queue array
				c.stoppedLocked()
				c.out.Unlock()
				return
			}
			c.out.Unlock()
			continue
		}
		c.out.Unlock()
		if c.ready.Load() {
			c.sess.flowProgress() // the queue is empty: publishers may go on
		}
		for i := range batch {
			closeAfter := batch[i].closeAfter
			if err := c.write(bw, &batch[i]); err != nil {
				c.writeFailed()
				return
			}
			batch[i] = outItem{}
			if closeAfter {
				_ = c.flush(bw)
				c.writeFailed()
				return
			}
		}
	}
}

func (c *conn) flush(bw *bufio.Writer) error {
	if bw.Buffered() == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return bw.Flush()
}

// writeFailed ends the writer: the socket is closed so the reader stops too,
// and later pushes are refused.
func (c *conn) writeFailed() {
	c.out.Lock()
	c.out.closed = true
	c.out.running = false
	c.out.q = nil
	c.out.n.Store(0)
	c.stoppedLocked()
	c.out.Unlock()
	_ = c.nc.Close()
}

// write encodes one item into bw.
func (c *conn) write(bw *bufio.Writer, it *outItem) error {
	var p mqtt.Packet
	switch {
	case it.kind == 0 && it.pkt == nil:
		return nil // a close after what went before
	case it.pkt != nil:
		p = *it.pkt
	case it.kind == mqtt.TypePublish:
		if !c.buildPublish(it, &p) {
			return nil
		}
	default:
		p = mqtt.Packet{Type: it.kind, PacketID: it.pid, ReasonCode: it.reason}
	}
	// Encode straight into the writer's free space; Encode only allocates
	// when the packet does not fit there.
	buf, err := mqtt.Encode(bw.AvailableBuffer(), &p, c.version)
	if err != nil {
		c.srv.log.Error("encoding failed", "client", c.clientID, "packet", p.String(), "err", err)
		return nil
	}
	if c.clientMaxPacket > 0 && len(buf) > int(c.clientMaxPacket) {
		// Never send more than the client accepts [MQTT-3.1.2-24] v5; the
		// message is dropped as if delivered [MQTT-3.1.2-25] v5.
		if it.kind == mqtt.TypePublish {
			if p.Topic != "" && p.Properties.TopicAlias != 0 {
				// This packet would have set up the alias: the client never
				// sees it, so forget it, or the next PUBLISH on the topic
				// would carry an alias the client does not know.
				delete(c.aliasOut, p.Topic)
			}
			c.srv.dropped(c.clientID, it.d.msg, DropTooLarge)
			if it.d.qos > mqtt.QoS0 {
				go c.sess.dropInflight(it.d.pid)
			}
		}
		return nil
	}
	if bw.Available() < len(buf) {
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	c.srv.stats.packetsSent.Add(1)
	c.srv.stats.bytesSent.Add(int64(len(buf)))
	if it.kind == mqtt.TypePublish && it.d.msg != nil {
		c.traceOut(&p, it.d.msg.Topic)
	} else {
		c.traceOut(&p, p.Topic)
	}
	if it.kind == mqtt.TypePublish {
		c.srv.stats.messagesSent.Add(1)
		c.srv.hooks.messageDelivered(c.clientID, it.d.msg)
	}
	return nil
}

// buildPublish fills p from a delivery. It reports false if the message
// expired before delivery began [MQTT-3.3.2-5] v5; a retransmission or a
// QoS 2 already under way is sent regardless [MQTT-4.3.3-7] v5.
func (c *conn) buildPublish(it *outItem, p *mqtt.Packet) bool {
	d := &it.d
	m := d.msg
	now := time.Now()
	if !it.dup && d.qos == mqtt.QoS0 && m.expired(now) {
		c.srv.dropped(c.clientID, m, DropExpired)
		return false
	}
	*p = mqtt.Packet{Type: mqtt.TypePublish, QoS: d.qos, Retain: d.retain, Dup: it.dup && d.qos > 0,
		PacketID: d.pid, Topic: m.Topic, Payload: m.Payload}
	if c.version == mqtt.V5 {
		pr := &p.Properties
		pr.PayloadFormat = m.PayloadFormat
		pr.MessageExpiry = m.remainingExpiry(now) // [MQTT-3.3.2-6] v5
		pr.ContentType = m.ContentType
		pr.ResponseTopic = m.ResponseTopic
		pr.CorrelationData = m.CorrelationData
		pr.User = m.User
		pr.SubscriptionIDs = d.subIDs
		c.applyTopicAlias(p)
	}
	return true
}

// applyTopicAlias replaces the topic by an alias the client already knows,
// or sets up a new one while the client's maximum allows
// [MQTT-3.1.2-26], [MQTT-3.3.2-11] v5. No aliases when the client announced
// none [MQTT-3.1.2-27] v5.
func (c *conn) applyTopicAlias(p *mqtt.Packet) {
	if c.clientAliasMax == 0 {
		return
	}
	if a, ok := c.aliasOut[p.Topic]; ok {
		p.Properties.TopicAlias = a
		p.Topic = ""
		return
	}
	if len(c.aliasOut) >= int(c.clientAliasMax) {
		return
	}
	if c.aliasOut == nil {
		c.aliasOut = make(map[string]uint16)
	}
	a := uint16(len(c.aliasOut) + 1) // never 0 [MQTT-3.3.2-8] v5
	c.aliasOut[p.Topic] = a
	p.Properties.TopicAlias = a
}

// stoppedLocked wakes a waitWriter: the writer stopped or the connection
// closed. c.out is locked.
func (c *conn) stoppedLocked() {
	if c.out.idle != nil {
		close(c.out.idle)
		c.out.idle = nil
	}
}

// close ends the connection without a goodbye: the socket is closed and
// the reader stops. The first cause given is the one counted.
func (c *conn) close(cause DisconnectCause) {
	c.setCause(cause)
	c.closeOnce.Do(func() {
		c.out.Lock()
		c.out.closed = true
		c.stoppedLocked()
		c.out.Unlock()
		_ = c.nc.Close()
	})
}

// disconnect ends a v5 connection with DISCONNECT and a reason code, then
// closes it; a 3.x connection is just closed [MQTT-4.13.1-1] v5.
//
// A connection whose CONNECT is still being accepted, its CONNACK queued
// (the session attached) but not yet sent, gets that CONNACK first
// [MQTT-3.2.0-1] v5: the DISCONNECT, or for 3.x the close, is queued behind
// it. So a take-over that reaches a client while it connects reads as a
// CONNACK, then DISCONNECT 0x8E [MQTT-3.1.4-3] v5, not as a connection
// closed without an answer. Before its CONNACK is queued the connection is
// just closed.
func (c *conn) disconnect(cause DisconnectCause, code mqtt.ReasonCode) {
	c.setCause(cause)
	ready := c.ready.Load()
	if !ready && !c.connackQueued() {
		c.close(cause)
		return
	}
	it := outItem{kind: mqtt.TypeDisconnect, reason: code, closeAfter: true}
	if c.version != mqtt.V5 {
		if ready {
			c.close(cause)
			return
		}
		it = outItem{closeAfter: true} // the CONNACK, then the close
	}
	if !c.push(it) {
		c.close(cause)
		return
	}
	// Should the writer be stuck behind a client that does not read, do not
	// wait for it longer than a moment.
	time.AfterFunc(2*time.Second, func() { c.close(cause) })
}

// connackQueued reports whether a CONNACK was queued (or sent). Once it
// has, the CONNECT's fields (the version) are set.
func (c *conn) connackQueued() bool {
	c.out.Lock()
	defer c.out.Unlock()
	return c.out.connack
}

func (c *conn) setCause(cause DisconnectCause) {
	c.cause.CompareAndSwap(-1, int32(cause))
}

// causeOf classifies the error that ended the read loop.
func causeOf(err error) DisconnectCause {
	var me *mqtt.Error
	switch {
	case err == nil:
		return CauseNormal
	case errors.Is(err, os.ErrDeadlineExceeded):
		return CauseKeepAlive
	case errors.As(err, &me) || errors.As(err, new(mqtt.ReasonCode)):
		switch mqtt.Reason(err) {
		case mqtt.MalformedPacket:
			return CauseMalformed
		case mqtt.PacketTooLarge:
			return CauseTooLarge
		case mqtt.ReceiveMaximumExceeded, mqtt.QuotaExceeded:
			return CauseQuota
		}
		return CauseProtocol
	}
	return CauseNetwork
}
