package server

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/mqtt"
)

// The session state machine, tested as a random walk: a broker with durable sessions on a
// temporary directory, three subscribing clients with fixed ids (two MQTT 5, one 3.1.1) and a
// publisher, driven by random operations (connect or take over, resume while messages are being
// published, DISCONNECT, dropped connection, subscribe, unsubscribe, publish, bursts, acknowledge,
// withhold or refuse, acknowledge unknown packet ids, broker restart), every packet the clients
// receive checked against deliveryModel (durable_model_state_test.go). After each operation
// every online client reads until it has what it is owed or its window is full. The walk ends
// with a restart, a resume of every session left and a drain: a message the publisher had
// acknowledged and a durable session was owed must have arrived.
//
// A failure prints the seed and the last operations. Replay one with MQTTDS_MODEL_SEED=n; run
// longer walks with MQTTDS_MODEL_STEPS=n (make soak runs TestDurableModel_Soak).
//
// The broker is restarted by closing it cleanly; a kill -9 cannot be had in-process (the
// storage would be flushed by the process that keeps running), and TestDurable_CrashKill9
// covers it with the real binary.

// modelSettle bounds the wait for what a client is owed; a broker that delivers nothing in that
// time has lost it.
const modelSettle = 3 * time.Second

// modelRefuseEvery: a v5 client refuses every message whose seq is a multiple of it, with a
// PUBACK or PUBREC of 0x80.
const modelRefuseEvery = 11

// modelUnknownPID is the first packet id the walk acknowledges without having received it; it
// does so only while the ids a client has seen stay below modelUnknownBelow, so that the broker
// cannot have one of them in flight (it hands ids out in a rising cycle).
const (
	modelUnknownPID   = 60000
	modelUnknownBelow = 50000
)

// modelClient is one subscribing client. Its id, protocol version and Receive Maximum never
// change, so that a resumed session's in-flight window fits its new connection.
type modelClient struct {
	id      string
	v       mqtt.Version
	recvMax uint16 // v5: announced; the model checks it [MQTT-3.3.4-9]
	enough  int    // the window the broker fills at least: min(Receive Maximum, MaxInflight)

	c    *rawClient
	in   chan mqtt.Packet // packets read from c; closed when c ends
	stop chan struct{}    // closed when the walk leaves c
	hold bool             // acknowledgements are withheld
	held []mqtt.Packet    // the acknowledgements withheld, in order
	// unknown are the packet ids acknowledged without having been received; the broker may
	// answer a PUBREC for one with PUBREL (0x92 in v5).
	unknown map[uint16]bool
	pid     uint16 // the client's own packet ids (SUBSCRIBE, UNSUBSCRIBE)
	acks    int    // acknowledgements sent
	maxPID  uint16 // the highest packet id the broker sent
}

func (c *modelClient) online() bool { return c.c != nil }

func (c *modelClient) window() int {
	if c.v == mqtt.V5 {
		return int(c.recvMax)
	}
	return 65535
}

// modelWalk is one walk.
type modelWalk struct {
	t       *testing.T
	choose  *rand.Rand
	seed    string // how to replay it, for failure messages
	dir     string
	srv     *Server
	addr    string
	model   *deliveryModel
	clients []*modelClient
	pub     *rawClient
	pubPID  uint16
	compact bool // offline durable sessions are evicted at once
	step    int
	log     []string       // the last modelLogLen operations and packets
	counts  map[string]int // operations and packets, for the summary
}

const modelLogLen = 60

// newModelWalk starts a walk's broker: with durable sessions, or (durable false) with every
// session in memory, where a restart loses them all.
func newModelWalk(t *testing.T, choose *rand.Rand, seed string, durable bool) *modelWalk {
	w := &modelWalk{t: t, choose: choose, seed: seed, dir: t.TempDir(), model: newDeliveryModel(durable),
		compact: choose.IntN(2) == 0, counts: map[string]int{}}
	w.clients = []*modelClient{
		{id: "ma", v: mqtt.V5, recvMax: 3},
		{id: "mb", v: mqtt.V5, recvMax: 64},
		{id: "mc", v: mqtt.V311},
	}
	for _, c := range w.clients {
		c.enough = min(c.window(), int(defaultMaxInflight))
		c.unknown = map[uint16]bool{}
	}
	w.srv, w.addr = w.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("model walk %s failed at step %d; last operations:\n  %s\nmodel:\n%s",
				w.seed, w.step, strings.Join(w.log, "\n  "), w.model)
		}
	})
	return w
}

// start opens the broker on the walk's directory. With compact set, an offline durable session
// is evicted from memory after a millisecond (not a second), so that evictions race resumes.
func (w *modelWalk) start() (*Server, string) {
	if !w.model.disk {
		return startServer(w.t, nil)
	}
	srv, addr := durableServer(w.t, w.dir)
	if w.compact {
		srv.durable.timers.delay.Store(int64(time.Millisecond))
	}
	return srv, addr
}

// defaultMaxInflight is Options.MaxInflight's default, the broker's own cap on a window.
const defaultMaxInflight = 32

// fail stops the walk on a broken rule.
func (w *modelWalk) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("step %d: %s (replay: %s)", w.step, fmt.Sprintf(format, args...), w.seed)
}

func (w *modelWalk) logf(format string, args ...any) {
	w.counts[strings.Fields(format)[0]]++
	w.note(format, args...)
}

// note logs a packet.
func (w *modelWalk) note(format string, args ...any) {
	step := "final"
	if w.step > 0 {
		step = strconv.Itoa(w.step)
	}
	w.log = append(w.log, step+": "+fmt.Sprintf(format, args...))
	if len(w.log) > modelLogLen {
		w.log = w.log[1:]
	}
}

// run takes steps operations, then the final drain.
func (w *modelWalk) run(steps int) {
	for w.step = 1; w.step <= steps; w.step++ {
		w.randomOp()
		for _, c := range w.clients {
			w.settle(c)
		}
	}
	w.finish()
}

// randomOp takes one operation, chosen with these weights.
func (w *modelWalk) randomOp() {
	c := w.clients[w.choose.IntN(len(w.clients))]
	switch op := w.choose.IntN(100); {
	case op < 10:
		w.connect(c)
	case op < 12:
		w.resumeUnderLoad(c)
	case !c.online() && op < 40:
		w.connect(c)
	case !c.online() && op < 50:
		w.resumeUnderLoad(c)
	case !c.online():
		w.publish() // the other operations need a connection
	case op < 20:
		w.disconnect(c, false)
	case op < 23:
		w.disconnect(c, true)
	case op < 37:
		w.subscribe(c)
	case op < 41:
		w.unsubscribe(c)
	case op < 51:
		w.ack(c)
	case op < 57:
		w.withhold(c)
	case op < 59:
		w.ackUnknown(c)
	case op < 62:
		w.restart()
	case op < 65:
		w.burst()
	default:
		w.publish()
	}
}

// connect connects c: Clean Start or not, expiry 0 or an hour (3.1.1: clean session or not),
// taking over c's connection if it has one.
func (w *modelWalk) connect(c *modelClient) {
	clean := w.choose.IntN(5) == 0
	expiry := uint32(3600)
	if w.choose.IntN(5) == 0 {
		expiry = 0
	}
	w.logf("connect %s clean=%v expiry=%d (online=%v)", c.id, clean, c.expiry(clean, expiry), c.online())
	w.connectWith(c, clean, c.expiry(clean, expiry))
}

// expiry is the session expiry a CONNECT asks for: 3.1.1 has only the clean session flag.
func (c *modelClient) expiry(clean bool, v5 uint32) uint32 {
	switch {
	case c.v == mqtt.V5:
		return v5
	case clean:
		return 0
	default:
		return 7200 // Options.SessionExpiryV3
	}
}

// resumeUnderLoad resumes c's session while the publisher pipelines 5 to 20 QoS 1 messages to
// one topic, so that the broker's resume (re-sends first, then new messages) races with
// routing. The session's subscriptions do not change meanwhile, so the model knows what
// matched; only a session that lives through the CONNECT is resumed.
func (w *modelWalk) resumeUnderLoad(c *modelClient) {
	s := w.model.sessions[c.id]
	if s == nil || (s.online && s.expiry == 0) {
		w.connect(c)
		return
	}
	topic := modelTopics[w.choose.IntN(len(modelTopics))]
	n := 5 + w.choose.IntN(16)
	w.logf("resume %s under a burst of %d on %s from %d", c.id, n, topic, len(w.model.msgs))
	w.dialPublisher()
	seqs := make([]int, n)
	for i := range seqs {
		seqs[i] = w.model.publish(topic, mqtt.QoS1)
		w.pub.publish(topic, strconv.Itoa(seqs[i]), mqtt.QoS1, w.nextPubPID(), false)
	}
	w.connectWith(c, false, c.expiry(false, 3600))
	for _, seq := range seqs {
		if ack := w.pub.expect(mqtt.TypePuback); !ack.ReasonCode.IsError() {
			w.model.published(seq)
		}
	}
}

// connectWith connects c, checks Session Present and, on a resumed session, the re-sends.
func (w *modelWalk) connectWith(c *modelClient, clean bool, expiry uint32) {
	nc := dialRaw(w.t, w.addr, c.v)
	ack := nc.connect(c.id, clean, c.connectProps(expiry))
	w.leave(c) // taken over: the old connection is closed by the broker
	if ack.ReasonCode != mqtt.Success {
		w.fail("CONNACK %s", ack.String())
	}
	present := w.model.connect(c.id, c.v == mqtt.V5, clean, expiry)
	if ack.SessionPresent != present {
		w.fail("%s: Session Present %v, want %v [MQTT-3.2.2-2], [MQTT-3.2.2-3]", c.id, ack.SessionPresent, present)
	}
	w.attach(c, nc)
	if present {
		// Every message in flight is sent again at once [MQTT-4.4.0-1].
		w.settle(c)
		if pids := w.model.resumed(c.id); len(pids) > 0 {
			w.fail("%s resumed: packet ids %v in flight were not sent again [MQTT-4.4.0-1]", c.id, pids)
		}
	}
}

// connectProps sets a v5 CONNECT's expiry and Receive Maximum.
func (c *modelClient) connectProps(expiry uint32) func(*mqtt.Packet) {
	return func(p *mqtt.Packet) {
		if c.v == mqtt.V5 {
			sessionExpiry(expiry)(p)
			p.Properties.ReceiveMaximum = c.recvMax
			p.Properties.Present.Add(mqtt.PropReceiveMaximum)
		}
	}
}

// attach starts reading nc for c.
func (w *modelWalk) attach(c *modelClient, nc *rawClient) {
	require.NoError(w.t, nc.nc.SetReadDeadline(time.Time{}))
	in, stop := make(chan mqtt.Packet, 64), make(chan struct{})
	c.c, c.in, c.stop, c.held = nc, in, stop, nil
	go func() {
		defer close(in)
		for {
			p, err := nc.r.ReadPacket(nc.v)
			if err != nil {
				return
			}
			select {
			case in <- p:
			case <-stop:
				return
			}
		}
	}()
}

// leave forgets c's connection, and what it had not read or acknowledged.
func (w *modelWalk) leave(c *modelClient) {
	if c.c == nil {
		return
	}
	close(c.stop)
	c.c.close()
	c.c, c.in, c.held = nil, nil, nil
}

// disconnect ends c's connection: DISCONNECT (v5: possibly with expiry 0, which ends the
// session) or a dropped connection.
func (w *modelWalk) disconnect(c *modelClient, abrupt bool) {
	end := c.v == mqtt.V5 && w.choose.IntN(3) == 0
	w.logf("disconnect %s abrupt=%v end=%v", c.id, abrupt, end && !abrupt)
	switch {
	case abrupt && w.choose.IntN(2) == 0:
		// The withheld acknowledgements go out right before the connection drops: the broker
		// may or may not take them in.
		for _, p := range c.held {
			w.note("  %s -> %s (then dropped)", c.id, p.String())
			c.c.send(&p)
			w.model.maybeAcked(c.id, p.PacketID)
		}
	case abrupt:
	case end:
		d := &mqtt.Packet{Type: mqtt.TypeDisconnect}
		d.Properties.Present.Add(mqtt.PropSessionExpiry)
		c.c.send(d)
		w.model.sessions[c.id].expiry = 0
	default:
		c.c.send(&mqtt.Packet{Type: mqtt.TypeDisconnect})
	}
	w.leave(c)
	w.model.disconnected(c.id)
	// Wait until the broker has seen it, so that the next CONNECT finds the session in the
	// state the model has.
	gone := w.model.sessions[c.id] == nil
	waitFor(w.t, c.id+" offline", func() bool {
		s := w.srv.session(c.id)
		return s == nil || (!gone && !s.online())
	})
}

// subscribe subscribes c to one of modelFilters at a random QoS, with the filter's
// Subscription Identifier (v5).
func (w *modelWalk) subscribe(c *modelClient) {
	f := modelFilters[w.choose.IntN(len(modelFilters))]
	qos := mqtt.QoS(w.choose.IntN(3))
	w.logf("subscribe %s %s qos=%d", c.id, f, qos)
	p := &mqtt.Packet{Type: mqtt.TypeSubscribe, PacketID: c.nextPID(), Subscriptions: []mqtt.Subscription{{Filter: f, QoS: qos}}}
	if c.v == mqtt.V5 {
		p.Properties.SubscriptionIDs = []uint32{modelSubID(f)}
		p.Properties.Present.Add(mqtt.PropSubscriptionID)
	}
	// The model takes the subscription as of now: the broker may apply it to messages it
	// sends before the SUBACK [MQTT-3.8.4-3].
	w.model.subscribe(c.id, f, qos)
	c.c.send(p)
	ack := w.await(c, mqtt.TypeSuback)
	if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != mqtt.ReasonCode(qos) {
		w.fail("%s: SUBACK %s for %s at QoS %d", c.id, ack.String(), f, qos)
	}
}

// unsubscribe removes one of c's subscriptions (or one it does not have).
func (w *modelWalk) unsubscribe(c *modelClient) {
	f := modelFilters[w.choose.IntN(len(modelFilters))]
	w.logf("unsubscribe %s %s", c.id, f)
	w.model.unsubscribe(c.id, f)
	c.c.send(&mqtt.Packet{Type: mqtt.TypeUnsubscribe, PacketID: c.nextPID(), Filters: []string{f}})
	w.await(c, mqtt.TypeUnsuback)
}

func (c *modelClient) nextPID() uint16 {
	c.pid = c.pid%1000 + 1
	return c.pid
}

// ack sends c's withheld acknowledgements and lets it acknowledge at once from now on, or (one
// time in three) goes on withholding: then a PUBREL answering a PUBREC waits for its PUBCOMP.
func (w *modelWalk) ack(c *modelClient) {
	c.hold = c.hold && w.choose.IntN(3) == 0
	w.logf("ack %s (%d held, hold=%v)", c.id, len(c.held), c.hold)
	held := c.held
	c.held = nil
	for _, p := range held {
		w.sendAck(c, p)
	}
}

// withhold makes c keep its acknowledgements until the next ack.
func (w *modelWalk) withhold(c *modelClient) {
	w.logf("withhold %s", c.id)
	c.hold = true
}

// ackUnknown acknowledges a packet id c never received: the broker must ignore it (or answer
// a PUBREC with PUBREL 0x92).
func (w *modelWalk) ackUnknown(c *modelClient) {
	if c.maxPID >= modelUnknownBelow {
		w.ack(c)
		return
	}
	pid := uint16(modelUnknownPID + w.choose.IntN(1000))
	typ := []mqtt.Type{mqtt.TypePuback, mqtt.TypePubrec, mqtt.TypePubcomp}[w.choose.IntN(3)]
	w.logf("ack unknown %s %s %d", c.id, typ, pid)
	c.unknown[pid] = true
	c.c.send(&mqtt.Packet{Type: typ, PacketID: pid})
}

// restart closes the broker cleanly and opens it again on the same directory.
func (w *modelWalk) restart() {
	w.logf("restart")
	for _, c := range w.clients {
		w.leave(c)
	}
	if w.pub != nil {
		w.pub.close()
		w.pub = nil
	}
	if w.model.disk {
		m := w.srv.DurableMetrics()
		w.counts["evictions"] += int(m.Evictions)
		w.counts["loads"] += int(m.Loads)
	}
	closeServer(w.t, w.srv)
	w.model.restarted()
	w.srv, w.addr = w.start()
}

// publish publishes one message from the publisher, whose payload is its seq, at a random
// QoS, and waits for the acknowledgement (QoS 0: for the PUBACK of a QoS 1 message that
// matches nothing, which the broker routes after it).
func (w *modelWalk) publish() {
	w.dialPublisher()
	topic := modelTopics[w.choose.IntN(len(modelTopics))]
	qos := mqtt.QoS(w.choose.IntN(3))
	seq := w.model.publish(topic, qos)
	w.logf("publish %d %s qos=%d", seq, topic, qos)
	w.publishOne(topic, qos, seq)
}

// burst publishes 10 to 70 QoS 1 or QoS 2 messages to one topic: more than a window holds, so
// that sessions catch up from storage.
func (w *modelWalk) burst() {
	topic := modelTopics[w.choose.IntN(len(modelTopics))]
	qos := mqtt.QoS(1 + w.choose.IntN(2))
	n := 10 + w.choose.IntN(61)
	w.logf("burst %d on %s at QoS %d from %d", n, topic, qos, len(w.model.msgs))
	w.dialPublisher()
	for range n {
		w.publishOne(topic, qos, w.model.publish(topic, qos))
	}
}

func (w *modelWalk) publishOne(topic string, qos mqtt.QoS, seq int) {
	switch qos {
	case mqtt.QoS0:
		w.pub.publish(topic, strconv.Itoa(seq), qos, 0, false)
		w.pub.publish("sync", "", mqtt.QoS1, w.nextPubPID(), false)
		w.pub.expect(mqtt.TypePuback)
	case mqtt.QoS1:
		w.pub.publish(topic, strconv.Itoa(seq), qos, w.nextPubPID(), false)
		if ack := w.pub.expect(mqtt.TypePuback); !ack.ReasonCode.IsError() {
			w.model.published(seq)
		}
	case mqtt.QoS2:
		pid := w.nextPubPID()
		w.pub.publish(topic, strconv.Itoa(seq), qos, pid, false)
		if ack := w.pub.expect(mqtt.TypePubrec); !ack.ReasonCode.IsError() {
			w.model.published(seq)
		}
		w.pub.send(&mqtt.Packet{Type: mqtt.TypePubrel, PacketID: pid})
		w.pub.expect(mqtt.TypePubcomp)
	}
}

func (w *modelWalk) dialPublisher() {
	if w.pub == nil {
		w.pub = dialRaw(w.t, w.addr, mqtt.V5)
		w.pub.connect("m-pub", true)
	}
}

func (w *modelWalk) nextPubPID() uint16 {
	w.pubPID = w.pubPID%60000 + 1
	return w.pubPID
}

// settle reads what c is sent until it has everything it is owed or its window is full, then
// makes round trips (PINGREQ) until its acknowledgements have all been taken in: the broker
// handles a connection's packets in order.
func (w *modelWalk) settle(c *modelClient) {
	if !c.online() {
		return
	}
	deadline := time.Now().Add(modelSettle)
	for {
		owed := w.model.owed(c.id)
		if len(owed) == 0 || w.model.inflightLen(c.id) >= c.enough {
			break
		}
		if !w.receive(c, deadline) {
			w.fail("%s was not sent messages %v it is owed within %s (%d in flight)", c.id, owed, modelSettle,
				w.model.inflightLen(c.id))
		}
	}
	for {
		acks := c.acks
		c.c.send(&mqtt.Packet{Type: mqtt.TypePingreq})
		w.await(c, mqtt.TypePingresp)
		if c.acks == acks {
			return
		}
		// An acknowledgement went out after the PINGREQ (a PUBCOMP for a PUBREL, say):
		// another round trip.
	}
}

// await reads c's packets until one of type typ, which it returns.
func (w *modelWalk) await(c *modelClient, typ mqtt.Type) mqtt.Packet {
	deadline := time.Now().Add(modelSettle)
	for {
		select {
		case p, ok := <-c.in:
			if !ok {
				w.fail("%s: connection closed while waiting for %s", c.id, typ)
			}
			if p.Type == typ {
				return p
			}
			w.handle(c, p)
		case <-time.After(time.Until(deadline)):
			w.fail("%s: no %s within %s", c.id, typ, modelSettle)
		}
	}
}

// receive handles one packet of c; false when none came before deadline.
func (w *modelWalk) receive(c *modelClient, deadline time.Time) bool {
	select {
	case p, ok := <-c.in:
		if !ok {
			w.fail("%s: connection closed", c.id)
		}
		w.handle(c, p)
		return true
	case <-time.After(time.Until(deadline)):
		return false
	}
}

// handle checks a packet the broker sent c and answers it.
func (w *modelWalk) handle(c *modelClient, p mqtt.Packet) {
	w.note("  %s <- %s", c.id, modelPacketString(&p))
	switch p.Type {
	case mqtt.TypePublish:
		w.counts[fmt.Sprintf("PUBLISH qos=%d dup=%v", p.QoS, p.Dup)]++
		seq, err := strconv.Atoi(string(p.Payload))
		if err != nil {
			w.fail("%s: PUBLISH %s with a payload the walk did not send", c.id, p.String())
		}
		if err := w.model.receive(c.id, &p, seq, c.window()); err != nil {
			w.fail("%s: %v", c.id, err)
		}
		c.maxPID = max(c.maxPID, p.PacketID)
		if p.QoS == mqtt.QoS0 {
			return
		}
		ack := mqtt.Packet{Type: mqtt.TypePuback, PacketID: p.PacketID}
		if p.QoS == mqtt.QoS2 {
			ack.Type = mqtt.TypePubrec
		}
		if c.v == mqtt.V5 && seq%modelRefuseEvery == 0 {
			// Refused: the exchange ends, the message is never sent again [MQTT-4.4.0-2].
			ack.ReasonCode = mqtt.UnspecifiedError
		}
		w.answer(c, ack)
	case mqtt.TypePubrel:
		w.counts["PUBREL"]++
		if c.unknown[p.PacketID] {
			if c.v == mqtt.V5 && p.ReasonCode != mqtt.PacketIdentifierNotFound {
				w.fail("%s: PUBREL %s for an unknown packet id", c.id, p.String())
			}
			return
		}
		if err := w.model.pubrel(c.id, p.PacketID); err != nil {
			w.fail("%s: %v", c.id, err)
		}
		w.answer(c, mqtt.Packet{Type: mqtt.TypePubcomp, PacketID: p.PacketID})
	default:
		w.fail("%s: unexpected %s", c.id, p.String())
	}
}

// modelPacketString is p.String() with a PUBLISH's message seq and Subscription Identifiers.
func modelPacketString(p *mqtt.Packet) string {
	if p.Type != mqtt.TypePublish {
		return p.String()
	}
	s := fmt.Sprintf("PUBLISH #%s %s qos=%d id=%d", p.Payload, p.Topic, p.QoS, p.PacketID)
	if p.Dup {
		s += " dup"
	}
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		s += fmt.Sprintf(" subs=%v", ids)
	}
	return s
}

// answer sends an acknowledgement now, or keeps it while c withholds them.
func (w *modelWalk) answer(c *modelClient, ack mqtt.Packet) {
	if c.hold {
		c.held = append(c.held, ack)
		return
	}
	w.sendAck(c, ack)
}

func (w *modelWalk) sendAck(c *modelClient, ack mqtt.Packet) {
	w.note("  %s -> %s", c.id, ack.String())
	c.c.send(&ack)
	c.acks++
	w.counts[fmt.Sprintf("%s 0x%02x", ack.Type, byte(ack.ReasonCode))]++
	if ack.Type == mqtt.TypePubrec && !ack.ReasonCode.IsError() {
		w.model.pubrec(c.id, ack.PacketID)
	} else {
		w.model.acked(c.id, ack.PacketID)
	}
}

// finish restarts the broker, reconnects every session left and drains it, acknowledging
// everything: then nothing may be owed.
func (w *modelWalk) finish() {
	w.step = 0
	w.restart()
	for _, c := range w.clients {
		s := w.model.sessions[c.id]
		if s == nil {
			continue
		}
		w.logf("final resume %s", c.id)
		c.hold = false
		w.connectWith(c, false, s.expiry)
		deadline := time.Now().Add(modelSettle)
		for len(w.model.owed(c.id)) > 0 || w.model.inflightLen(c.id) > 0 {
			if !w.receive(c, deadline) {
				w.fail("%s: lost messages %v (acknowledged to the publisher, owed to a durable session); %d still in flight",
					c.id, w.model.owed(c.id), w.model.inflightLen(c.id))
			}
		}
		w.settle(c)
	}
}

// modelSteps is the walk's length: short in make test, MQTTDS_MODEL_STEPS for longer runs.
func modelSteps(t *testing.T, short int) int {
	if s := os.Getenv("MQTTDS_MODEL_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "MQTTDS_MODEL_STEPS")
		return n
	}
	return short
}

// modelSeed returns MQTTDS_MODEL_SEED, or a new seed.
func modelSeed(t *testing.T) uint64 {
	if s := os.Getenv("MQTTDS_MODEL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "MQTTDS_MODEL_SEED")
		return n
	}
	return rand.Uint64()
}

func runModelWalk(t *testing.T, seed uint64, steps int, durable bool) {
	choose := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	test := "TestDurableModel_Walk"
	if !durable {
		test += "Memory"
	}
	replay := fmt.Sprintf("MQTTDS_MODEL_SEED=%d MQTTDS_MODEL_STEPS=%d go test ./server -run '%s$'", seed, steps, test)
	w := newModelWalk(t, choose, replay, durable)
	w.run(steps)
	t.Logf("%d steps (compact %v): %v", steps, w.compact, w.counts)
}

// Ensure that random sequences of connects, disconnects, subscriptions, publications,
// acknowledgements and restarts keep MQTT's delivery rules for durable and in-memory sessions.
func TestDurableModel_Walk(t *testing.T) {
	seed := modelSeed(t)
	t.Logf("seed %d", seed)
	runModelWalk(t, seed, modelSteps(t, 300), true)
}

// Ensure the same of a broker without durable sessions: sessions with an expiry are kept in
// memory (and resumed from there) until a restart.
func TestDurableModel_WalkMemory(t *testing.T) {
	seed := modelSeed(t)
	t.Logf("seed %d", seed)
	runModelWalk(t, seed, modelSteps(t, 150), false)
}

// modelSoakDefault is how long TestDurableModel_Soak walks when MQTTDS_SOAK is not a duration.
const modelSoakDefault = 2 * time.Minute

// Ensure the same over many long walks: make soak (MQTTDS_SOAK=duration) walks new seeds of
// MQTTDS_MODEL_STEPS (default 2000) steps each, one walk in four without durable sessions,
// until the duration has passed.
func TestDurableModel_Soak(t *testing.T) {
	soak := os.Getenv("MQTTDS_SOAK")
	if soak == "" {
		t.Skip("set MQTTDS_SOAK (make soak) to run")
	}
	d, err := time.ParseDuration(soak)
	if err != nil {
		d = modelSoakDefault
	}
	steps := modelSteps(t, 2000)
	walks := 0
	for end := time.Now().Add(d); time.Now().Before(end); walks++ {
		seed := rand.Uint64()
		durable := walks%4 != 3
		if !t.Run(fmt.Sprintf("seed=%d,durable=%v", seed, durable), func(t *testing.T) { runModelWalk(t, seed, steps, durable) }) {
			break
		}
	}
	t.Logf("%d walks of %d steps", walks, steps)
}
