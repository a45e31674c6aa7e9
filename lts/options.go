package lts

import (
	"errors"
	"fmt"
	"strings"
)

// Defaults for Options. They follow the bitfield layout of the reference design: the first 100
// distinct first levels and the first 20 distinct values of every deeper level stay concrete.
const (
	DefaultMaxVarying = 10
	// DefaultMaxIndex matches a 4-byte topic index in the layout key.
	DefaultMaxIndex Index = 1 << 32
	// MaxMaxVarying bounds Options.MaxVarying: a node records its '+' depth in one byte.
	MaxMaxVarying = 255
)

// DefaultThresholds is used when Options.Thresholds is empty. The slice must not be modified.
var DefaultThresholds = []int{100, 20}

// Options configures a Trie. A nil *Options means all defaults; a zero field means that field's
// default. Options are copied by New: changing them afterwards has no effect on the trie.
type Options struct {
	// Thresholds gives, per depth (0 = first topic level), the number of distinct concrete
	// children a node may have before a '+' edge is learned at it. The last element applies to
	// every deeper level. 0 means "learn '+' at once": the first topic at that depth already
	// goes through the wildcard; math.MaxInt means never. Default DefaultThresholds
	// ([100, 20]).
	//
	// The topic whose new concrete edge brings the count to the threshold keeps that concrete
	// edge; only later new siblings go through '+'.
	Thresholds []int

	// MaxVarying is the most '+' edges a path may contain, i.e. the most varying levels of one
	// stream. A node whose path already has MaxVarying '+' edges only ever learns concrete
	// edges. Default DefaultMaxVarying (10); at most MaxMaxVarying.
	MaxVarying int

	// MaxIndex is the exclusive upper bound of the ids the trie allocates (every state gets
	// one; a topic's static index is the id of its end-of-topic state). The layout derives it
	// from its topic index width: 1<<32 for 4 bytes. Default DefaultMaxIndex. Must be >= 2.
	MaxIndex Index
}

// EnsureDefaults fills zero fields with their defaults and returns o. A nil receiver returns a
// new Options with every default.
func (o *Options) EnsureDefaults() *Options {
	if o == nil {
		o = &Options{}
	}
	if len(o.Thresholds) == 0 {
		o.Thresholds = DefaultThresholds
	}
	if o.MaxVarying == 0 {
		o.MaxVarying = DefaultMaxVarying
	}
	if o.MaxIndex == 0 {
		o.MaxIndex = DefaultMaxIndex
	}
	return o
}

// Validate reports every problem with o in one error (nil if o is usable). Zero fields are
// valid: they stand for the defaults.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var problems []string
	for d, th := range o.Thresholds {
		if th < 0 {
			problems = append(problems, fmt.Sprintf("Thresholds[%d] = %d is negative", d, th))
		}
	}
	if o.MaxVarying < 0 || o.MaxVarying > MaxMaxVarying {
		problems = append(problems, fmt.Sprintf("MaxVarying = %d is outside [0, %d]", o.MaxVarying, MaxMaxVarying))
	}
	if o.MaxIndex == 1 {
		problems = append(problems, "MaxIndex = 1 leaves no allocatable id (ids start at 1)")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
}

// threshold returns the '+' threshold for a node at depth d (the depth of the levels that
// leave it).
func (o *Options) threshold(d int) int {
	if d >= len(o.Thresholds) {
		d = len(o.Thresholds) - 1
	}
	return o.Thresholds[d]
}

// Errors returned by the package. Test them with errors.Is: returned errors wrap them with
// details.
var (
	// ErrInvalidOptions is returned by Options.Validate.
	ErrInvalidOptions = errors.New("lts: invalid options")
	// ErrInvalidTopic is returned by Learn for a topic that is not an MQTT topic name: no
	// levels, or a level containing '+', '#', '/' or NUL.
	ErrInvalidTopic = errors.New("lts: invalid topic")
	// ErrIndexExhausted is returned by Learn when learning the topic would need an id at or
	// above Options.MaxIndex, and by Apply for an op carrying such an id. Nothing is learned.
	ErrIndexExhausted = errors.New("lts: static index space exhausted")
	// ErrCorrupt marks an op that cannot be decoded, or that contradicts the trie it is
	// applied to (unknown parent, edge already leading elsewhere, id already in use).
	ErrCorrupt = errors.New("lts: corrupt op")
)
