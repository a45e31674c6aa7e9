package durable

import (
	"fmt"
	"maps"
	"slices"
)

// kindHold keys the hand-out records of a group session (format v3).
const kindHold = 'h'

// Hold records that a member of a durable shared group holds one of the group's messages: the
// group's in-flight entry GroupPID was sent to Member under the member's packet id MemberPID.
// The group writes it before the PUBLISH goes out, and again (State released) before the
// member's PUBREL goes out, so that after a restart a QoS 2 message is completed with the
// member that has it and with no one else [MQTT-4.8.2-4], [MQTT-4.8.2-5] v5, and the member
// gets its message again with the same packet id [MQTT-4.4.0-1]. (The broker writes holds for
// QoS 2 deliveries only; the format also takes QoS 1.)
//
// Encoded in the group's session, one record per hand-out:
//
//	key:   | 'h' | len(group id) | group id | group packet id (BE16) |
//	value: | v (3) | len(member) | member | member packet id | QoS | state |
//
// Integers are uvarints; QoS is 1 or 2, state 1 (sent) or 2 (released, QoS 2 only).
type Hold struct {
	GroupPID  uint16
	Member    string
	MemberPID uint16
	QoS       byte
	State     State
}

func (h *Hold) validate() error {
	switch {
	case h.GroupPID == 0 || h.MemberPID == 0:
		return fmt.Errorf("%w: hold with packet id 0", ErrCorruption)
	case h.Member == "":
		return fmt.Errorf("%w: hold without a member", ErrCorruption)
	case h.QoS != 1 && h.QoS != 2:
		return fmt.Errorf("%w: hold of QoS %d", ErrCorruption, h.QoS)
	case h.State != StateSent && !(h.State == StateReleased && h.QoS == 2):
		return fmt.Errorf("%w: hold of QoS %d in state %d", ErrCorruption, h.QoS, h.State)
	}
	return nil
}

func encodeHold(h *Hold) []byte {
	var e encoder
	e.version()
	e.string(h.Member)
	e.uvarint(uint64(h.MemberPID))
	e.byte(h.QoS)
	e.byte(byte(h.State))
	return e.b
}

// decodeHold decodes the hold of group packet id gpid (the key's rest, two bytes).
func decodeHold(rest, b []byte) (Hold, error) {
	if len(rest) != 2 {
		return Hold{}, fmt.Errorf("%w: hold key with a packet id of %d bytes", ErrCorruption, len(rest))
	}
	d := decoder{b: b}
	d.versionAtLeast(FormatV3)
	h := Hold{GroupPID: uint16(rest[0])<<8 | uint16(rest[1])}
	h.Member = d.string()
	h.MemberPID = d.u16()
	h.QoS = d.byte()
	h.State = State(d.byte())
	if err := d.done(); err != nil {
		return Hold{}, err
	}
	return h, h.validate()
}

// loadHold takes a hold record at open.
func (s *Session) loadHold(rest, value []byte) error {
	h, err := decodeHold(rest, value)
	if err != nil {
		return err
	}
	if s.mu.holds == nil {
		s.mu.holds = map[uint16]Hold{}
	}
	s.mu.holds[h.GroupPID] = h
	return nil
}

// PutHold records (or replaces) the hold of the group's packet id h.GroupPID; it is durable
// after the next commit (Flush waits for it). A bad Hold is a programming error and panics.
func (s *Session) PutHold(h Hold) {
	if err := h.validate(); err != nil {
		panic(fmt.Sprintf("durable: PutHold: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ended {
		return
	}
	if s.mu.holds == nil {
		s.mu.holds = map[uint16]Hold{}
	}
	s.mu.holds[h.GroupPID] = h
	s.mu.pending[string(pidKey(kindHold, s.id, h.GroupPID))] = encodeHold(&h)
	s.scheduleLocked()
}

// DeleteHold forgets the hold of the group's packet id gpid; durable within one commit.
func (s *Session) DeleteHold(gpid uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.holds[gpid]; !ok || s.mu.ended {
		return
	}
	delete(s.mu.holds, gpid)
	s.mu.pending[string(pidKey(kindHold, s.id, gpid))] = nil
	s.scheduleLocked()
}

// Holds returns the recorded holds, by group packet id.
func (s *Session) Holds() []Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Hold, 0, len(s.mu.holds))
	for _, pid := range slices.Sorted(maps.Keys(s.mu.holds)) {
		out = append(out, s.mu.holds[pid])
	}
	return out
}

// holdKeysLocked lists the keys of the loaded holds (Session.ownedKeys).
func (s *Session) holdKeysLocked() [][]byte {
	out := make([][]byte, 0, len(s.mu.holds))
	for pid := range s.mu.holds {
		out = append(out, pidKey(kindHold, s.id, pid))
	}
	return out
}

// RestoreTransient gives packet id pid back to a transient delivery of QoS qos in state,
// after a restart: a shared group's message that a member held (Hold.MemberPID). It reports
// false when pid is 0 or already in flight. Replay then returns it as Transient, or as Released
// in state StateReleased.
func (s *Session) RestoreTransient(pid uint16, qos byte, state State) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, used := s.mu.inflight[pid]; used || pid == 0 || s.mu.ended {
		return false
	}
	s.mu.seq++
	s.mu.inflight[pid] = &inflight{pid: pid, seq: s.mu.seq, qos: qos, state: state, transient: true}
	return true
}
