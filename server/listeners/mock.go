package listeners

import (
	"errors"
	"log/slog"
	"net"
	"sync"
)

// Mock is an in-process listener for tests: Dial returns the client end of a
// net.Pipe whose server end is handed to the broker as if it was accepted.
type Mock struct {
	id    string
	conns chan net.Conn

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// ErrMockClosed is returned by Mock.Dial after Close.
var ErrMockClosed = errors.New("listeners: mock listener closed")

// NewMock returns a mock listener named id.
func NewMock(id string) *Mock {
	return &Mock{id: id, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// ID implements Listener.
func (l *Mock) ID() string { return l.id }

// Protocol implements Listener.
func (l *Mock) Protocol() string { return "mock" }

// Address implements Listener.
func (l *Mock) Address() string { return "pipe" }

// Init implements Listener.
func (l *Mock) Init(*slog.Logger) error { return nil }

// Serve implements Listener.
func (l *Mock) Serve(establish EstablishFunc) {
	for {
		select {
		case <-l.closed:
			return
		case c := <-l.conns:
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				establish(l.id, c)
			}()
		}
	}
}

// Dial hands a new connection to the broker and returns the client end.
// It blocks until Serve accepts it.
func (l *Mock) Dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		_ = client.Close()
		_ = server.Close()
		return nil, ErrMockClosed
	}
}

// Close implements Listener.
func (l *Mock) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}
