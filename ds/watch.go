package ds

// Watcher tells a consumer that a shard has committed new data, so that it need not poll.
//
// C receives a value after a commit of the shard becomes visible to readers: any commit for a
// Watcher from Watch, only a commit that carries messages for one from WatchMessages.
// Notifications coalesce: a consumer that is busy while several commits happen finds one value
// waiting, so it should read until it has caught up (Next returns no message) before waiting on
// C again. C is closed by Close and when the DB closes.
//
// A Watcher is safe for use by several goroutines; usually one owns it.
type Watcher struct {
	C <-chan struct{}

	c      chan struct{}
	s      *shard
	closed bool // guarded by s.watchers

	// messagesOnly skips commits that did not move the shard's visible timestamp (KV-only
	// flushes). Immutable.
	messagesOnly bool
	// seen is the visible timestamp of the last notification. Guarded by s.watchers.
	seen uint64
}

// Watch returns a Watcher for shard that signals every commit: messages and KV writes. Close
// it when done.
func (d *DB) Watch(shard int) (*Watcher, error) {
	return d.watch(shard, false)
}

// WatchMessages returns a Watcher for shard that signals only commits that carry messages, so
// that a reader of messages is not woken by KV bookkeeping (session state, cursors) committed
// on the same shard. Close it when done.
//
// A message commit always moves the shard's committed high-water mark, and a KV-only commit
// never does; the watcher signals when the mark has moved since its last signal. Adding a
// generation moves the mark too, so the first commit after a rotation may signal without a
// message: at most one spurious wake-up per generation.
func (d *DB) WatchMessages(shard int) (*Watcher, error) {
	return d.watch(shard, true)
}

func (d *DB) watch(shard int, messagesOnly bool) (*Watcher, error) {
	s, err := d.shard(shard)
	if err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, s: s, messagesOnly: messagesOnly}
	s.watchers.Lock()
	defer s.watchers.Unlock()
	if d.closed.Load() {
		return nil, ErrClosed
	}
	// Read under the lock that notify holds: a commit that lands after this is signalled.
	w.seen = s.visible.Load()
	s.watchers.set[w] = struct{}{}
	if !messagesOnly {
		s.watchers.plain++
	}
	// A store that may not hold the shard (now or later) follows the commits of a replica that
	// does while it has watchers.
	if rr, ok := d.opts.Forwarder.(RemoteReader); ok && !s.watchers.polling {
		s.watchers.polling = true
		go s.pollRemote(rr)
	}
	return w, nil
}

// Close stops notifications and closes C. Closing twice is harmless.
func (w *Watcher) Close() {
	w.s.watchers.Lock()
	defer w.s.watchers.Unlock()
	w.closeLocked()
}

func (w *Watcher) closeLocked() {
	if !w.closed {
		w.closed = true
		delete(w.s.watchers.set, w)
		if !w.messagesOnly {
			w.s.watchers.plain--
		}
		close(w.c)
	}
}

// notify wakes the shard's watchers without blocking: every plain watcher, and the
// messages-only watchers when the visible timestamp moved since their last signal. The
// completer calls it after storing the new visible timestamp.
func (s *shard) notify() {
	s.watchers.Lock()
	defer s.watchers.Unlock()
	visible := s.visible.Load()
	s.watchers.commits++
	for w := range s.watchers.set {
		if w.messagesOnly {
			if visible == w.seen {
				continue // not "<=": were the mark ever reset lower, later commits must still wake
			}
			w.seen = visible
		}
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}
