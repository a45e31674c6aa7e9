package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// dial opens the byte stream MQTT runs over: TCP, TLS over TCP, or a WebSocket (ws:// or wss://)
// whose binary messages carry the stream.
func dial(ctx context.Context, o *Options) (net.Conn, error) {
	if o.WebSocket {
		return dialWebSocket(ctx, o)
	}
	d := &net.Dialer{}
	if o.TLS != nil {
		td := &tls.Dialer{NetDialer: d, Config: o.TLS}
		return td.DialContext(ctx, "tcp", o.Addr)
	}
	return d.DialContext(ctx, "tcp", o.Addr)
}

func dialWebSocket(ctx context.Context, o *Options) (net.Conn, error) {
	scheme := "ws"
	hc := http.DefaultClient
	if o.TLS != nil {
		scheme = "wss"
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: o.TLS}}
	}
	url := fmt.Sprintf("%s://%s%s", scheme, o.Addr, o.WSPath)
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"mqtt"}})
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != "mqtt" {
		ws.Close(websocket.StatusProtocolError, "mqtt subprotocol required")
		return nil, fmt.Errorf("client: %s did not accept the \"mqtt\" WebSocket subprotocol", url)
	}
	// The connection outlives Dial's context, so NetConn gets one of its own.
	return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
}
