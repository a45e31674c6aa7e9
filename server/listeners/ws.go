package listeners

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Subprotocols are the WebSocket subprotocols the broker accepts: "mqtt" for
// MQTT 3.1.1 and 5 [MQTT-6.0.0-4], and "mqttv3.1" that MQTT 3.1 clients offer.
var Subprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocket serves MQTT over WebSocket on one HTTP path (ws, or wss when a TLS
// config is given). Each WebSocket becomes a net.Conn of binary frames, so the
// broker reads it like a TCP stream: packets may span frames or share one
// [MQTT-6.0.0-2], and a text frame ends the connection [MQTT-6.0.0-1].
type WebSocket struct {
	id   string
	addr string
	path string
	cfg  *tls.Config

	log       *slog.Logger
	ln        net.Listener
	srv       *http.Server
	establish EstablishFunc
	closeOnce sync.Once
}

// NewWebSocket returns a WebSocket listener named id on addr serving path
// ("/mqtt"). A nil cfg serves plain ws, a non-nil one wss.
func NewWebSocket(id, addr, path string, cfg *tls.Config) *WebSocket {
	if path == "" {
		path = "/mqtt"
	}
	return &WebSocket{id: id, addr: addr, path: path, cfg: cfg}
}

// ID implements Listener.
func (l *WebSocket) ID() string { return l.id }

// Protocol implements Listener.
func (l *WebSocket) Protocol() string {
	if l.cfg != nil {
		return "wss"
	}
	return "ws"
}

// Address implements Listener.
func (l *WebSocket) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Init implements Listener.
func (l *WebSocket) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.cfg != nil {
		ln = tls.NewListener(ln, l.cfg)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(l.path, l.handle)
	l.ln, l.log = ln, log
	l.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: HandshakeTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return nil
}

// Serve implements Listener.
func (l *WebSocket) Serve(establish EstablishFunc) {
	if l.srv == nil {
		return
	}
	l.establish = establish
	err := l.srv.Serve(l.ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Warn("websocket listener stopped", "listener", l.id, "err", err)
	}
}

// handle upgrades one request and hands the connection to the broker for its
// whole life. A client that offers none of our subprotocols is refused: a
// WebSocket without "mqtt" is not an MQTT client [MQTT-6.0.0-3].
func (l *WebSocket) handle(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: Subprotocols,
		// Browsers on other origins are the normal case for MQTT over
		// WebSocket; authentication happens in CONNECT, not by origin.
		InsecureSkipVerify: true,
	})
	if err != nil {
		l.log.Debug("websocket upgrade failed", "listener", l.id, "remote", r.RemoteAddr, "err", err)
		return
	}
	if ws.Subprotocol() == "" {
		_ = ws.Close(websocket.StatusPolicyViolation, "subprotocol mqtt required")
		return
	}
	var c net.Conn = websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	if r.TLS != nil {
		c = &wsTLSConn{Conn: c, state: *r.TLS}
	}
	l.establish(l.id, c)
}

// wsTLSConn exposes the TLS state of a wss connection (see TLSConn).
type wsTLSConn struct {
	net.Conn
	state tls.ConnectionState
}

func (c *wsTLSConn) ConnectionState() tls.ConnectionState { return c.state }

// Close implements Listener. Upgraded connections are no longer tracked by
// the HTTP server, so they stay open for the broker to close.
func (l *WebSocket) Close() error {
	var err error
	l.closeOnce.Do(func() {
		if l.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = l.srv.Shutdown(ctx)
	})
	return err
}
