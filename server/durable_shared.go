package server

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/mqtt/topic"
	"github.com/mqttds/mqttds/server/durable"
	"github.com/mqttds/mqttds/server/subscriptions"
)

// sharedGroup serves a durable shared subscription ("$share/{name}/{filter}" with at least one
// durable member). Its state is a durable.Session of its own (durable/group.go): the group's
// stream positions, and one in-flight entry per message handed to a member and not yet
// acknowledged, committed before the PUBLISH goes out. The group's loop hands messages to the
// online members in turn, never more than a member's window allows, and takes a message back
// from a member that went offline or left it unacknowledged for SharedRedispatchTimeout, to give
// it to another member as a new delivery (DUP=0: it is the first one that client sees). While no
// member is online, the backlog stays in storage.
//
// Which member holds a QoS 2 message, under which of its packet ids, is durable too: a hold
// record of the group's session (durable.Hold), committed before the PUBLISH goes out and
// again, as released, before the member's PUBREL goes out. After a restart (restoreGroups) a
// held message is the member's again: its packet id is taken in the member's session and the
// member gets the PUBLISH again with DUP, or the PUBREL, when it reconnects [MQTT-4.4.0-1]. It
// is never handed to anyone else [MQTT-4.8.2-4] v5, and is dropped if the member's session
// ends [MQTT-4.8.2-5] v5. Which member holds a QoS 1 message is in memory only, so after a
// restart it is handed out again, as the group's other unfinished entries are: QoS 1 allows
// that, and a hold record per QoS 1 message made the drain of a busy group (two commits per
// round: BenchmarkDurableShared_Drain10k) about 1.4× slower.
type sharedGroup struct {
	b      *durableBroker
	key    string // canonical "$share/{name}/{filter}"
	name   string
	filter string
	ds     *durable.Session
	wake   chan struct{}
	done   chan struct{}
	// ready is closed once the group may hand out messages: after restoreGroups gave the held
	// ones back to their members.
	ready <-chan struct{}

	mu struct {
		sync.Mutex
		// members are the durable members with their own subscription options, in a stable
		// order for the round robin.
		members map[string]subscriptions.Member
		order   []string
		rr      int
		// memMembers are the members whose sessions are in memory only (expiry 0), as
		// routing last saw them: they take their share at once, through the in-memory path.
		memMembers []subscriptions.Member
		// held are the messages a member has, by the group's packet id.
		held map[uint16]*handout
		// free are the messages to hand out before reading new ones: taken back from a
		// member, or left unfinished by the previous process.
		free     []durable.Delivery
		replayed bool
	}
}

// handout is a message given to a member and not yet finished (acknowledged, or completed
// after PUBREC). Its hold record is in the group's session.
type handout struct {
	x      durable.Delivery // PID is the group's packet id
	member string
	d      *durableSession
	pid    uint16   // the member's packet id
	qos    mqtt.QoS // the member's delivery QoS
	// state is StateReleased once the member sent PUBREC (QoS 2).
	state durable.State
	at    time.Time
}

func (h *handout) hold() durable.Hold {
	return durable.Hold{GroupPID: h.x.PID, Member: h.member, MemberPID: h.pid, QoS: byte(h.qos), State: h.state}
}

// sharedRef names a group message a member holds.
type sharedRef struct {
	g   *sharedGroup
	pid uint16 // the group's packet id
}

func (g *sharedGroup) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// run is the group's loop, from the first durable member joining to the last one leaving.
func (g *sharedGroup) run() {
	defer g.b.wg.Done()
	select {
	case <-g.ready:
	case <-g.done:
		return
	case <-g.b.stop:
		return
	}
	tick := min(g.b.opts.SharedRedispatchTimeout/2, g.b.opts.IdlePollInterval)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		g.dispatch()
		select {
		case <-g.done:
			return
		case <-g.b.stop:
			return
		case <-g.wake:
		case <-t.C:
			g.ds.Touch()
		}
	}
}

// dispatch takes back what is overdue and hands out what the online members have room for:
// one read for all of them (one commit), the messages then dealt out in turn, their holds
// committed at once, and only then the PUBLISHes sent.
func (g *sharedGroup) dispatch() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := g.replay(ctx); err != nil {
		g.logErr("reading a shared group's unfinished messages failed", err)
		return
	}
	g.reclaimOverdue(time.Now())
	for {
		takers := g.takers()
		total := 0
		for _, t := range takers {
			total += t.room
		}
		if total == 0 {
			return
		}
		g.mu.Lock()
		n := min(total, len(g.mu.free))
		batch := slices.Clone(g.mu.free[:n])
		g.mu.free = g.mu.free[n:]
		g.mu.Unlock()
		if len(batch) == 0 {
			got, err := g.ds.Fetch(ctx, total)
			if err != nil {
				g.logErr("reading messages for a shared group failed", err)
				return
			}
			if len(got) == 0 {
				return
			}
			batch = got
		}
		var sends []sharedSend
		k := 0
		for _, x := range batch {
			for takers[k].room == 0 {
				k = (k + 1) % len(takers)
			}
			if t := takers[k]; t.mem != nil {
				g.giveMemory(t.m, t.mem, x)
			} else if s, ok := g.give(t.m, t.d, x); ok {
				sends = append(sends, s)
			}
			takers[k].room--
			k = (k + 1) % len(takers)
		}
		if !g.send(sends) {
			return
		}
	}
}

// replay takes, once, the unfinished entries the previous process left: held ones go back to
// their members (restoreHolds), the others are handed out again.
func (g *sharedGroup) replay(ctx context.Context) error {
	g.mu.Lock()
	done := g.mu.replayed
	g.mu.Unlock()
	if done {
		return nil
	}
	rep, err := g.ds.Replay(ctx)
	if err != nil {
		return err
	}
	free := g.restoreHolds(rep, time.Now())
	g.mu.Lock()
	for _, x := range free {
		x.Dup = false
		g.mu.free = append(g.mu.free, x)
	}
	g.mu.replayed = true
	g.mu.Unlock()
	return nil
}

// sharedSend is a PUBLISH to send once its hold is recorded.
type sharedSend struct {
	c   *conn
	del delivery
}

// send sends the PUBLISHes of a dispatch round, once the holds of its QoS 2 ones are durable
// (a round of QoS 1 messages costs no extra commit). If that commit fails they are not sent
// (the members get them when they reconnect, from their in-flight tables) and the group stops
// handing out until the next round.
func (g *sharedGroup) send(sends []sharedSend) bool {
	held := slices.ContainsFunc(sends, func(s sharedSend) bool { return s.del.qos == mqtt.QoS2 })
	if held {
		if err := g.ds.Flush(); err != nil {
			g.logErr("recording a shared group's hand-outs failed", err)
			return false
		}
	}
	for _, s := range sends {
		s.c.sendPublish(s.del, false)
	}
	return true
}

func (g *sharedGroup) logErr(what string, err error) {
	if !errors.Is(err, durable.ErrSessionEnded) { // the last member left meanwhile
		g.b.srv.log.Error(what, "group", g.key, "err", err)
	}
}

// taker is an online member with room in its window: a durable session (d), or an in-memory
// one (mem).
type taker struct {
	m    subscriptions.Member
	d    *durableSession
	mem  *memSession
	room int
}

// takers returns the online members with room, starting one further each time so that the
// turns go round.
func (g *sharedGroup) takers() []taker {
	// The sessions are looked at without g.mu: a session's lock is taken before g.mu when its
	// connection leaves (detach → giveBack), never after.
	g.mu.Lock()
	n := len(g.mu.order)
	members := make([]subscriptions.Member, 0, n+len(g.mu.memMembers))
	for i := range n {
		members = append(members, g.mu.members[g.mu.order[(g.mu.rr+i)%n]])
	}
	members = append(members, g.mu.memMembers...)
	if n > 0 {
		g.mu.rr = (g.mu.rr + 1) % n
	}
	g.mu.Unlock()

	var out []taker
	for i, m := range members {
		if i < n {
			if d := g.b.durableSessionOf(m.ClientID); d != nil {
				if room := d.room(); room > 0 {
					out = append(out, taker{m: m, d: d, room: room})
				}
			}
			continue
		}
		if sess, ok := g.b.srv.session(m.ClientID).(*memSession); ok {
			if room := sess.sharedRoom(); room > 0 {
				out = append(out, taker{m: m, mem: sess, room: room})
			}
		}
	}
	return out
}

// give hands x to member d. A message the member takes at QoS 1/2 gets one of its packet ids
// (and a hold record, QoS 2); ok reports a PUBLISH for the caller to send (send). A QoS 0
// one is sent at once and done.
func (g *sharedGroup) give(m subscriptions.Member, d *durableSession, x durable.Delivery) (s sharedSend, ok bool) {
	msg := messageFromDS(&x.Message.Message, time.UnixMicro(int64(x.Message.Timestamp)))
	if msg.expired(time.Now()) {
		g.done1(x.PID)
		return sharedSend{}, false
	}
	del := delivery{msg: msg, qos: min(mqtt.QoS(x.QoS), mqtt.QoS(m.QoS)), // [MQTT-4.8.2-3] v5
		retain: x.Retain && m.RetainAsPublished}
	if m.SubscriptionID != 0 {
		del.subIDs = []uint32{m.SubscriptionID} // only the member's own (MQTT5 §4.8.2)
	}
	if del.qos == mqtt.QoS0 || x.PID == 0 {
		if !d.sendShared(del, 0, g, func(uint16) {}) {
			g.requeue(x)
			return sharedSend{}, false
		}
		g.done1(x.PID)
		return sharedSend{}, false
	}
	// The hand-out is recorded before the PUBLISH is sent, so that an acknowledgement finds it.
	// g.mu is not held while reserving: closing a connection that does not read leads back
	// here (detach → giveBack).
	c, del, ok := d.reserveShared(del, g, x.PID)
	if !ok {
		g.requeue(x)
		return sharedSend{}, false
	}
	h := &handout{x: x, member: m.ClientID, d: d, pid: del.pid, qos: del.qos, state: durable.StateSent, at: time.Now()}
	g.mu.Lock()
	g.mu.held[x.PID] = h
	if h.qos == mqtt.QoS2 {
		g.ds.PutHold(h.hold())
	}
	g.mu.Unlock()
	return sharedSend{c: c, del: del}, true
}

func (g *sharedGroup) requeue(x durable.Delivery) {
	g.mu.Lock()
	g.mu.free = append(g.mu.free, x)
	g.mu.Unlock()
}

// reserveShared gives a QoS 1/2 message of group g (its packet id gpid) a packet id of this
// session and registers it, without sending it: it returns the connection to send it on.
// ok is false when no connection is attached or no packet id is free.
func (d *durableSession) reserveShared(x delivery, g *sharedGroup, gpid uint16) (*conn, delivery, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.mu.conn
	if c == nil {
		return nil, x, false
	}
	pid, ok := d.ds.AddTransient(byte(x.qos))
	if !ok {
		return nil, x, false
	}
	x.pid, x.state = pid, stateSent
	d.mu.inflight[pid] = x
	d.mu.shared[pid] = sharedRef{g: g, pid: gpid}
	return c, x, true
}

// giveMemory hands x to an in-memory member: from then on it is that session's, with the
// in-memory guarantees (it is not offered to another member if the session ends unfinished),
// and the group's entry ends.
func (g *sharedGroup) giveMemory(m subscriptions.Member, sess *memSession, x durable.Delivery) {
	msg := messageFromDS(&x.Message.Message, time.UnixMicro(int64(x.Message.Timestamp)))
	if !msg.expired(time.Now()) {
		del := delivery{msg: msg, qos: min(mqtt.QoS(x.QoS), mqtt.QoS(m.QoS)), retain: x.Retain && m.RetainAsPublished}
		if m.SubscriptionID != 0 {
			del.subIDs = []uint32{m.SubscriptionID}
		}
		sess.deliver(del)
	}
	g.done1(x.PID)
}

func (g *sharedGroup) done1(pid uint16) {
	if pid != 0 {
		g.ds.Complete(pid)
	}
}

// reclaimOverdue takes back the QoS 1 messages of members that are offline or did not
// acknowledge within the timeout. A QoS 2 message stays with its member, to be completed when
// it returns [MQTT-4.8.2-4] v5, unless it is no member any more.
func (g *sharedGroup) reclaimOverdue(now time.Time) {
	g.mu.Lock()
	ids := make([]string, 0, len(g.mu.members))
	for id := range g.mu.members {
		ids = append(ids, id)
	}
	g.mu.Unlock()
	online := make(map[string]bool, len(ids)) // looked at without g.mu (see takers)
	for _, id := range ids {
		online[id] = g.b.durableSessionOf(id) != nil
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	for pid, h := range g.mu.held {
		_, member := g.mu.members[h.member]
		switch {
		case !member:
		case h.qos == mqtt.QoS2:
			continue
		case online[h.member] && now.Sub(h.at) < g.b.opts.SharedRedispatchTimeout:
			continue
		}
		delete(g.mu.held, pid)
		g.ds.DeleteHold(pid)
		if h.state == durable.StateReleased {
			g.ds.Complete(pid) // the member has the message; only its PUBCOMP was awaited
			continue
		}
		g.mu.free = append(g.mu.free, h.x)
	}
	// Oldest first, as they were published.
	slices.SortFunc(g.mu.free, func(a, b durable.Delivery) int { return cmp.Compare(a.Message.Timestamp, b.Message.Timestamp) })
}

// acked is called when member, holding the group's entry pid as its packet id mpid, is done
// with it or has received it, which the member's own in-flight state tells apart:
//   - PUBREC (its entry is released, the hand-out was not): from then on the message is
//     the member's alone; that is durable (the hold, released) before PUBREL goes out, and the
//     group still hears of the PUBCOMP.
//   - PUBACK, PUBCOMP, a refusing PUBREC [MQTT-4.8.2-6] v5 (its entry is gone), or the
//     member's session ending (the entry is still there) [MQTT-4.8.2-5] v5: the group's entry
//     ends.
func (g *sharedGroup) acked(pid uint16, member string, mpid uint16) {
	g.mu.Lock()
	h := g.mu.held[pid]
	if h == nil || h.member != member || h.pid != mpid {
		g.mu.Unlock()
		return
	}
	st, qos, found := h.d.ds.InflightState(mpid)
	if found && qos == 2 && st == durable.StateReleased && h.state == durable.StateSent {
		h.state = durable.StateReleased
		g.ds.PutHold(h.hold())
		g.mu.Unlock()
		if err := g.ds.Flush(); err != nil {
			g.logErr("recording a shared message's release failed", err)
		}
		h.d.mu.Lock()
		if h.d.mu.shared != nil {
			h.d.mu.shared[mpid] = sharedRef{g: g, pid: pid}
		}
		h.d.mu.Unlock()
		return
	}
	delete(g.mu.held, pid)
	g.ds.DeleteHold(pid)
	g.ds.Complete(pid)
	g.mu.Unlock()
	g.poke()
}

// giveBack returns the message member held as mpid to the group, for another member.
func (g *sharedGroup) giveBack(pid uint16, member string, mpid uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := g.mu.held[pid]; h != nil && h.member == member && h.pid == mpid {
		delete(g.mu.held, pid)
		g.ds.DeleteHold(pid)
		g.mu.free = append(g.mu.free, h.x)
		g.poke()
	}
}

// restoreHolds gives the messages held when the broker stopped back to their members, from the
// group's hold records and its unfinished entries rep (read again after the restart), and
// returns the entries held by no one. A hold whose member is gone (its session ended, or
// it left the group) or whose packet id its session cannot take again ends: its message is
// dropped [MQTT-4.8.2-5] v5. (A QoS 1 hold, which this build does not write, is handed out
// again.)
func (g *sharedGroup) restoreHolds(rep []durable.Delivery, now time.Time) (free []durable.Delivery) {
	byPID := make(map[uint16]durable.Delivery, len(rep))
	for _, x := range rep {
		byPID[x.PID] = x
	}
	for _, hd := range g.ds.Holds() {
		x, stored := byPID[hd.GroupPID]
		delete(byPID, hd.GroupPID)
		h := &handout{x: x, member: hd.Member, pid: hd.MemberPID, qos: mqtt.QoS(hd.QoS), state: hd.State, at: now}
		if !stored && h.state == durable.StateSent {
			g.ds.DeleteHold(hd.GroupPID) // retention dropped the message meanwhile
			continue
		}
		if h.qos == mqtt.QoS2 {
			h.d = g.restoreToMember(h)
		}
		if h.d == nil {
			g.ds.DeleteHold(hd.GroupPID)
			switch {
			case !stored:
			case h.qos == mqtt.QoS2:
				g.ds.Complete(hd.GroupPID)
			default:
				free = append(free, x)
			}
			continue
		}
		g.mu.Lock()
		g.mu.held[hd.GroupPID] = h
		g.mu.Unlock()
	}
	for _, x := range rep {
		if _, left := byPID[x.PID]; left {
			free = append(free, x)
		}
	}
	return free
}

// restoreToMember takes h's packet id again in its member's session and registers the
// delivery there, so that the member's next connection re-sends it (PUBLISH with DUP, or
// PUBREL once released); nil if it cannot.
func (g *sharedGroup) restoreToMember(h *handout) *durableSession {
	g.mu.Lock()
	m, member := g.mu.members[h.member]
	g.mu.Unlock()
	sess := g.b.srv.loadedSession(h.member)
	if !member || sess == nil {
		return nil
	}
	d, ok := sess.(*durableSession)
	if !ok || !d.ds.RestoreTransient(h.pid, byte(h.qos), h.state) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.shared[h.pid] = sharedRef{g: g, pid: h.x.PID}
	if h.state == durable.StateSent {
		x := &h.x
		del := delivery{msg: messageFromDS(&x.Message.Message, time.UnixMicro(int64(x.Message.Timestamp))),
			qos: h.qos, retain: x.Retain && m.RetainAsPublished, pid: h.pid, state: stateSent}
		if m.SubscriptionID != 0 {
			del.subIDs = []uint32{m.SubscriptionID}
		}
		d.mu.inflight[h.pid] = del
	}
	return d
}

// durableSessionOf returns client id's session when it is durable and online.
func (b *durableBroker) durableSessionOf(id string) *durableSession {
	d, ok := b.srv.session(id).(*durableSession)
	if !ok || !d.online() {
		return nil
	}
	return d
}

// joinGroup makes member a member of the durable group of f, opening the group when it is the
// first.
func (b *durableBroker) joinGroup(f topic.Filter, m subscriptions.Member) error {
	return b.joinGroupWhen(f, m, closedChan)
}

// closedChan is a ready channel for a group that may start at once.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// joinGroupWhen is joinGroup for a group that, if this opens it, hands out nothing before
// ready is closed.
func (b *durableBroker) joinGroupWhen(f topic.Filter, m subscriptions.Member, ready <-chan struct{}) error {
	b.groups.Lock()
	defer b.groups.Unlock()
	key := f.String()
	g := b.groups.m[key]
	if g == nil {
		id := durable.GroupSessionID(f.Group, f.Filter)
		st := b.store.Session(id)
		if st == nil {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			var err error
			if st, err = b.store.Create(ctx, id, durable.NeverExpire); err != nil {
				return err
			}
			// QoS 2 and Retain As Published: each member's own options cut them down.
			if _, err := st.Subscribe(durable.Subscription{Filter: f.Filter, QoS: 2, RetainAsPublished: true}); err != nil {
				return err
			}
		}
		g = &sharedGroup{b: b, key: key, name: f.Group, filter: f.Filter, ds: st,
			wake: make(chan struct{}, 1), done: make(chan struct{}), ready: ready}
		g.mu.members = map[string]subscriptions.Member{}
		g.mu.held = map[uint16]*handout{}
		b.groups.m[key] = g
		b.wg.Add(1)
		go g.run()
	}
	g.mu.Lock()
	if _, ok := g.mu.members[m.ClientID]; !ok {
		g.mu.order = append(g.mu.order, m.ClientID)
		slices.Sort(g.mu.order)
	}
	g.mu.members[m.ClientID] = m
	g.mu.Unlock()
	g.poke()
	return nil
}

// leaveGroup removes member from the group key; the last member leaving deletes the group and
// its backlog.
func (b *durableBroker) leaveGroup(key, member string) {
	b.groups.Lock()
	defer b.groups.Unlock()
	g := b.groups.m[key]
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.mu.members, member)
	g.mu.order = slices.DeleteFunc(g.mu.order, func(id string) bool { return id == member })
	last := len(g.mu.members) == 0
	g.mu.Unlock()
	if !last {
		g.poke()
		return
	}
	delete(b.groups.m, key)
	close(g.done)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := g.ds.Delete(ctx); err != nil {
		b.srv.log.Error("deleting a shared group failed", "group", key, "err", err)
	}
}

// pokeGroups wakes the durable groups st is a member of.
func (b *durableBroker) pokeGroups(st *durable.Session) {
	for _, sub := range st.Subscriptions() {
		if !durable.IsShared(sub.Filter) {
			continue
		}
		b.groups.Lock()
		g := b.groups.m[sub.Filter]
		b.groups.Unlock()
		if g != nil {
			g.poke()
		}
	}
}

// routeShared is routing's hook for a shared subscription: when sub is a durable group (its
// name, a filter matching the topic), the message is already stored and the group's loop hands
// it out, also to the members kept in memory, which the group learns here.
func (b *durableBroker) routeShared(sub *subscriptions.Subscriber, topicName string) bool {
	b.groups.Lock()
	defer b.groups.Unlock()
	found := false
	for _, g := range b.groups.m {
		if g.name == sub.Group && topic.Match(g.filter, topicName) && g.noteMembers(sub.Members) {
			g.poke()
			found = true
		}
	}
	return found
}

// noteMembers records which of members are not durable members, if members are this group's:
// the same share name on another filter that also matches is another subscription, told apart
// by its members (a durable group's durable members are always among its own).
func (g *sharedGroup) noteMembers(members []subscriptions.Member) (ours bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range members {
		if _, durable := g.mu.members[m.ClientID]; durable {
			ours = true
			break
		}
	}
	if !ours {
		return false
	}
	g.mu.memMembers = g.mu.memMembers[:0]
	for _, m := range members {
		if _, durable := g.mu.members[m.ClientID]; !durable {
			g.mu.memMembers = append(g.mu.memMembers, m)
		}
	}
	return true
}

// restoreGroups reopens the durable groups of the loaded sessions, gives the messages their
// members held back to them (before any client connects: a member's packet ids must be taken
// before its session hands out new ones), and deletes the stored groups left without members.
func (b *durableBroker) restoreGroups() {
	ready := make(chan struct{})
	defer close(ready)
	for _, st := range b.store.Sessions() {
		if _, _, ok := durable.ParseGroupSessionID(st.ClientID()); ok {
			continue
		}
		for _, sub := range st.Subscriptions() {
			if !durable.IsShared(sub.Filter) {
				continue
			}
			f, err := topic.ParseFilter(sub.Filter)
			if err == nil {
				err = b.joinGroupWhen(f, memberOf(st.ClientID(), sub), ready)
			}
			if err != nil {
				b.srv.log.Error("restoring a shared group", "client", st.ClientID(), "filter", sub.Filter, "err", err)
			}
		}
	}
	for _, st := range b.store.Sessions() {
		name, filter, ok := durable.ParseGroupSessionID(st.ClientID())
		if !ok {
			continue
		}
		b.groups.Lock()
		g := b.groups.m[topic.Filter{Group: name, Filter: filter}.String()]
		b.groups.Unlock()
		if g == nil {
			if err := st.Delete(context.Background()); err != nil {
				b.srv.log.Error("deleting a shared group without members", "group", filter, "err", err)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if err := g.replay(ctx); err != nil {
			g.logErr("reading a shared group's unfinished messages failed", err)
		}
		cancel()
	}
}

func memberOf(id string, sub durable.Subscription) subscriptions.Member {
	return subscriptions.Member{ClientID: id, QoS: sub.QoS, RetainAsPublished: sub.RetainAsPublished,
		SubscriptionID: sub.SubscriptionID}
}
