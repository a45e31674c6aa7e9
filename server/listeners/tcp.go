package listeners

import (
	"log/slog"
	"net"
)

// TCP is a plain TCP listener.
type TCP struct {
	acceptLoop
	addr string
}

// NewTCP returns a TCP listener named id that will bind addr ("127.0.0.1:1883";
// port 0 picks a free port).
func NewTCP(id, addr string) *TCP {
	return &TCP{acceptLoop: newAcceptLoop(id), addr: addr}
}

// ID implements Listener.
func (l *TCP) ID() string { return l.id }

// Protocol implements Listener.
func (l *TCP) Protocol() string { return "tcp" }

// Address implements Listener.
func (l *TCP) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Init implements Listener.
func (l *TCP) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.ln, l.log = ln, log
	return nil
}

// Serve implements Listener.
func (l *TCP) Serve(establish EstablishFunc) { l.serve(establish) }

// Close implements Listener.
func (l *TCP) Close() error { return l.close() }
