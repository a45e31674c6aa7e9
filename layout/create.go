package layout

import (
	"github.com/cockroachdb/pebble/v2"
)

// Create makes the layout of a new generation under prefix. Writes that the new generation needs
// (the learned wildcard structure inherited from prev, which may be nil or of another kind) are
// added to b, which the caller commits before the first Prepare's batch.
func Create(prefix []byte, opts Options, prev Layout, b *CookedBatch) (Layout, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	switch opts.Kind {
	case KindReference:
		return newReference(prefix), nil
	default:
		return createWildcard(prefix, opts, prev, b)
	}
}

// Open restores the layout of an existing generation under prefix from r; opts are the ones
// the generation was created with.
func Open(r pebble.Reader, prefix []byte, opts Options) (Layout, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	switch opts.Kind {
	case KindReference:
		return newReference(prefix), nil
	default:
		return openWildcard(r, prefix, opts)
	}
}
