package clienttest

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// startWSBridge serves MQTT over WebSocket on a free 127.0.0.1 port (path /mqtt, subprotocol
// "mqtt") and relays each session to the broker's plain TCP listener at addr. Debian's Mosquitto is
// built without WebSocket support, and the relay also keeps the WebSocket framing under test with a
// server implementation other than the client's own.
func startWSBridge(t testing.TB, addr string) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	ups := map[net.Conn]bool{} // the broker side of each relay, closed at cleanup to end it
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mqtt" {
			http.NotFound(w, r)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return
		}
		if ws.Subprotocol() != "mqtt" {
			ws.Close(websocket.StatusPolicyViolation, "mqtt subprotocol required")
			return
		}
		conns.Add(1)
		defer conns.Done()
		up, err := net.Dial("tcp", addr)
		if err != nil {
			ws.Close(websocket.StatusInternalError, "broker unreachable")
			return
		}
		mu.Lock()
		ups[up] = true
		mu.Unlock()
		defer func() { mu.Lock(); delete(ups, up); mu.Unlock() }()
		down := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
		var pipes sync.WaitGroup
		pipes.Add(2)
		go func() { defer pipes.Done(); _, _ = io.Copy(up, down); up.Close() }()
		go func() { defer pipes.Done(); _, _ = io.Copy(down, up); down.Close() }()
		pipes.Wait()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		mu.Lock()
		for up := range ups {
			up.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	return l.Addr().(*net.TCPAddr).Port
}
