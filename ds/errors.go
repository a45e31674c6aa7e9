package ds

import (
	"errors"
	"fmt"
)

// Errors returned by ds. Check them with errors.Is: most are wrapped with detail.
var (
	// ErrClosed is returned by every method of a DB after Close.
	ErrClosed = errors.New("ds: database is closed")

	// ErrNotStore is returned by Open for a directory that holds files but no mqttds format
	// marker: ds refuses to write into a foreign directory.
	ErrNotStore = errors.New("ds: directory is not an mqttds store")
	// ErrFormatVersion is returned by Open for a store written by a newer format.
	ErrFormatVersion = errors.New("ds: unsupported format version")
	// ErrLocked is returned by Open when another DB (in this process or another) has the
	// directory open.
	ErrLocked = errors.New("ds: directory is locked by another user")
	// ErrOptionsMismatch is returned by Open when an option fixed at creation (NumShards)
	// differs from the stored value.
	ErrOptionsMismatch = errors.New("ds: options do not match the stored database")

	// ErrCorruption marks stored bytes that cannot be decoded. Every decoding error of ds wraps
	// it, so errors.Is(err, ErrCorruption) tells corruption from other failures.
	ErrCorruption = errors.New("ds: corruption")

	// ErrInvalidTopic is returned by Store for a message whose topic is not a valid MQTT topic
	// name, and by GetStreams/MakeIterator for an invalid topic filter.
	ErrInvalidTopic = errors.New("ds: invalid topic")
	// ErrInvalidMessage is returned by Store for a message with an out-of-range field.
	ErrInvalidMessage = errors.New("ds: invalid message")
	// ErrInvalidShard is returned for a shard number outside [0, NumShards).
	ErrInvalidShard = errors.New("ds: invalid shard")

	// ErrEndOfStream is returned by Next when the iterator's generation is closed (no more
	// writes can arrive) and every matching message has been returned.
	ErrEndOfStream = errors.New("ds: end of stream")
	// ErrGenerationNotFound is returned for an iterator or stream whose generation was dropped.
	ErrGenerationNotFound = errors.New("ds: generation not found")
	// ErrCurrentGeneration is returned by DropGeneration for the generation still being written.
	ErrCurrentGeneration = errors.New("ds: cannot drop the current generation")
	// ErrBadIterator is returned for iterator or stream bytes that ds did not produce.
	ErrBadIterator = errors.New("ds: invalid iterator")

	// ErrNotCommitted is wrapped by a replicated Applier's Commit.Wait when it can no longer
	// tell whether the batch will be committed (its replica lost leadership with the batch in
	// flight): the batch may still appear, applied by ApplyReplicated. The store itself is
	// healthy, so ds does not recover storage for it; the writers get the error.
	ErrNotCommitted = errors.New("ds: batch outcome unknown")

	// ErrNotFound is returned by Table.Get for a missing key.
	ErrNotFound = errors.New("ds: not found")
	// ErrInvalidTable is returned for an empty or over-long table name.
	ErrInvalidTable = errors.New("ds: invalid table name")
)

// corruptf returns an error that wraps ErrCorruption.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruption, fmt.Sprintf(format, args...))
}

// assertf panics: it reports a broken invariant (a bug in ds), never bad input.
func assertf(format string, args ...any) {
	panic(fmt.Sprintf("ds: assertion failed: "+format, args...))
}
