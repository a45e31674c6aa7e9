// Package apikey keeps the management API's keys: named credentials whose secret is shown once,
// at creation, and stored only as a salted SHA-256 hash in a file of the data directory.
//
// A key is presented as one bearer token, "mqttds_<id>_<secret>": <id> (12 hex digits) names the
// stored key, <secret> (32 random bytes, base64url) is checked against its hash. The secret has
// 256 bits of entropy, so a fast hash is enough: there is nothing to guess that a slow one would
// protect (the same reasoning as for GitHub's and Stripe's API tokens). The same key can be sent
// as HTTP Basic credentials, user <id> and password <secret>, as EMQX's API keys are.
package apikey

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mqttds/mqttds/internal/atomicfile"
)

// FileName is the keys file's name inside the data directory.
const FileName = "api_keys.json"

// TokenPrefix starts every key token, so that a leaked one is easy to recognise and search for.
const TokenPrefix = "mqttds_"

const (
	idBytes     = 6  // 12 hex digits
	secretBytes = 32 // 256 bits
	saltBytes   = 16
	// formatVersion is the keys file's format; a newer one is refused rather than rewritten.
	formatVersion = 1
)

// Info is what may be shown of a key: everything but its hash.
type Info struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Expires is when the key stops working; zero for never.
	Expires time.Time `json:"expires,omitzero"`
}

// Expired reports whether the key no longer works at now.
func (i Info) Expired(now time.Time) bool { return !i.Expires.IsZero() && !now.Before(i.Expires) }

type stored struct {
	Info
	Salt []byte `json:"salt"`
	Hash []byte `json:"sha256"`
}

type file struct {
	Format int      `json:"format"`
	Keys   []stored `json:"keys"`
}

// Store is the set of keys, loaded from and written through to one file. It is safe for
// concurrent use; only one process should write a given file (the broker).
type Store struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]stored // by id
}

// Errors of Create and Delete.
var (
	ErrInvalidName = errors.New("apikey: a name is 1 to 64 letters, digits, '.', '_' or '-'")
	ErrNameTaken   = errors.New("apikey: a key with that name exists")
)

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Open loads the keys file at path; a missing file is an empty store (the file is created by
// the first Create).
func Open(path string) (*Store, error) {
	s := &Store{path: path, now: time.Now, keys: map[string]stored{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("apikey: %s: %w", path, err)
	}
	if f.Format != formatVersion {
		return nil, fmt.Errorf("apikey: %s: format %d, this build reads format %d", path, f.Format, formatVersion)
	}
	for _, k := range f.Keys {
		if len(k.Salt) != saltBytes || len(k.Hash) != sha256.Size || len(k.ID) != 2*idBytes {
			return nil, fmt.Errorf("apikey: %s: key %q is malformed", path, k.ID)
		}
		s.keys[k.ID] = k
	}
	return s, nil
}

// Path returns the keys file's path.
func (s *Store) Path() string { return s.path }

// Len returns the number of keys, expired ones included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// List returns every key, sorted by name.
func (s *Store) List() []Info {
	s.mu.Lock()
	out := make([]Info, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k.Info)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Create adds a key named name that works until expires (zero: forever), writes the file, and
// returns the key and its token. The token is not kept: this is the only time it is known.
func (s *Store) Create(name string, expires time.Time) (Info, string, error) {
	if !validName.MatchString(name) {
		return Info{}, "", ErrInvalidName
	}
	id, secret, salt := make([]byte, idBytes), make([]byte, secretBytes), make([]byte, saltBytes)
	for _, b := range [][]byte{id, secret, salt} {
		if _, err := rand.Read(b); err != nil {
			return Info{}, "", fmt.Errorf("apikey: %w", err)
		}
	}
	secretText := base64.RawURLEncoding.EncodeToString(secret)
	k := stored{Info: Info{ID: hex.EncodeToString(id), Name: name, Created: s.now().UTC().Truncate(time.Second)},
		Salt: salt, Hash: hash(salt, secretText)}
	if !expires.IsZero() {
		k.Expires = expires.UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.keys {
		if x.Name == name {
			return Info{}, "", ErrNameTaken
		}
	}
	if _, dup := s.keys[k.ID]; dup { // 48 random bits: never in practice
		return Info{}, "", errors.New("apikey: id collision, try again")
	}
	s.keys[k.ID] = k
	if err := s.writeLocked(); err != nil {
		delete(s.keys, k.ID)
		return Info{}, "", err
	}
	return k.Info, TokenPrefix + k.ID + "_" + secretText, nil
}

// Delete removes the key whose id or name is ref and reports whether there was one.
func (s *Store) Delete(ref string) (Info, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[ref]
	if !ok {
		for _, x := range s.keys {
			if x.Name == ref {
				k, ok = x, true
				break
			}
		}
	}
	if !ok {
		return Info{}, false, nil
	}
	delete(s.keys, k.ID)
	if err := s.writeLocked(); err != nil {
		s.keys[k.ID] = k
		return Info{}, false, err
	}
	return k.Info, true, nil
}

// Verify checks a bearer token and returns its key. An expired key does not verify.
func (s *Store) Verify(token string) (Info, bool) {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok || len(rest) < 2*idBytes+2 || rest[2*idBytes] != '_' {
		return Info{}, false
	}
	return s.VerifyPair(rest[:2*idBytes], rest[2*idBytes+1:])
}

// VerifyPair checks a key id and its secret (HTTP Basic credentials).
func (s *Store) VerifyPair(id, secret string) (Info, bool) {
	s.mu.Lock()
	k, ok := s.keys[id]
	s.mu.Unlock()
	if !ok || k.Expired(s.now()) {
		return Info{}, false
	}
	if subtle.ConstantTimeCompare(hash(k.Salt, secret), k.Hash) != 1 {
		return Info{}, false
	}
	return k.Info, true
}

func hash(salt []byte, secret string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// writeLocked replaces the file with the current keys, whole (atomicfile), so a crash leaves the
// old set or the new one.
func (s *Store) writeLocked() error {
	f := file{Format: formatVersion, Keys: make([]stored, 0, len(s.keys))}
	for _, k := range s.keys {
		f.Keys = append(f.Keys, k)
	}
	slices.SortFunc(f.Keys, func(a, b stored) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("apikey: %w", err)
	}
	if err := atomicfile.Write(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("apikey: writing %s: %w", s.path, err)
	}
	return nil
}

// NewToken returns a random bearer token that is not an API key (the broker's local token).
func NewToken() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
