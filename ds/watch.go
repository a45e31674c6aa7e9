package ds

// Watcher tells a consumer that a shard has committed new data, so that it need not poll.
//
// C receives a value after a commit of the shard becomes visible to readers. Notifications
// coalesce: a consumer that is busy while several commits happen finds one value waiting, so it
// should read until it has caught up (Next returns no message) before waiting on C again. C is
// closed by Close and when the DB closes.
//
// A Watcher is safe for use by several goroutines; usually one owns it.
type Watcher struct {
	C <-chan struct{}

	c      chan struct{}
	s      *shard
	closed bool // guarded by s.watchers
}

// Watch returns a Watcher for shard. Close it when done.
func (d *DB) Watch(shard int) (*Watcher, error) {
	s, err := d.shard(shard)
	if err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, s: s}
	s.watchers.Lock()
	defer s.watchers.Unlock()
	if d.closed.Load() {
		return nil, ErrClosed
	}
	s.watchers.set[w] = struct{}{}
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
		close(w.c)
	}
}

// notify wakes every watcher of the shard without blocking.
func (s *shard) notify() {
	s.watchers.Lock()
	defer s.watchers.Unlock()
	for w := range s.watchers.set {
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}
