package listeners

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// HandshakeTimeout bounds a TLS handshake, so a client that opens a socket and
// says nothing holds it for at most this long.
const HandshakeTimeout = 10 * time.Second

// TLS is a TCP listener that speaks TLS. The handshake runs in the
// connection's own goroutine, and completes before the broker sees the
// connection, so the client certificate (when verified) is available to the
// CONNECT handling through TLSConn.
type TLS struct {
	acceptLoop
	addr string
	cfg  *tls.Config
}

// NewTLS returns a TLS listener named id that will bind addr with cfg.
func NewTLS(id, addr string, cfg *tls.Config) *TLS {
	l := &TLS{acceptLoop: newAcceptLoop(id), addr: addr, cfg: cfg}
	l.prepare = l.handshake
	return l
}

// ID implements Listener.
func (l *TLS) ID() string { return l.id }

// Protocol implements Listener.
func (l *TLS) Protocol() string { return "tls" }

// Address implements Listener.
func (l *TLS) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Init implements Listener.
func (l *TLS) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.ln, l.log = ln, log
	return nil
}

func (l *TLS) handshake(c net.Conn) (net.Conn, error) {
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// Serve implements Listener.
func (l *TLS) Serve(establish EstablishFunc) { l.serve(establish) }

// Close implements Listener.
func (l *TLS) Close() error { return l.close() }
