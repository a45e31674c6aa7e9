package layout

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout kinds accepted in Options.Kind.
const (
	// KindWildcardOptimized is the bitfield-LTS layout: one stream per learned topic structure,
	// keys that let a reader jump over topics its filter excludes. The default.
	KindWildcardOptimized = "wildcard_optimized"
	// KindReference stores every message in one stream in timestamp order and filters by
	// scanning. It is the baseline the wildcard layout is tested against.
	KindReference = "reference"
)

// NoEpochBits asks for an epoch of a single microsecond (epoch_bits = 0). The zero value of
// Options.EpochBits means "the default" (20), so zero itself needs this spelling.
const NoEpochBits = -1

// Defaults and limits of Options.
const (
	DefaultTopicIndexBytes   = 4
	DefaultBitsPerTopicLevel = 64
	DefaultEpochBits         = 20

	// MaxVarying is the largest number of learned wildcard levels one stream may have. Each one
	// adds BitsPerTopicLevel bits to every key of the stream.
	MaxVarying = 10
)

// DefaultThresholds are the LTS learning thresholds: at the root the 101st distinct first level
// goes through a learned wildcard; at every deeper level the 21st.
var DefaultThresholds = []int{100, 20}

// Options configure the layout of one generation. ds persists them with the generation
// (MarshalBinary) and passes them back to Open.
//
// A zero field means that field's default; EnsureDefaults fills them in. Validate reports every
// problem at once.
type Options struct {
	// Kind is KindWildcardOptimized (default) or KindReference.
	Kind string
	// TopicIndexBytes is the width of the stream's static index in the key, 1..8 (default 4).
	// It bounds the number of distinct streams of one generation to 2^(8·TopicIndexBytes)-1.
	TopicIndexBytes int
	// BitsPerTopicLevel is the width of the hash of one varying topic level in the key, 8..64
	// (default 64). Narrower hashes make keys shorter and collisions more frequent; collisions
	// cost reads, never correctness.
	BitsPerTopicLevel int
	// EpochBits splits the timestamp: inside one epoch of 2^EpochBits µs, keys of a wildcard
	// stream are ordered by varying-level hashes before time. 0..64 (default 20 ≈ 1 s); use
	// NoEpochBits for 0.
	EpochBits int
	// Thresholds are the LTS learning thresholds per topic depth (the last one repeats).
	// Default [100, 20]. 0 learns the wildcard at once (the first topic at that depth already
	// goes through '+'); negative values are invalid.
	Thresholds []int
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Kind == "" {
		o.Kind = KindWildcardOptimized
	}
	if o.TopicIndexBytes == 0 {
		o.TopicIndexBytes = DefaultTopicIndexBytes
	}
	if o.BitsPerTopicLevel == 0 {
		o.BitsPerTopicLevel = DefaultBitsPerTopicLevel
	}
	if o.EpochBits == 0 {
		o.EpochBits = DefaultEpochBits
	}
	if len(o.Thresholds) == 0 {
		o.Thresholds = append([]int(nil), DefaultThresholds...)
	}
}

// Validate reports every problem of o in one error. It expects EnsureDefaults to have run.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("layout: "+format, args...))
	}
	switch o.Kind {
	case KindWildcardOptimized, KindReference:
	default:
		bad("unknown kind %q (want %q or %q)", o.Kind, KindWildcardOptimized, KindReference)
	}
	if o.TopicIndexBytes < 1 || o.TopicIndexBytes > 8 {
		bad("TopicIndexBytes %d out of range 1..8", o.TopicIndexBytes)
	}
	if o.BitsPerTopicLevel < 8 || o.BitsPerTopicLevel > 64 {
		bad("BitsPerTopicLevel %d out of range 8..64", o.BitsPerTopicLevel)
	}
	if o.EpochBits != NoEpochBits && (o.EpochBits < 0 || o.EpochBits > 64) {
		bad("EpochBits %d out of range 0..64 (NoEpochBits for 0)", o.EpochBits)
	}
	if len(o.Thresholds) == 0 {
		bad("Thresholds empty")
	}
	for i, t := range o.Thresholds {
		if t < 0 {
			bad("Thresholds[%d] = %d is negative", i, t)
		}
	}
	return errors.Join(errs...)
}

// epochBits returns the effective number of epoch bits.
func (o *Options) epochBits() int {
	if o.EpochBits == NoEpochBits {
		return 0
	}
	return o.EpochBits
}

// Options encoding, format version 1 (all integers unsigned varints except EpochBits, a signed
// varint so that NoEpochBits round-trips):
//
//	+---------+------+-----------------+-------------------+-----------+-----+----------------+
//	| version | kind | TopicIndexBytes | BitsPerTopicLevel | EpochBits | len | Thresholds ... |
//	|  0x01   | 1|2  |     uvarint     |      uvarint      |  varint   | uv  |   uvarint × len|
//	+---------+------+-----------------+-------------------+-----------+-----+----------------+
//
// kind: 1 = wildcard_optimized, 2 = reference.
const optionsFormatV1 = 1

var kindCodes = map[string]byte{KindWildcardOptimized: 1, KindReference: 2}

// MarshalBinary encodes o (after EnsureDefaults) for ds to persist with the generation.
func (o Options) MarshalBinary() ([]byte, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	b := []byte{optionsFormatV1, kindCodes[o.Kind]}
	b = binary.AppendUvarint(b, uint64(o.TopicIndexBytes))
	b = binary.AppendUvarint(b, uint64(o.BitsPerTopicLevel))
	b = binary.AppendVarint(b, int64(o.EpochBits))
	b = binary.AppendUvarint(b, uint64(len(o.Thresholds)))
	for _, t := range o.Thresholds {
		b = binary.AppendUvarint(b, uint64(t))
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced. The result is validated.
func (o *Options) UnmarshalBinary(b []byte) error {
	corrupt := func(what string) error {
		return fmt.Errorf("%w: options: %s", ErrCorrupt, what)
	}
	if len(b) < 2 {
		return corrupt("too short")
	}
	if b[0] != optionsFormatV1 {
		return corrupt(fmt.Sprintf("unknown format version %d", b[0]))
	}
	var out Options
	for k, c := range kindCodes {
		if c == b[1] {
			out.Kind = k
		}
	}
	if out.Kind == "" {
		return corrupt(fmt.Sprintf("unknown kind code %d", b[1]))
	}
	r := reader{b: b[2:]}
	out.TopicIndexBytes = int(r.uvarint(9))
	out.BitsPerTopicLevel = int(r.uvarint(65))
	// MarshalBinary writes defaults, never a zero: a stored 0 would read back as the default.
	if out.EpochBits = int(r.varint(-1, 64)); out.EpochBits == 0 && r.err == nil {
		r.err = errors.New("EpochBits 0 (NoEpochBits is -1)")
	}
	n := r.uvarint(1 << 16)
	for i := uint64(0); i < n && r.err == nil; i++ {
		out.Thresholds = append(out.Thresholds, int(r.uvarint(1<<31)))
	}
	if r.err != nil {
		return corrupt(r.err.Error())
	}
	if len(r.b) != 0 {
		return corrupt("trailing bytes")
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("%w: options: %w", ErrCorrupt, err)
	}
	*o = out
	return nil
}

// reader decodes varints with a sticky error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad uvarint")
		return 0
	}
	if v > limit {
		r.err = fmt.Errorf("value %d above %d", v, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(lo, hi int64) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	if v < lo || v > hi {
		r.err = fmt.Errorf("value %d outside %d..%d", v, lo, hi)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(limit uint64) []byte {
	n := r.uvarint(limit)
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errors.New("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
