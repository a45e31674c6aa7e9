package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/server"
)

// browserNames are the Chromium and Chrome commands the browser test looks for on PATH.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findBrowser returns the path of the first of browserNames on PATH, or "".
func findBrowser() string {
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserSession drives one headless Chromium tab for a test; every call is bounded by its
// own deadline.
type browserSession struct {
	t   *testing.T
	ctx context.Context // the tab's context: cancelled at the test's end
}

// newBrowser starts a headless Chromium (flags for a container: no sandbox, no GPU, no
// background network traffic) with a fresh profile, or skips the test when there is none.
func newBrowser(t *testing.T) *browserSession {
	t.Helper()
	bin := findBrowser()
	if bin == "" {
		t.Skipf("no Chromium: none of %v is on PATH (Debian: apt-get install chromium; .ci/run installs it)", browserNames)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); acancel() })
	// The first Do starts the browser and binds it to the context it gets, so that one has no
	// deadline: a timer bounds the start instead.
	start := time.Now()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		require.NoError(t, err, "starting %s", bin)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("%s did not start within 30 s", bin)
	}
	t.Logf("browser %s started in %v", bin, time.Since(start).Round(time.Millisecond))
	return &browserSession{t: t, ctx: ctx}
}

// do runs actions within timeout and fails the test, naming the step, if they fail.
func (b *browserSession) do(step string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v\npage: %s", step, err, b.state())
	}
}

// state describes the page for a failure message: its URL, the visible error texts and the
// body's text.
func (b *browserSession) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText.slice(0, 2000)`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// waitJS polls the page (every 50 ms, within timeout) until the JavaScript expression is true.
func (b *browserSession) waitJS(step string, timeout time.Duration, expr string) {
	b.t.Helper()
	b.do(step, timeout, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(timeout)))
}

// text returns the text of the element that the CSS selector finds.
func (b *browserSession) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	require.NoError(b.t, err, "browser: text of %s", sel)
	return s
}

// screenshot writes a PNG of the whole page to dir/name and logs its path.
func (b *browserSession) screenshot(dir, name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err, "browser: screenshot")
	p := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(p, png, 0o644))
	b.t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

// screenshotDir is MQTTDS_SCREENSHOT_DIR (created if missing), or a directory of the test.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("MQTTDS_SCREENSHOT_DIR"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// Ensure that the dashboard works in a real browser against a running broker: a wrong key
// is refused, the right one logs in, the overview charts a live message rate, a connected
// MQTT client appears on the clients page, its Kick button disconnects it (DISCONNECT 0x98)
// and its durable session is then shown disconnected, the storage page lists the shards,
// and a trace is started and stopped from the trace page. Screenshots are written along
// the way.
func TestDashboard_Browser(t *testing.T) {
	start := time.Now()
	b := newBrowser(t)
	api, addr := ctlBrokerWith(t, &server.Options{NodeName: "dash-node",
		Durable: server.DurableOptions{Enable: true, Dir: t.TempDir(), Storage: &ds.Options{NumShards: 2}}})
	key := os.Getenv("MQTTDS_API_KEY") // set by ctlBrokerWith
	shots := screenshotDir(t)

	// 1. The page loads without a credential and asks for a key; a wrong one is refused.
	b.do("open the dashboard", 10*time.Second,
		chromedp.Navigate(api+"/dashboard/"),
		chromedp.WaitVisible(chromedp.ID("login-key")),
		chromedp.SendKeys(chromedp.ID("login-key"), "mqttds_wrong_key"),
		chromedp.Click(chromedp.ID("login-submit")))
	b.waitJS("a wrong key is refused", 10*time.Second,
		`document.getElementById('login-error').textContent.includes('did not accept')`)

	// 2. The right key logs in and shows the overview of this node.
	b.do("log in", 10*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('login-key').value = ''`),
		chromedp.SendKeys(chromedp.ID("login-key"), key),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("page-overview")))
	b.waitJS("the overview shows the node", 10*time.Second,
		`document.getElementById('node-name').textContent.startsWith('dash-node')`)

	// 3. A real MQTT client (a durable session) subscribes to what it publishes, so that the
	// message rates have something to show.
	kicked := make(chan byte, 1)
	client := dashClient(t, addr, "dash-client", kicked)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "dash/#", QoS: 1}}})
	require.NoError(t, err)
	stopPublishing := publishEvery(ctx, client, "dash/load", 20*time.Millisecond)
	b.waitJS("the chart shows a message rate", 15*time.Second,
		`Number(document.getElementById('chart-messages').dataset.samples) >= 3 &&
		 Number(document.getElementById('rate-msg-in').textContent) > 0 &&
		 Number(document.getElementById('rate-msg-out').textContent) > 0`)
	require.Equal(t, "1", b.text("#ov-connections"))
	b.screenshot(shots, "dashboard-overview.png")
	stopPublishing()

	// 4. The client is listed as connected; Kick disconnects it with Administrative action,
	// and the durable session stays, shown disconnected.
	row := `#clients-table tr[data-client="dash-client"]`
	b.do("see the client connected", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#nav a[data-page="clients"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-connected="true"]`)))
	require.Equal(t, "Connected", b.text(row+" td.status"))
	require.Equal(t, "durable", b.text(row+" td:nth-child(3)"))
	b.do("kick the client", 10*time.Second, chromedp.Click(chromedp.CSS(row+" button.kick")))
	select {
	case code := <-kicked:
		require.Equal(t, byte(0x98), code, "DISCONNECT reason")
	case <-ctx.Done():
		t.Fatal("the client was not disconnected by Kick")
	}
	b.do("see the client disconnected", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(row+`[data-connected="false"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(row+" button.kick")))
	require.Equal(t, "Disconnected", b.text(row+" td.status"))
	b.waitJS("the kick is reported", 5*time.Second,
		`document.getElementById('notice-bar').textContent === 'Kicked dash-client.'`)
	b.screenshot(shots, "dashboard-clients.png")

	// 5. The subscriptions page lists the session's subscription.
	b.do("see the subscription", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#nav a[data-page="subscriptions"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#subs-table tr[data-client="dash-client"][data-filter="dash/#"]`)))

	// 6. The storage page lists the store's two shards with their generations, and the read
	// figures.
	b.do("open the storage page", 10*time.Second, chromedp.Click(chromedp.CSS(`#nav a[data-page="storage"]`)))
	b.waitJS("the shards are listed", 10*time.Second,
		`document.querySelectorAll('#shards-table tbody tr').length === 2 &&
		 document.querySelectorAll('#storage-stats tbody tr').length > 0`)
	require.Equal(t, "2", b.text("#st-shards"))
	require.Equal(t, "dash-node", b.text(`#sites-table tbody tr td`))
	b.screenshot(shots, "dashboard-storage.png")

	// 7. A trace is started from the form, listed as running, and stopped.
	trace := `#traces-table tr[data-trace="t1"]`
	b.do("start a trace", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#nav a[data-page="trace"]`)),
		chromedp.WaitVisible(chromedp.ID("trace-name")),
		chromedp.SendKeys(chromedp.ID("trace-name"), "t1"),
		chromedp.SendKeys(chromedp.ID("trace-value"), "dash-client"),
		chromedp.Click(chromedp.ID("trace-start")),
		chromedp.WaitVisible(chromedp.CSS(trace+`[data-status="running"]`)),
		chromedp.Click(chromedp.CSS(trace+" button.stop")),
		chromedp.WaitVisible(chromedp.CSS(trace+`[data-status="stopped"]`)))
	require.Equal(t, "client dash-client", b.text(trace+" td:nth-child(2)"))
	b.screenshot(shots, "dashboard-trace.png")
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// dashClient connects a v5 client with a session that outlives the connection by an hour;
// the reason code of a DISCONNECT from the broker is sent to disconnected.
func dashClient(t *testing.T, addr, id string, disconnected chan<- byte) *paho.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: nc, OnServerDisconnect: func(d *paho.Disconnect) {
		select {
		case disconnected <- d.ReasonCode:
		default:
		}
	}})
	expiry := uint32(3600)
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// publishEvery publishes a QoS 0 message to topic at each tick until the returned stop is
// called (or ctx ends), as a steady load for the rate charts; stop waits for it to end.
func publishEvery(ctx context.Context, c *paho.Client, topic string, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(strconv.Itoa(n))}); err != nil {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
