// Package atomicfile replaces small files whole: a reader, or the file after a crash, shows
// the old content or the new one, never a mix. The data directory's small records (site id,
// cluster sites, API keys, password file, local API token) are written this way.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, with permissions mode: it writes a temporary file in the same
// directory, syncs it, renames it over path and syncs the directory, so that the rename
// itself survives a crash.
func Write(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
