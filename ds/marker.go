package ds

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The format marker is a small text file at the root of a store, written before anything else
// and replaced atomically (write, sync, rename, sync directory):
//
//	mqttds-ds\n
//	format <version>\n
//
// Open reads it before touching anything: a directory with files but no marker is someone
// else's, and ds refuses to write there; a marker with a newer version is refused too. The same
// version is stored inside pebble (formatKey) and checked, so a marker copied next to foreign
// data is caught.

// FormatVersion is the version of the on-disk format of a store: the keyspace (keys.go), the
// catalog, the generation records and the message encoding. It only moves forward.
type FormatVersion uint32

const (
	// FormatV1 is the first format: KV tables are numbered in a per-store catalog.
	FormatV1 FormatVersion = 1
	// FormatV2 keys KV values by table name (keys.go). Open upgrades a format 1 store.
	FormatV2 FormatVersion = 2
	// FormatNewest is the version ds writes.
	FormatNewest = FormatV2
)

const (
	markerName  = "MQTTDS"
	lockName    = "MQTTDS.LOCK"
	markerMagic = "mqttds-ds"
)

// readMarker returns the directory's format version; found is false when there is no marker.
func readMarker(fs vfs.FS, dir string) (v FormatVersion, found bool, err error) {
	f, err := fs.Open(fs.PathJoin(dir, markerName))
	if oserror(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return 0, true, err
	}
	v, err = parseMarker(data)
	return v, true, err
}

func parseMarker(data []byte) (FormatVersion, error) {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) != 3 || string(lines[0]) != markerMagic || len(lines[2]) != 0 ||
		!bytes.HasPrefix(lines[1], []byte("format ")) {
		return 0, corruptf("format marker %q is not an mqttds marker", data)
	}
	n, err := strconv.ParseUint(string(lines[1][len("format "):]), 10, 32)
	if err != nil || n == 0 {
		return 0, corruptf("format marker version %q", lines[1])
	}
	return FormatVersion(n), nil
}

// writeMarker writes the marker atomically and durably.
func writeMarker(fs vfs.FS, dir string, v FormatVersion) error {
	tmp := fs.PathJoin(dir, markerName+".tmp")
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s\nformat %d\n", markerMagic, v); err != nil {
		f.Close()
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := fs.Rename(tmp, fs.PathJoin(dir, markerName)); err != nil {
		return err
	}
	return syncDir(fs, dir)
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// checkDir decides what Open does with dir: create a store (fresh), open one (the marker's
// version), or refuse.
// It creates dir when missing and never writes anything else.
func checkDir(fs vfs.FS, dir string) (marker FormatVersion, fresh bool, err error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return 0, false, err
	}
	v, found, err := readMarker(fs, dir)
	if err != nil {
		return 0, false, fmt.Errorf("ds: %s: %w", fs.PathJoin(dir, markerName), err)
	}
	if found {
		if v > FormatNewest {
			return 0, false, fmt.Errorf("%w: %s has format %d, this build reads up to %d",
				ErrFormatVersion, dir, v, FormatNewest)
		}
		return v, false, nil
	}
	names, err := fs.List(dir)
	if err != nil {
		return 0, false, err
	}
	for _, name := range names {
		// Our own lock and an unfinished marker may be left by a crash during creation.
		if name != lockName && name != markerName+".tmp" {
			return 0, false, fmt.Errorf("%w: %s holds %q and no %s marker; refusing to write there",
				ErrNotStore, dir, name, markerName)
		}
	}
	return 0, true, nil
}

// lockDir takes the store's lock file, which excludes other DBs in this process and in other
// processes (an fcntl lock on the real file system).
func lockDir(fs vfs.FS, dir string) (io.Closer, error) {
	l, err := fs.Lock(fs.PathJoin(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	}
	return l, nil
}

func oserror(err, target error) bool {
	return err != nil && errors.Is(err, target)
}
