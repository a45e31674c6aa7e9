package listeners

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttds/mqttds/internal/testcert"
	"github.com/stretchr/testify/require"
)

var testLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// echo is an EstablishFunc that echoes one line back, prefixed with the
// listener id, and reports the TLS common name of the peer when there is one.
func echo(id string, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	cn := "-"
	if tc, ok := c.(TLSConn); ok && len(tc.ConnectionState().PeerCertificates) > 0 {
		cn = tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	_, _ = io.WriteString(c, id+" "+cn+" "+line)
}

func start(t *testing.T, l Listener) {
	t.Helper()
	require.NoError(t, l.Init(testLog))
	done := make(chan struct{})
	go func() { l.Serve(echo); close(done) }()
	t.Cleanup(func() {
		require.NoError(t, l.Close())
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
}

func roundTrip(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(c, "hello\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	return line
}

func TestTCP(t *testing.T) {
	l := NewTCP("t1", "127.0.0.1:0")
	start(t, l)
	require.Equal(t, "tcp", l.Protocol())
	require.NotEqual(t, "127.0.0.1:0", l.Address(), "Address reports the bound port")
	for range 3 {
		c, err := net.Dial("tcp", l.Address())
		require.NoError(t, err)
		require.Equal(t, "t1 - hello\n", roundTrip(t, c))
	}
}

func TestTCP_BindError(t *testing.T) {
	l := NewTCP("t1", "127.0.0.1:0")
	start(t, l)
	require.Error(t, NewTCP("t2", l.Address()).Init(testLog), "a taken port fails Init")
}

func tlsConfigs(t *testing.T, verifyClient bool) (server *tls.Config, client *tls.Config) {
	ca, err := testcert.NewCA()
	require.NoError(t, err)
	srvCert, _, _, err := ca.Issue("127.0.0.1", true)
	require.NoError(t, err)
	cliCert, _, _, err := ca.Issue("device-7", false)
	require.NoError(t, err)
	server = &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	if verifyClient {
		server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	client = &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{cliCert}, ServerName: "127.0.0.1"}
	return server, client
}

func TestTLS_ClientCertificate(t *testing.T) {
	srv, cli := tlsConfigs(t, true)
	l := NewTLS("tls", "127.0.0.1:0", srv)
	start(t, l)
	c, err := tls.Dial("tcp", l.Address(), cli)
	require.NoError(t, err)
	require.Equal(t, "tls device-7 hello\n", roundTrip(t, c), "the verified CN reaches the broker")

	// Without a client certificate the handshake fails and the broker never
	// sees the connection.
	noCert := cli.Clone()
	noCert.Certificates = nil
	c, err = tls.Dial("tcp", l.Address(), noCert)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "hello\n")
		_, err = bufio.NewReader(c).ReadString('\n')
		c.Close()
	}
	require.Error(t, err)
}

func TestTLS_SilentClientDoesNotBlockAccept(t *testing.T) {
	srv, cli := tlsConfigs(t, false)
	l := NewTLS("tls", "127.0.0.1:0", srv)
	start(t, l)
	silent, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer silent.Close()
	c, err := tls.Dial("tcp", l.Address(), cli)
	require.NoError(t, err)
	require.Equal(t, "tls - hello\n", roundTrip(t, c), "no client certificate was asked for")
}

func dialWS(t *testing.T, url string, cfg *tls.Config, protos ...string) (net.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{Subprotocols: protos}
	if cfg != nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	ws, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, resp, err
	}
	return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), resp, nil
}

func TestWebSocket(t *testing.T) {
	l := NewWebSocket("ws", "127.0.0.1:0", "/mqtt", nil)
	start(t, l)
	require.Equal(t, "ws", l.Protocol())
	for _, proto := range Subprotocols {
		c, _, err := dialWS(t, "ws://"+l.Address()+"/mqtt", nil, proto)
		require.NoError(t, err, proto)
		require.Equal(t, "ws - hello\n", roundTrip(t, c))
	}
}

func TestWebSocket_RequiresSubprotocol(t *testing.T) {
	l := NewWebSocket("ws", "127.0.0.1:0", "/mqtt", nil)
	start(t, l)
	c, _, err := dialWS(t, "ws://"+l.Address()+"/mqtt", nil)
	require.NoError(t, err, "the upgrade itself succeeds")
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "then the server closes it: no mqtt subprotocol")

	_, resp, err := dialWS(t, "ws://"+l.Address()+"/other", nil, "mqtt")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestWebSocket_TextFrameClosesConnection(t *testing.T) {
	got := make(chan error, 1)
	l := NewWebSocket("ws", "127.0.0.1:0", "/mqtt", nil)
	require.NoError(t, l.Init(testLog))
	go l.Serve(func(_ string, c net.Conn) {
		_, err := c.Read(make([]byte, 16))
		got <- err
		c.Close()
	})
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+l.Address()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte("not mqtt")))
	// Reading lets the client answer the server's close frame.
	go func() { _, _, _ = ws.Read(ctx) }()
	select {
	case err := <-got:
		require.Error(t, err, "[MQTT-6.0.0-1] a text frame is not MQTT")
	case <-time.After(5 * time.Second):
		t.Fatal("text frame was not rejected")
	}
}

func TestWebSocket_Secure(t *testing.T) {
	srv, cli := tlsConfigs(t, true)
	l := NewWebSocket("wss", "127.0.0.1:0", "", srv)
	start(t, l)
	require.Equal(t, "wss", l.Protocol())
	c, _, err := dialWS(t, "wss://"+l.Address()+"/mqtt", cli, "mqtt")
	require.NoError(t, err)
	require.Equal(t, "wss device-7 hello\n", roundTrip(t, c))
}

func TestMock(t *testing.T) {
	l := NewMock("mock")
	start(t, l)
	c, err := l.Dial()
	require.NoError(t, err)
	require.Equal(t, "mock - hello\n", roundTrip(t, c))
	require.NoError(t, l.Close())
	_, err = l.Dial()
	require.ErrorIs(t, err, ErrMockClosed)
}
