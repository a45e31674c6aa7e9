package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// Client is one MQTT connection. Create it with Dial; end it with Disconnect (polite) or Close.
type Client struct {
	opts Options
	conn net.Conn
	v    mqtt.Version

	// Set from the CONNACK before Dial returns; read-only afterwards.
	sessionPresent bool
	connack        mqtt.Packet
	keepAlive      time.Duration
	window         chan struct{} // one token per QoS 1/2 publish in flight

	w   writeQueue
	out outbound

	// inboundQoS2 holds the packet ids of QoS 2 messages delivered but not yet released by PUBREL.
	// Use: reader goroutine only.
	inboundQoS2 map[uint16]struct{}
	// connacked: the CONNACK arrived. Use: reader goroutine only.
	connacked bool
	// rx and msg hold the packet being handled and its Message view; reusing them keeps the receive
	// path free of allocations. Use: reader goroutine only.
	rx  mqtt.Packet
	msg Message

	connackCh  chan mqtt.Packet // the reader hands over the CONNACK
	lastSend   atomic.Int64     // unix ns of the latest write, for keep-alive
	pingSentAt atomic.Int64     // unix ns of the outstanding PINGREQ, 0 if none

	closeOnce sync.Once
	closing   atomic.Bool // Disconnect or Close was called
	err       atomic.Pointer[error]
	done      chan struct{} // closed when the reader has exited and every callback has run
	stopPing  chan struct{}
	writerWG  sync.WaitGroup
}

// Dial connects to the broker and completes the CONNECT/CONNACK exchange. A refused connection
// returns an error that wraps the CONNACK reason code (errors.Is(err, mqtt.NotAuthorized)).
func Dial(ctx context.Context, opts *Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	conn, err := dial(ctx, &o)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", o.Addr, err)
	}
	c := &Client{
		opts:        o,
		conn:        conn,
		v:           o.Version,
		inboundQoS2: map[uint16]struct{}{},
		connackCh:   make(chan mqtt.Packet, 1),
		done:        make(chan struct{}),
		stopPing:    make(chan struct{}),
	}
	c.w.init(o.WriteBuffer)
	c.out.init()
	c.lastSend.Store(time.Now().UnixNano())
	c.writerWG.Add(1)
	go c.writeLoop()
	go c.readLoop()
	if err := c.handshake(ctx); err != nil {
		c.shutdown(err)
		<-c.done
		return nil, err
	}
	go c.pingLoop()
	return c, nil
}

// handshake sends CONNECT and waits for the CONNACK.
func (c *Client) handshake(ctx context.Context) error {
	o := &c.opts
	p := &mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{
		ProtocolVersion: o.Version,
		CleanStart:      o.CleanStart,
		KeepAlive:       o.keepAliveSeconds(),
		ClientID:        o.ClientID,
		UsernameFlag:    o.Username != "",
		Username:        o.Username,
		PasswordFlag:    o.Password != nil,
		Password:        o.Password,
	}}
	if o.Version == mqtt.V5 {
		p.Properties.SessionExpiry = o.SessionExpiry
		if o.ReceiveMaximum != 65535 {
			p.Properties.ReceiveMaximum = o.ReceiveMaximum
		}
	}
	if err := c.send(ctx, p); err != nil {
		return err
	}
	var ack mqtt.Packet
	select {
	case ack = <-c.connackCh:
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return fmt.Errorf("client: waiting for CONNACK: %w", ctx.Err())
	}
	if ack.ReasonCode.IsError() {
		return fmt.Errorf("client: connection refused: %w", ack.ReasonCode)
	}
	c.connack = ack
	c.sessionPresent = ack.SessionPresent
	// The window: ours, lowered to the broker's Receive Maximum [MQTT-3.3.4-7].
	n := o.Inflight
	if rm := ack.Properties.ReceiveMaximum; rm > 0 && int(rm) < n {
		n = int(rm)
	}
	c.window = make(chan struct{}, n)
	c.keepAlive = o.KeepAlive
	if ka := ack.Properties.ServerKeepAlive; ack.Properties.Has(mqtt.PropServerKeepAlive) {
		c.keepAlive = time.Duration(ka) * time.Second
	}
	return nil
}

// SessionPresent reports the Session Present flag of the CONNACK.
func (c *Client) SessionPresent() bool { return c.sessionPresent }

// Connack returns the broker's CONNACK (its properties tell the broker's limits in MQTT 5). Its
// strings are copies, valid for the life of the client.
func (c *Client) Connack() *mqtt.Packet { return &c.connack }

// Done is closed when the connection has ended and no callback will run any more.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (ErrClosed after Disconnect or Close), or nil while it is up.
func (c *Client) Err() error {
	if e := c.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Disconnect sends DISCONNECT (normal disconnection: no Will, and an MQTT 5 session is kept for its
// expiry interval), waits up to a second for the queued packets to go out, closes the connection
// and waits for the reader. Publishes still unacknowledged get ErrClosed.
func (c *Client) Disconnect() error {
	if c.closing.Load() {
		<-c.done
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.send(ctx, &mqtt.Packet{Type: mqtt.TypeDisconnect})
	c.closing.Store(true)
	if err == nil {
		c.w.close()
		waitTimeout(&c.writerWG, time.Second)
	}
	c.shutdown(ErrClosed)
	<-c.done
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Close ends the connection at once, without DISCONNECT (the broker sends the Will, if any), and
// waits for the reader.
func (c *Client) Close() error {
	c.closing.Store(true)
	c.shutdown(ErrClosed)
	<-c.done
	return nil
}

// shutdown records the first cause and closes the socket; the reader notices and cleans up.
func (c *Client) shutdown(cause error) {
	c.closeOnce.Do(func() {
		if c.closing.Load() {
			cause = ErrClosed
		}
		c.err.Store(&cause)
		c.w.fail(cause)
		close(c.stopPing)
		_ = c.conn.Close()
	})
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
	}
}

// send encodes p into the write queue, blocking while the queue is full.
func (c *Client) send(ctx context.Context, p *mqtt.Packet) error {
	return c.w.enqueue(ctx, p, c.v, false)
}

// sendControl queues an acknowledgement or ping without waiting for room. The reader uses it: if
// the reader waited for the writer while the broker waited for the reader, neither would move.
func (c *Client) sendControl(p *mqtt.Packet) error {
	return c.w.enqueue(context.Background(), p, c.v, true)
}

// pingLoop sends PINGREQ when the client has been silent for most of the keep-alive interval, and
// ends the connection if a PINGREQ stays unanswered for a whole interval.
func (c *Client) pingLoop() {
	if c.keepAlive <= 0 {
		return
	}
	t := time.NewTicker(max(c.keepAlive/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stopPing:
			return
		case now := <-t.C:
			if sent := c.pingSentAt.Load(); sent != 0 {
				if now.Sub(time.Unix(0, sent)) > c.keepAlive {
					c.shutdown(ErrPingTimeout)
					return
				}
				continue
			}
			if now.Sub(time.Unix(0, c.lastSend.Load())) >= c.keepAlive*3/4 {
				c.pingSentAt.Store(now.UnixNano())
				_ = c.sendControl(&mqtt.Packet{Type: mqtt.TypePingreq})
			}
		}
	}
}

// readLoop decodes packets straight out of its buffer (no copy per packet) and dispatches them.
// When it ends, it fails whatever is still in flight and closes done.
func (c *Client) readLoop() {
	err := c.read()
	c.shutdown(err)
	c.writerWG.Wait()
	c.out.failAll(c.Err())
	close(c.done)
}

// Bounds of the reader's buffer while it adapts to the traffic (a larger packet gets a buffer of
// its own size).
const (
	readBufferMin = 2 << 10
	readBufferMax = 64 << 10
)

// maxPacket is the largest MQTT packet: a 4-byte Remaining Length of 268,435,455 plus the header.
const maxPacket = 1 + 4 + mqtt.MaxRemainingLength

func (c *Client) read() error {
	// The buffer starts small, so that thousands of idle connections cost little, and doubles (up
	// to readBufferMax) whenever a read fills it, so that a busy subscriber needs few system calls.
	buf := make([]byte, readBufferMin)
	start, end := 0, 0
	filled := false
	for {
		// Decode every whole packet in the buffer.
		for start < end {
			var n int
			var err error
			c.rx, n, err = mqtt.Decode(buf[start:end], c.v)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("client: from the broker: %w", err)
			}
			if err := c.handle(&c.rx); err != nil {
				return err
			}
			start += n
		}
		// Make room for the rest of a partial packet: slide it to the front, grow if needed.
		if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}
		if need := packetSize(buf[:end]); need > len(buf) {
			if need > maxPacket {
				return fmt.Errorf("client: broker sent a %d-byte packet", need)
			}
			grown := make([]byte, need)
			copy(grown, buf[:end])
			buf = grown
		} else if end == len(buf) || filled && len(buf) < readBufferMax {
			grown := make([]byte, 2*len(buf))
			copy(grown, buf[:end])
			buf = grown
		}
		n, err := c.conn.Read(buf[end:])
		filled = end+n == len(buf)
		end += n
		if err != nil {
			if c.closing.Load() || errors.Is(err, net.ErrClosed) && c.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("client: connection lost: %w", err)
		}
	}
}

// packetSize returns the full size of the packet whose start is b, or 0 if the header is incomplete.
func packetSize(b []byte) int {
	rl, mul := 0, 1
	for i := 1; i < len(b) && i <= 4; i++ {
		rl += int(b[i]&0x7F) * mul
		if b[i]&0x80 == 0 {
			return 1 + i + rl
		}
		mul <<= 7
	}
	return 0
}

// handle reacts to one packet from the broker, on the reader goroutine.
func (c *Client) handle(p *mqtt.Packet) error {
	switch p.Type {
	case mqtt.TypeConnack:
		if c.connacked {
			return errors.New("client: a second CONNACK")
		}
		c.connacked = true
		ack := *p
		ack.Properties.AssignedClientID = clone(ack.Properties.AssignedClientID)
		ack.Properties.ReasonString = clone(ack.Properties.ReasonString)
		ack.Properties.ResponseInfo = clone(ack.Properties.ResponseInfo)
		ack.Properties.ServerReference = clone(ack.Properties.ServerReference)
		ack.Properties.User = nil
		c.connackCh <- ack
		return nil
	case mqtt.TypePublish:
		return c.receive(p)
	case mqtt.TypePuback, mqtt.TypePubrec, mqtt.TypePubcomp:
		return c.acked(p)
	case mqtt.TypePubrel:
		delete(c.inboundQoS2, p.PacketID)
		return c.sendControl(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p.PacketID})
	case mqtt.TypeSuback, mqtt.TypeUnsuback:
		return c.settleRequest(p)
	case mqtt.TypePingresp:
		c.pingSentAt.Store(0)
		return nil
	case mqtt.TypeDisconnect:
		return fmt.Errorf("client: broker disconnected: %w", p.ReasonCode)
	default:
		return fmt.Errorf("client: unexpected %v from the broker", p.Type)
	}
}

// receive delivers an inbound PUBLISH and acknowledges it. A QoS 2 message is delivered once: a
// resend (same packet id, before PUBREL) is only acknowledged again.
func (c *Client) receive(p *mqtt.Packet) error {
	if p.QoS == mqtt.QoS2 {
		if _, seen := c.inboundQoS2[p.PacketID]; seen {
			return c.sendControl(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p.PacketID})
		}
		c.inboundQoS2[p.PacketID] = struct{}{}
	}
	if c.opts.OnMessage != nil {
		c.msg = Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Dup, Packet: p}
		c.opts.OnMessage(&c.msg)
	}
	switch p.QoS {
	case mqtt.QoS1:
		return c.sendControl(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	case mqtt.QoS2:
		return c.sendControl(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p.PacketID})
	}
	return nil
}

func clone(s string) string {
	if s == "" {
		return ""
	}
	return string([]byte(s))
}
