package listeners

import "time"

// acceptRetryDelay is how long an accept loop waits after a transient error.
const acceptRetryDelay = 50 * time.Millisecond

// pause waits acceptRetryDelay and reports false if the listener closed meanwhile.
func pause(closed <-chan struct{}) bool {
	t := time.NewTimer(acceptRetryDelay)
	defer t.Stop()
	select {
	case <-closed:
		return false
	case <-t.C:
		return true
	}
}
