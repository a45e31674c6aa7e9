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
// Which member holds a message lives in memory only: a restart leaves every member offline, so
// every entry is handed out again (Replay of the group's session).
type sharedGroup struct {
	b      *durableBroker
	key    string // canonical "$share/{name}/{filter}"
	name   string
	filter string
	ds     *durable.Session
	wake   chan struct{}
	done   chan struct{}

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

// handout is a message given to a member and not yet acknowledged.
type handout struct {
	x      durable.Delivery // PID is the group's packet id
	member string
	pid    uint16   // the member's packet id
	qos    mqtt.QoS // the member's delivery QoS
	at     time.Time
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
// one read for all of them (one commit), the messages then dealt out in turn.
func (g *sharedGroup) dispatch() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if !g.mu.replayed {
		rep, err := g.ds.Replay(ctx)
		if err != nil {
			g.logErr("reading a shared group's unfinished messages failed", err)
			return
		}
		g.mu.Lock()
		for _, x := range rep {
			x.Dup = false
			g.mu.free = append(g.mu.free, x)
		}
		g.mu.replayed = true
		g.mu.Unlock()
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
		k := 0
		for _, x := range batch {
			for takers[k].room == 0 {
				k = (k + 1) % len(takers)
			}
			if t := takers[k]; t.mem != nil {
				g.giveMemory(t.m, t.mem, x)
			} else {
				g.give(t.m, t.d, x)
			}
			takers[k].room--
			k = (k + 1) % len(takers)
		}
	}
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
		if sess := g.b.srv.session(m.ClientID); sess != nil && sess.dur.Load() == nil {
			if room := memoryRoom(sess); room > 0 {
				out = append(out, taker{m: m, mem: sess, room: room})
			}
		}
	}
	return out
}

// memoryRoom is how many messages an online in-memory member takes from a durable group now:
// what its queue holds (MaxQueued) minus what it has queued or in flight, so that the group's
// backlog stays in storage rather than overflowing the member's queue. Its acknowledgements do
// not wake the group; routing and the group's timer do.
func memoryRoom(sess *memSession) int {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.mu.conn == nil || sess.mu.ended {
		return 0
	}
	return sess.srv.opts.MaxQueued - len(sess.mu.queue) - len(sess.mu.inflight)
}

// give hands x to member d. A message the member takes at QoS 0 is done once sent.
func (g *sharedGroup) give(m subscriptions.Member, d *durableSession, x durable.Delivery) {
	msg := messageFromDS(&x.Message.Message, time.UnixMicro(int64(x.Message.Timestamp)))
	if msg.expired(time.Now()) {
		g.done1(x.PID)
		return
	}
	del := delivery{msg: msg, qos: min(mqtt.QoS(x.QoS), mqtt.QoS(m.QoS)), // [MQTT-4.8.2-3] v5
		retain: x.Retain && m.RetainAsPublished}
	if m.SubscriptionID != 0 {
		del.subIDs = []uint32{m.SubscriptionID} // only the member's own (MQTT5 §4.8.2)
	}
	// The hand-out is recorded before the PUBLISH is queued, so an acknowledgement can find it.
	// g.mu is not held while sending: closing a connection that does not read leads back here
	// (detach → giveBack).
	ok := d.sendShared(del, x.PID, g, func(pid uint16) {
		if x.PID != 0 && pid != 0 {
			g.mu.Lock()
			g.mu.held[x.PID] = &handout{x: x, member: m.ClientID, pid: pid, qos: del.qos, at: time.Now()}
			g.mu.Unlock()
		}
	})
	switch {
	case !ok:
		g.mu.Lock()
		g.mu.free = append(g.mu.free, x)
		g.mu.Unlock()
	case del.qos == mqtt.QoS0 && x.PID != 0:
		g.ds.Complete(x.PID)
	}
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
		sess.deliverFlow(del)
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
		g.mu.free = append(g.mu.free, h.x)
	}
	// Oldest first, as they were published.
	slices.SortFunc(g.mu.free, func(a, b durable.Delivery) int { return cmp.Compare(a.Message.Timestamp, b.Message.Timestamp) })
}

// acked ends the group's entry pid if member still holds it as its packet id mpid (PUBACK,
// PUBREC: from then on a QoS 2 message stays with its member [MQTT-4.8.2-4] v5).
func (g *sharedGroup) acked(pid uint16, member string, mpid uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := g.mu.held[pid]; h != nil && h.member == member && h.pid == mpid {
		delete(g.mu.held, pid)
		g.ds.Complete(pid)
		g.poke()
	}
}

// giveBack returns the message member held as mpid to the group, for another member.
func (g *sharedGroup) giveBack(pid uint16, member string, mpid uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := g.mu.held[pid]; h != nil && h.member == member && h.pid == mpid {
		delete(g.mu.held, pid)
		g.mu.free = append(g.mu.free, h.x)
		g.poke()
	}
}

// durableSessionOf returns the durable side of client id's session when it is online.
func (b *durableBroker) durableSessionOf(id string) *durableSession {
	sess := b.srv.session(id)
	if sess == nil {
		return nil
	}
	d := sess.dur.Load()
	if d == nil || !d.attached() {
		return nil
	}
	return d
}

// joinGroup makes member a member of the durable group of f, opening the group when it is the
// first.
func (b *durableBroker) joinGroup(f topic.Filter, m subscriptions.Member) error {
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
			wake: make(chan struct{}, 1), done: make(chan struct{})}
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

// restoreGroups reopens the durable groups of the loaded sessions and deletes the stored groups
// left without members.
func (b *durableBroker) restoreGroups() {
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
				err = b.joinGroup(f, memberOf(st.ClientID(), sub))
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
		}
	}
}

func memberOf(id string, sub durable.Subscription) subscriptions.Member {
	return subscriptions.Member{ClientID: id, QoS: sub.QoS, RetainAsPublished: sub.RetainAsPublished,
		SubscriptionID: sub.SubscriptionID}
}
