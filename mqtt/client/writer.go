package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
)

// writeQueue is the bytes waiting for the writer goroutine. Producers encode straight into it; the
// writer swaps it for an empty buffer and writes the lot in one call. Two buffers alternate, so in
// steady state nothing is allocated.
type writeQueue struct {
	limit int // producers wait while the queue holds this many bytes
	mu    struct {
		sync.Mutex
		buf []byte
		// err is set once, when the connection ends; the queue then refuses packets.
		err error
		// closed: the last packet (DISCONNECT) is queued; the writer exits once it is written.
		closed bool
	}
	data *sync.Cond // the writer waits for bytes
	room *sync.Cond // producers wait for space
}

func (q *writeQueue) init(limit int) {
	q.limit = limit
	q.data = sync.NewCond(&q.mu)
	q.room = sync.NewCond(&q.mu)
}

// enqueue encodes p at version v. Unless force is set it first waits, as long as ctx allows, for
// the queue to fall below its limit.
func (q *writeQueue) enqueue(ctx context.Context, p *mqtt.Packet, v mqtt.Version, force bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !force && len(q.mu.buf) >= q.limit && q.mu.err == nil {
		// A cond wait does not watch ctx; wake it when ctx ends.
		stop := context.AfterFunc(ctx, func() {
			q.mu.Lock()
			q.room.Broadcast()
			q.mu.Unlock()
		})
		defer stop()
		for len(q.mu.buf) >= q.limit && q.mu.err == nil && ctx.Err() == nil {
			q.room.Wait()
		}
		if err := ctx.Err(); err != nil && q.mu.err == nil {
			return err
		}
	}
	if q.mu.err != nil {
		return q.mu.err
	}
	if q.mu.closed {
		return ErrClosed
	}
	was := len(q.mu.buf)
	buf, err := mqtt.Encode(q.mu.buf, p, v)
	if err != nil {
		return fmt.Errorf("client: encoding %v: %w", p.Type, err)
	}
	q.mu.buf = buf
	if was == 0 {
		q.data.Signal()
	}
	return nil
}

// close lets the writer exit once the queue is empty.
func (q *writeQueue) close() {
	q.mu.Lock()
	q.mu.closed = true
	q.data.Signal()
	q.mu.Unlock()
}

// fail refuses every later packet and wakes everyone waiting.
func (q *writeQueue) fail(err error) {
	q.mu.Lock()
	if q.mu.err == nil {
		q.mu.err = err
	}
	q.data.Broadcast()
	q.room.Broadcast()
	q.mu.Unlock()
}

// writeLoop is the writer goroutine.
func (c *Client) writeLoop() {
	defer c.writerWG.Done()
	q := &c.w
	var out []byte
	for {
		q.mu.Lock()
		for len(q.mu.buf) == 0 && q.mu.err == nil && !q.mu.closed {
			q.data.Wait()
		}
		if q.mu.err != nil || len(q.mu.buf) == 0 {
			q.mu.Unlock()
			return
		}
		out, q.mu.buf = q.mu.buf, out[:0]
		q.room.Broadcast()
		q.mu.Unlock()
		if _, err := c.conn.Write(out); err != nil {
			c.shutdown(fmt.Errorf("client: write: %w", err))
			return
		}
		c.lastSend.Store(time.Now().UnixNano())
	}
}
