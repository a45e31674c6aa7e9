package listeners

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
)

// Listener is one network transport the broker accepts MQTT connections on.
//
// The life cycle is Init (bind), Serve (accept until closed), Close. Init and
// Close are called once each; Serve blocks, so the broker runs it in its own
// goroutine. A Listener owns only the accept loop: the broker owns every
// connection it was handed.
type Listener interface {
	// ID names the listener in logs, metrics and the REST API ("tcp", "ws", ...).
	ID() string
	// Protocol is the transport: "tcp", "tls", "ws" or "wss".
	Protocol() string
	// Address is the bound address. After Init it is the real one, so a
	// listener configured on port 0 reports the port the kernel chose.
	Address() string
	// Init binds the socket. An error here means the broker must not start.
	Init(log *slog.Logger) error
	// Serve accepts connections and calls establish for each one in a new
	// goroutine. Serve returns after Close.
	Serve(establish EstablishFunc)
	// Close stops accepting. It does not close connections already handed to
	// establish; the broker does that with its own reasons (DISCONNECT 0x8B).
	Close() error
}

// EstablishFunc takes over one accepted connection. It is called in its own
// goroutine and owns the connection from then on; it may return before the
// connection ends (the broker moves an established connection to a fresh
// goroutine, so that the one that ran the handshake can end).
type EstablishFunc func(listenerID string, c net.Conn)

// TLSConn is implemented by connections that arrived over TLS (directly or
// under WebSocket), so the broker can read the verified client certificate.
type TLSConn interface {
	ConnectionState() tls.ConnectionState
}

// acceptLoop is the accept loop shared by the stream transports (tcp, tls).
// Transient accept errors (EMFILE, ECONNABORTED) are retried after a short
// pause instead of ending the loop, since one exhausted moment must not stop
// the listener for good.
type acceptLoop struct {
	id  string
	log *slog.Logger
	ln  net.Listener

	// prepare runs in the connection's goroutine before establish; the TLS
	// listener does its handshake there so a slow handshake never blocks
	// Accept. A non-nil error closes the connection.
	prepare func(net.Conn) (net.Conn, error)

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

func newAcceptLoop(id string) acceptLoop {
	return acceptLoop{id: id, closed: make(chan struct{})}
}

func (a *acceptLoop) serve(establish EstablishFunc) {
	if a.ln == nil {
		return
	}
	for {
		c, err := a.ln.Accept()
		if err != nil {
			select {
			case <-a.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("accept failed", "listener", a.id, "err", err)
			if !pause(a.closed) {
				return
			}
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if a.prepare != nil {
				pc, err := a.prepare(c)
				if err != nil {
					a.log.Debug("connection refused before MQTT", "listener", a.id, "remote", c.RemoteAddr(), "err", err)
					_ = c.Close()
					return
				}
				c = pc
			}
			establish(a.id, c)
		}()
	}
}

func (a *acceptLoop) close() error {
	var err error
	a.closeOnce.Do(func() {
		close(a.closed)
		if a.ln != nil {
			err = a.ln.Close()
		}
	})
	return err
}
