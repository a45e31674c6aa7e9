package mqttbench

import "sort"

// Arrival classifies one received sequence number.
type Arrival uint8

const (
	// InOrder: first time seen, and higher than every sequence number seen before it.
	InOrder Arrival = iota
	// Reordered: first time seen, but some higher sequence number arrived earlier.
	Reordered
	// Duplicate: seen before.
	Duplicate
)

func (a Arrival) String() string {
	switch a {
	case InOrder:
		return "in-order"
	case Reordered:
		return "reordered"
	default:
		return "duplicate"
	}
}

// SeqTracker counts, exactly, what one receiver got from one publisher: distinct, duplicate and
// reordered sequence numbers. Sequence numbers start at 1.
//
// It keeps the set of sequence numbers seen as sorted, disjoint runs of consecutive numbers. In-order
// delivery only ever extends the last run, so the common case is O(1) and the memory is proportional
// to the number of gaps (lost or still-reordered messages), not to the number of messages.
//
// A SeqTracker is not safe for concurrent use; each receiving client owns its trackers.
type SeqTracker struct {
	// runs holds the numbers seen.
	// Invariant: runs[i].hi+1 < runs[i+1].lo (sorted, disjoint and never adjacent).
	runs []seqRun

	distinct, duplicates, reordered uint64
}

type seqRun struct{ lo, hi uint64 } // inclusive bounds

// Observe records one received sequence number and says how it arrived. Sequence number 0 is not
// produced by publishers; it is counted as a duplicate so that it can never inflate the distinct count.
func (t *SeqTracker) Observe(seq uint64) Arrival {
	a := t.observe(seq)
	switch a {
	case InOrder:
		t.distinct++
	case Reordered:
		t.distinct++
		t.reordered++
	case Duplicate:
		t.duplicates++
	}
	return a
}

func (t *SeqTracker) observe(seq uint64) Arrival {
	if seq == 0 {
		return Duplicate
	}
	n := len(t.runs)
	// Fast path: the next number after everything seen, or a jump forward past a gap.
	if n == 0 || seq > t.runs[n-1].hi {
		if n > 0 && seq == t.runs[n-1].hi+1 {
			t.runs[n-1].hi = seq
		} else {
			t.runs = append(t.runs, seqRun{seq, seq})
		}
		return InOrder
	}
	// seq is at or below the highest number seen. i is the first run that ends at or after seq.
	i := sort.Search(n, func(i int) bool { return t.runs[i].hi >= seq })
	if t.runs[i].lo <= seq {
		return Duplicate
	}
	// seq falls in the gap just before runs[i]: extend a neighbour, merge two, or insert a run.
	joinsPrev := i > 0 && t.runs[i-1].hi+1 == seq
	joinsNext := t.runs[i].lo == seq+1
	switch {
	case joinsPrev && joinsNext:
		t.runs[i-1].hi = t.runs[i].hi
		t.runs = append(t.runs[:i], t.runs[i+1:]...)
	case joinsPrev:
		t.runs[i-1].hi = seq
	case joinsNext:
		t.runs[i].lo = seq
	default:
		t.runs = append(t.runs, seqRun{})
		copy(t.runs[i+1:], t.runs[i:])
		t.runs[i] = seqRun{seq, seq}
	}
	return Reordered
}

// Distinct is the number of different sequence numbers received.
func (t *SeqTracker) Distinct() uint64 { return t.distinct }

// Duplicates is the number of receipts of a sequence number already received.
func (t *SeqTracker) Duplicates() uint64 { return t.duplicates }

// Reordered is the number of first receipts that came after a higher sequence number.
func (t *SeqTracker) Reordered() uint64 { return t.reordered }

// Highest is the highest sequence number received, or 0.
func (t *SeqTracker) Highest() uint64 {
	if len(t.runs) == 0 {
		return 0
	}
	return t.runs[len(t.runs)-1].hi
}

// Lost is how many of the sequence numbers 1..sent never arrived. When the publisher's count is not
// known (a separate publishing process), pass Highest(): that counts the gaps, but not a lost tail.
func (t *SeqTracker) Lost(sent uint64) uint64 {
	var got uint64
	for _, r := range t.runs {
		if r.lo > sent {
			break
		}
		got += min(r.hi, sent) - r.lo + 1
	}
	return sent - got
}

// LostOf is how many of the sequence numbers in want (typically the ones a QoS 1/2 publisher had
// acknowledged) never arrived here. It walks both run lists once.
func (t *SeqTracker) LostOf(want *SeqTracker) uint64 {
	var common uint64
	i, j := 0, 0
	for i < len(t.runs) && j < len(want.runs) {
		a, b := t.runs[i], want.runs[j]
		if lo, hi := max(a.lo, b.lo), min(a.hi, b.hi); lo <= hi {
			common += hi - lo + 1
		}
		if a.hi < b.hi {
			i++
		} else {
			j++
		}
	}
	return want.distinct - common
}

// Contains reports whether seq was received.
func (t *SeqTracker) Contains(seq uint64) bool {
	i := sort.Search(len(t.runs), func(i int) bool { return t.runs[i].hi >= seq })
	return i < len(t.runs) && t.runs[i].lo <= seq
}
