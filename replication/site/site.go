// Package site gives a node of an mqttds cluster its identity: a random 8-byte site id,
// created on first start and kept in the data directory, so that a node keeps its id (and its
// place in every replica set) across restarts and address changes.
package site

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mqttds/mqttds/internal/atomicfile"
)

// ID identifies a site. It is never zero (raft reserves node id 0).
type ID uint64

// String is the id as 16 lowercase hex digits, the form shown by the CLI and the API.
func (id ID) String() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return hex.EncodeToString(b[:])
}

// MarshalText writes the id as String does (JSON carries ids as strings).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads an id written by MarshalText.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Parse reads an id written by String.
func Parse(s string) (ID, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("site: id %q is not 16 hex digits", s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("site: id %q is not 16 hex digits", s)
	}
	id := ID(binary.BigEndian.Uint64(b))
	if id == 0 {
		return 0, errors.New("site: id 0 is reserved")
	}
	return id, nil
}

// FileName is the file in the data directory that holds the site id.
const FileName = "SITE"

// Load returns the site id stored in dir, creating dir and a new random id if there is none.
// The id is written whole (atomicfile), so that a crash leaves either no id or a whole one.
func Load(dir string) (ID, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, perr := Parse(strings.TrimSpace(string(data)))
		if perr != nil {
			return 0, fmt.Errorf("site: %s: %w", path, perr)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return 0, fmt.Errorf("site: %w", err)
	}
	id, err := random()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("site: %w", err)
	}
	if err := atomicfile.Write(path, []byte(id.String()+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("site: storing the id: %w", err)
	}
	return id, nil
}

func random() (ID, error) {
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("site: %w", err)
		}
		if id := ID(binary.BigEndian.Uint64(b[:])); id != 0 {
			return id, nil
		}
	}
}
