package server

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// TestDurable_CrashKill9 runs the real mqttds binary, publishes at QoS 1 and 2 from paho
// clients while durable subscribers consume, kills the broker with SIGKILL at random moments,
// restarts it on the same data directory, and checks what the subscribers got:
//   - every message whose publisher got PUBACK/PUBCOMP is delivered to every durable subscriber;
//   - a QoS 2 subscriber gets each message exactly once (a re-sent PUBLISH under a packet id
//     it still holds is recognized, as the protocol intends);
//   - a message received again is marked DUP (re-sent from the in-flight window);
//   - each publisher's messages arrive in publish order (first receipts).
//
// Three kills by default (well under a minute); MQTTDS_SOAK runs thirty.
func TestDurable_CrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	kills := 3
	if os.Getenv("MQTTDS_SOAK") != "" {
		kills = 30
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MQTTDS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	bin := filepath.Join(t.TempDir(), "mqttds")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mqttds/mqttds/tools/mqttds").CombinedOutput()
	require.NoError(t, err, "%s", out)
	b := &crashBroker{t: t, bin: bin, dir: filepath.Join(t.TempDir(), "data")}

	subs := []*crashSubscriber{{id: "sub-q2", qos: mqtt.QoS2}, {id: "sub-q1", qos: mqtt.QoS1}}
	pubs := []*crashPublisher{{id: "pub-q1", qos: 1}, {id: "pub-q2", qos: 2}}
	for i := 0; i <= kills; i++ {
		addr := b.start()
		for _, s := range subs {
			require.NoError(t, s.connect(addr, i == 0), "subscriber %s", s.id)
		}
		if i == kills {
			break // the final run drains
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, p := range pubs {
			wg.Add(1)
			go func() { defer wg.Done(); p.run(addr, stop) }()
		}
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		b.kill()
		close(stop)
		wg.Wait()
		for _, s := range subs {
			s.close()
		}
	}
	defer b.kill()

	// Every acknowledged message arrives once the subscribers have drained.
	for _, s := range subs {
		deadline := time.Now().Add(15 * time.Second)
		for !s.hasAll(pubs) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		s.close()
	}
	total := 0
	for _, p := range pubs {
		total += len(p.acked)
		require.NotEmpty(t, p.acked, "publisher %s got no acknowledgement at all", p.id)
	}
	for _, s := range subs {
		s.mu.Lock()
		require.Empty(t, s.violations, "subscriber %s", s.id)
		for _, p := range pubs {
			for _, seq := range p.acked {
				require.Positive(t, s.got[p.id][seq], "subscriber %s lost %s:%d (acknowledged to the publisher)", s.id, p.id, seq)
			}
		}
		t.Logf("%s: %d first receipts, %d re-sent with DUP", s.id, s.first, s.dups)
		s.mu.Unlock()
	}
	t.Logf("%d kills, %d acknowledged messages", kills, total)
}

// crashBroker runs the binary.
type crashBroker struct {
	t   *testing.T
	bin string
	dir string
	cmd *exec.Cmd
}

func (b *crashBroker) start() string {
	t := b.t
	addr, api := crashFreeAddr(t), crashFreeAddr(t)
	cmd := exec.Command(b.bin, "serve", "--bind", addr, "--data-dir", b.dir)
	cmd.Env = append(os.Environ(), "MQTTDS_API_BIND="+api, "MQTTDS_LOG_LEVEL=warn")
	cmd.Stderr = &crashLog{t: t}
	require.NoError(t, cmd.Start())
	b.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
			return addr
		}
		require.True(t, time.Now().Before(deadline), "broker did not start: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process.
func (b *crashBroker) kill() {
	if b.cmd != nil {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
		b.cmd = nil
	}
}

// crashLog forwards the broker's warnings and errors to the test log.
type crashLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (l *crashLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if line != "" {
			l.t.Log("broker: " + line)
		}
	}
	return len(p), nil
}

func crashFreeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// crashPublisher publishes numbered messages with paho.golang until stopped or its connection
// dies; acked lists the numbers whose PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived.
type crashPublisher struct {
	id    string
	qos   byte
	next  int
	acked []int
}

func (p *crashPublisher) run(addr string, stop chan struct{}) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return
	}
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: p.id, CleanStart: true, KeepAlive: 30}); err != nil {
		return
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{}) }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		seq := p.next
		p.next++
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		r, err := c.Publish(pctx, &paho.Publish{Topic: "crash/" + p.id, QoS: p.qos, Payload: []byte(p.id + ":" + strconv.Itoa(seq))})
		pcancel()
		if err != nil {
			return
		}
		if r != nil && r.ReasonCode < 0x80 {
			p.acked = append(p.acked, seq)
		}
	}
}

// crashSubscriber is a durable subscriber speaking MQTT 5 through the codec, so that it sees
// the DUP flag and packet ids, and keeps its QoS 2 state across connections as a real client
// with a persistent session must.
type crashSubscriber struct {
	id  string
	qos mqtt.QoS
	nc  net.Conn
	wmu sync.Mutex
	wg  sync.WaitGroup

	mu         sync.Mutex
	holding    map[uint16]bool         // QoS 2 packet ids received and not released
	got        map[string]map[int]int  // publisher → seq → deliveries to the application
	last       map[string]int          // publisher → highest seq delivered
	everSeen   map[string]map[int]bool // publisher → seq → PUBLISH seen (any QoS)
	violations []string
	first      int
	dups       int
}

func (s *crashSubscriber) connect(addr string, first bool) error {
	if s.got == nil {
		s.holding, s.got, s.last, s.everSeen = map[uint16]bool{}, map[string]map[int]int{}, map[string]int{}, map[string]map[int]bool{}
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	s.nc = nc
	r := mqtt.NewReader(bufio.NewReader(nc), 0)
	c := &mqtt.Packet{Type: mqtt.TypeConnect, Connect: &mqtt.Connect{ProtocolVersion: mqtt.V5, ClientID: s.id,
		CleanStart: first, KeepAlive: 60}}
	c.Properties.SessionExpiry = 3600
	c.Properties.Present.Add(mqtt.PropSessionExpiry)
	c.Properties.ReceiveMaximum = 20
	c.Properties.Present.Add(mqtt.PropReceiveMaximum)
	s.send(c)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack, err := r.ReadPacket(mqtt.V5)
	if err != nil {
		return err
	}
	if ack.Type != mqtt.TypeConnack || ack.ReasonCode != mqtt.Success || ack.SessionPresent == first {
		return fmt.Errorf("CONNACK %s", ack.String())
	}
	if first {
		s.send(&mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: 1,
			Subscriptions: []mqtt.Subscription{{Filter: "crash/#", QoS: s.qos}}})
	}
	_ = nc.SetReadDeadline(time.Time{})
	s.wg.Add(1)
	go s.read(r)
	return nil
}

func (s *crashSubscriber) send(p *mqtt.Packet) {
	b, err := mqtt.Encode(nil, p, mqtt.V5)
	if err != nil {
		panic(err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = s.nc.Write(b)
}

func (s *crashSubscriber) close() {
	if s.nc != nil {
		s.nc.Close()
		s.wg.Wait()
		s.nc = nil
	}
}

// read handles packets until the connection dies.
func (s *crashSubscriber) read(r *mqtt.Reader) {
	defer s.wg.Done()
	for {
		p, err := r.ReadPacket(mqtt.V5)
		if err != nil {
			return
		}
		switch p.Type {
		case mqtt.TypePublish:
			s.onPublish(&p)
		case mqtt.TypePubrel:
			s.mu.Lock()
			delete(s.holding, p.PacketID)
			s.mu.Unlock()
			s.send(&mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p.PacketID})
		}
	}
}

func (s *crashSubscriber) onPublish(p *mqtt.Packet) {
	pub, seqText, _ := strings.Cut(string(p.Payload), ":")
	seq, _ := strconv.Atoi(seqText)
	s.mu.Lock()
	if s.everSeen[pub] == nil {
		s.everSeen[pub], s.got[pub] = map[int]bool{}, map[int]int{}
	}
	seen := s.everSeen[pub][seq]
	s.everSeen[pub][seq] = true
	deliver := true
	switch {
	case p.QoS == mqtt.QoS2 && s.holding[p.PacketID]:
		deliver = false // a re-sent PUBLISH of a message this client already has [MQTT-4.3.3-10]
	case seen && !p.Dup:
		s.violations = append(s.violations, fmt.Sprintf("%s:%d received again without DUP", pub, seq))
	}
	if seen {
		s.dups++
	}
	if deliver {
		s.got[pub][seq]++
		if p.QoS == mqtt.QoS2 && s.got[pub][seq] > 1 {
			s.violations = append(s.violations, fmt.Sprintf("%s:%d delivered twice at QoS 2", pub, seq))
		}
		if !seen {
			s.first++
			if last, ok := s.last[pub]; ok && seq <= last {
				s.violations = append(s.violations, fmt.Sprintf("%s:%d after %d: out of order", pub, seq, last))
			}
			s.last[pub] = seq
		}
	}
	if p.QoS == mqtt.QoS2 {
		s.holding[p.PacketID] = true
	}
	s.mu.Unlock()
	switch p.QoS {
	case mqtt.QoS1:
		s.send(&mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID})
	case mqtt.QoS2:
		s.send(&mqtt.Packet{Type: mqtt.TypePubrec, PacketID: p.PacketID})
	}
}

// hasAll reports whether every acknowledged message has been delivered.
func (s *crashSubscriber) hasAll(pubs []*crashPublisher) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pubs {
		for _, seq := range p.acked {
			if s.got[p.id][seq] == 0 {
				return false
			}
		}
	}
	return true
}
