package lts

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// EdgeKind says what an edge of the trie is labelled with.
type EdgeKind uint8

// Edge kinds. The values are persisted (see Op) and must not change.
const (
	// EdgeEnd is the end-of-topic edge; its target's id is the topic's static index.
	EdgeEnd EdgeKind = 1
	// EdgeConcrete is labelled with one topic level.
	EdgeConcrete EdgeKind = 2
	// EdgePlus is the learned wildcard: it carries every level without a concrete edge.
	EdgePlus EdgeKind = 3
	// EdgeDollar leads from the root (id 0) to the root of topics starting with '$'.
	EdgeDollar EdgeKind = 4
)

func (k EdgeKind) String() string {
	switch k {
	case EdgeEnd:
		return "end"
	case EdgeConcrete:
		return "concrete"
	case EdgePlus:
		return "+"
	case EdgeDollar:
		return "$"
	}
	return fmt.Sprintf("EdgeKind(%d)", uint8(k))
}

// FormatVersion versions the persisted encoding of ops. It only moves forward: a trie must be
// able to decode every version up to FormatCurrent.
type FormatVersion uint8

const (
	// FormatV1 is the first op encoding (described on Op).
	FormatV1 FormatVersion = 1
	// FormatCurrent is the version AppendValue writes.
	FormatCurrent = FormatV1
)

// Lengths of the fixed parts of the op encoding.
const (
	opIDLen       = 8
	opKeyFixedLen = opIDLen + 1 // parent + kind
	opValueLen    = 1 + opIDLen // version + child
)

// maxLabelInString bounds the label bytes Op.String prints (labels may be 64 KiB long).
const maxLabelInString = 40

// Op records one edge of the trie: the unit that Learn produces, that is persisted, and that
// Apply replays. An op is a fact about the trie ("the edge of this kind and label leaving
// Parent leads to Child"), so replaying it is idempotent.
//
// Persisted form (the layout prepends its own key prefix; integers are big-endian):
//
//	key suffix (AppendKey):
//	+--------------+---------+------------------------------------+
//	| parent (8 B) | kind(1) | label (EdgeConcrete only, 0..n B)  |
//	+--------------+---------+------------------------------------+
//	value (AppendValue):
//	+------------------+-------------+
//	| format version(1)| child (8 B) |
//	+------------------+-------------+
//
// Key order is parent order, and a child's id is always larger than its parent's, so a scan of
// the persisted ops in key order replays every edge after the edge that created its parent.
//
// Invariants checked by DecodeOp and Apply: Child > Parent; Label is empty unless Kind is
// EdgeConcrete, and a concrete label is a valid topic level; EdgeDollar leaves the root only;
// the root's concrete labels do not start with '$' and the '$' root's all do; no end-of-topic
// edge leaves either root (a topic has at least one level).
type Op struct {
	Parent Index
	Kind   EdgeKind
	Label  string
	Child  Index
}

func (op Op) String() string {
	switch op.Kind {
	case EdgeConcrete:
		l := op.Label
		if len(l) > maxLabelInString {
			l = l[:maxLabelInString] + "…"
		}
		return fmt.Sprintf("%d -%q-> %d", op.Parent, l, op.Child)
	default:
		return fmt.Sprintf("%d -%s-> %d", op.Parent, op.Kind, op.Child)
	}
}

// AppendKey appends the op's key suffix to dst and returns the extended slice.
func (op Op) AppendKey(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(op.Parent))
	dst = append(dst, byte(op.Kind))
	if op.Kind == EdgeConcrete {
		dst = append(dst, op.Label...)
	}
	return dst
}

// AppendValue appends the op's value (in FormatCurrent) to dst and returns the extended slice.
func (op Op) AppendValue(dst []byte) []byte {
	dst = append(dst, byte(FormatCurrent))
	return binary.BigEndian.AppendUint64(dst, uint64(op.Child))
}

// DecodeOp decodes an op from its key suffix and value. An error wraps ErrCorrupt. The op does
// not retain keySuffix or value.
func DecodeOp(keySuffix, value []byte) (Op, error) {
	if len(keySuffix) < opKeyFixedLen {
		return Op{}, corruptf("key suffix of %d bytes, want at least %d", len(keySuffix), opKeyFixedLen)
	}
	if len(value) == 0 {
		return Op{}, corruptf("empty value")
	}
	if v := FormatVersion(value[0]); v != FormatV1 {
		return Op{}, corruptf("unknown format version %d", v)
	}
	if len(value) != opValueLen {
		return Op{}, corruptf("value of %d bytes, want %d", len(value), opValueLen)
	}
	op := Op{
		Parent: Index(binary.BigEndian.Uint64(keySuffix)),
		Kind:   EdgeKind(keySuffix[opIDLen]),
		Child:  Index(binary.BigEndian.Uint64(value[1:])),
	}
	label := keySuffix[opKeyFixedLen:]
	if op.Kind == EdgeConcrete {
		op.Label = string(label)
	} else if len(label) != 0 {
		return Op{}, corruptf("%s edge with a %d-byte label", op.Kind, len(label))
	}
	if err := op.check(); err != nil {
		return Op{}, err
	}
	return op, nil
}

// check verifies the invariants an op holds on its own.
func (op Op) check() error {
	switch op.Kind {
	case EdgeEnd, EdgePlus:
		if op.Label != "" {
			return corruptf("op %s: label on a %s edge", op, op.Kind)
		}
	case EdgeConcrete:
		if !validLevel(op.Label) {
			return corruptf("op %s: label is not a topic level", op)
		}
		if op.Parent == rootIndex && isDollar(op.Label) {
			return corruptf("op %s: '$' label at the root", op)
		}
	case EdgeDollar:
		if op.Parent != rootIndex || op.Label != "" {
			return corruptf("op %s: '$' edge must leave the root, unlabelled", op)
		}
	default:
		return corruptf("op %s: unknown edge kind", op)
	}
	if op.Kind == EdgeEnd && op.Parent == rootIndex {
		return corruptf("op %s: end of topic at the root", op)
	}
	if op.Child <= op.Parent {
		return corruptf("op %s: child id not above parent id", op)
	}
	return nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Apply replays one op: restoring a trie from its persisted ops (in key order, or the order
// Learn produced them), catching up a replica, or inheriting WildcardOps in a new generation.
// The op's ids are kept as they are; later allocations continue above the largest id seen.
//
// Applying an op that is already in the trie does nothing. Errors: ErrCorrupt for an op that
// breaks an invariant or contradicts the trie (unknown parent, the edge already leads to
// another id, the id already names another state, a concrete edge at a node that already has
// its '+' edge, a '+' edge beyond MaxVarying);
// ErrIndexExhausted for an id at or above MaxIndex. On error nothing changes. Apply is a
// writer (see Trie).
func (t *Trie) Apply(op Op) error {
	if err := op.check(); err != nil {
		return err
	}
	if op.Child >= t.opts.MaxIndex {
		return fmt.Errorf("%w: op %s: id %d at or above MaxIndex %d", ErrIndexExhausted, op, op.Child, t.opts.MaxIndex)
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()

	parent := t.byID[op.Parent]
	if parent == nil || parent.id != op.Parent {
		return corruptf("op %s: parent %d is not a state of the trie", op, op.Parent)
	}
	if to, ok := t.edgeTargetOf(parent, op); ok {
		if to == op.Child {
			return nil
		}
		return corruptf("op %s: edge already leads to %d", op, to)
	}
	if _, used := t.byID[op.Child]; used {
		return corruptf("op %s: id %d already names another state", op, op.Child)
	}
	if op.Kind == EdgeConcrete && parent.plus != nil {
		// Learn creates a node's concrete edges before its '+' edge, and every op order we
		// produce (Learn order, key order, Ops order) keeps that: see the invariants on node.
		return corruptf("op %s: concrete edge after the '+' edge of %d", op, op.Parent)
	}
	if t.dollar != nil && parent == t.dollar {
		if op.Kind == EdgeEnd || (op.Kind == EdgeConcrete && !isDollar(op.Label)) {
			return corruptf("op %s: the '$' root only has concrete '$' levels and '+'", op)
		}
	}
	if op.Kind == EdgePlus && int(parent.varying) >= t.opts.MaxVarying {
		return corruptf("op %s: '+' edge beyond MaxVarying %d", op, t.opts.MaxVarying)
	}

	t.mu.Lock()
	t.applyLocked(parent, op)
	t.mu.Unlock()
	t.checkAfterWrite()
	return nil
}

// edgeTargetOf returns where the edge named by op (its kind and label) leaving parent leads
// today, if it exists.
func (t *Trie) edgeTargetOf(parent *node, op Op) (Index, bool) {
	switch op.Kind {
	case EdgeEnd:
		return parent.eot, parent.eot != 0
	case EdgeConcrete:
		if c := parent.child(op.Label); c != nil {
			return c.id, true
		}
	case EdgePlus:
		if parent.plus != nil {
			return parent.plus.id, true
		}
	case EdgeDollar:
		if t.dollar != nil {
			return t.dollar.id, true
		}
	}
	return 0, false
}

// applyLocked adds the (checked, new) edge. The caller holds writeMu and mu.
func (t *Trie) applyLocked(parent *node, op Op) {
	reg := parent
	switch op.Kind {
	case EdgeEnd:
		parent.eot = op.Child
		t.counts.streams++
	case EdgeConcrete:
		c := &node{id: op.Child, varying: parent.varying}
		label := strings.Clone(op.Label)
		t.counts.kidsBytes += parent.addChild(label, c)
		t.counts.labelBytes += int64(len(label))
		t.counts.concrete++
		t.counts.nodes++
		reg = c
	case EdgePlus:
		c := &node{id: op.Child, varying: parent.varying + 1}
		parent.plus = c
		t.counts.plus++
		t.counts.nodes++
		reg = c
	case EdgeDollar:
		t.dollar = &node{id: op.Child}
		t.counts.dollar++
		t.counts.nodes++
		reg = t.dollar
	}
	t.byID[op.Child] = reg
	if op.Child >= t.next {
		t.next = op.Child + 1
	}
}

// Ops returns ops that rebuild the whole trie with the same ids, parents before children
// (edges of one node: end of topic, concrete in label order, '+'). Use it for snapshots and
// checks; the layout normally persists the ops Learn returns. Safe for concurrent use.
func (t *Trie) Ops() []Op {
	return t.collect(true)
}

// WildcardOps returns the ops that rebuild only the paths that contain a '+' edge: every '+'
// edge, the path that leads to it and the whole subtree below it, with their ids. A new
// generation applies them to inherit the learned structure (and keep the static indexes of the
// inherited streams) while forgetting concrete-only topics. Same order as Ops. Safe for
// concurrent use.
func (t *Trie) WildcardOps() []Op {
	return t.collect(false)
}

func (t *Trie) collect(all bool) []Op {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ops, _ := collect(nil, t.root, all)
	if t.dollar != nil {
		mark := len(ops)
		ops = append(ops, Op{Parent: rootIndex, Kind: EdgeDollar, Child: t.dollar.id})
		var kept bool
		if ops, kept = collect(ops, t.dollar, all); !kept && !all {
			ops = ops[:mark]
		}
	}
	return ops
}

// collect appends the ops of the edges below n in preorder: all of them when keepAll, else the
// edges on paths that contain a '+' edge. It reports whether it appended anything.
func collect(ops []Op, n *node, keepAll bool) ([]Op, bool) {
	mark := len(ops)
	if n.eot != 0 && keepAll {
		ops = append(ops, Op{Parent: n.id, Kind: EdgeEnd, Child: n.eot})
	}
	for _, e := range n.sortedKids() {
		before := len(ops)
		ops = append(ops, Op{Parent: n.id, Kind: EdgeConcrete, Label: e.label, Child: e.child.id})
		var kept bool
		if ops, kept = collect(ops, e.child, keepAll); !kept && !keepAll {
			ops = ops[:before]
		}
	}
	if n.plus != nil {
		ops = append(ops, Op{Parent: n.id, Kind: EdgePlus, Child: n.plus.id})
		ops, _ = collect(ops, n.plus, true)
	}
	return ops, len(ops) > mark
}
