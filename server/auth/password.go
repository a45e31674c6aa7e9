package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Algorithm names a password hashing scheme.
type Algorithm string

const (
	// Bcrypt is the default: universally supported ("$2a$", "$2b$", "$2y$" strings), and cheap in memory.
	Bcrypt Algorithm = "bcrypt"
	// Argon2id is memory-hard (RFC 9106), stored as a PHC string:
	//
	//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt, base64 no padding>$<hash, base64 no padding>
	Argon2id Algorithm = "argon2id"
)

// ErrMalformedHash is returned for a stored hash that is neither a bcrypt nor an argon2id string.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// HashOptions tunes HashPassword. A nil *HashOptions, or a zero field, means the default.
type HashOptions struct {
	Algorithm  Algorithm // default Bcrypt
	BcryptCost int       // default bcrypt.DefaultCost (10)
	// Argon2id parameters; the defaults are RFC 9106's second recommended option (t=3, 64 MiB, p=4).
	Argon2Time      uint32
	Argon2MemoryKiB uint32
	Argon2Threads   uint8
}

const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
	// argon2MaxMemoryKiB bounds what a stored hash may ask Verify to allocate (4 GiB), so that a
	// damaged or hostile password file cannot exhaust the broker's memory.
	argon2MaxMemoryKiB = 4 << 20
)

func (o *HashOptions) withDefaults() HashOptions {
	var h HashOptions
	if o != nil {
		h = *o
	}
	if h.Algorithm == "" {
		h.Algorithm = Bcrypt
	}
	if h.BcryptCost == 0 {
		h.BcryptCost = bcrypt.DefaultCost
	}
	if h.Argon2Time == 0 {
		h.Argon2Time = 3
	}
	if h.Argon2MemoryKiB == 0 {
		h.Argon2MemoryKiB = 64 << 10
	}
	if h.Argon2Threads == 0 {
		h.Argon2Threads = 4
	}
	return h
}

// HashPassword returns the encoded hash of password with a fresh random salt.
func HashPassword(password []byte, opts *HashOptions) (string, error) {
	o := opts.withDefaults()
	switch o.Algorithm {
	case Bcrypt:
		if len(password) > 72 {
			return "", errors.New("auth: bcrypt passwords are limited to 72 bytes; use argon2id for longer ones")
		}
		h, err := bcrypt.GenerateFromPassword(password, o.BcryptCost)
		if err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
		return string(h), nil
	case Argon2id:
		if o.Argon2MemoryKiB < 8*uint32(o.Argon2Threads) || o.Argon2MemoryKiB > argon2MaxMemoryKiB {
			return "", fmt.Errorf("auth: argon2id memory %d KiB is out of range [%d, %d]", o.Argon2MemoryKiB, 8*uint32(o.Argon2Threads), argon2MaxMemoryKiB)
		}
		salt := make([]byte, argon2SaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
		key := argon2.IDKey(password, salt, o.Argon2Time, o.Argon2MemoryKiB, o.Argon2Threads, argon2KeyLen)
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, o.Argon2MemoryKiB, o.Argon2Time,
			o.Argon2Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
	default:
		return "", fmt.Errorf("auth: unknown password algorithm %q (want bcrypt or argon2id)", o.Algorithm)
	}
}

var b64 = base64.RawStdEncoding

// HashAlgorithm returns the algorithm of an encoded hash, checking its form but not its password.
func HashAlgorithm(encoded string) (Algorithm, error) {
	switch {
	case isBcrypt(encoded):
		if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformedHash, err)
		}
		return Bcrypt, nil
	case strings.HasPrefix(encoded, "$argon2id$"):
		if _, err := parseArgon2id(encoded); err != nil {
			return "", err
		}
		return Argon2id, nil
	default:
		return "", fmt.Errorf("%w: unknown scheme (want $2a$/$2b$/$2y$ bcrypt or $argon2id$)", ErrMalformedHash)
	}
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// VerifyPassword reports whether password matches the encoded hash. It takes the same time for a
// wrong password as for a right one. The error is non-nil only for a malformed hash.
func VerifyPassword(encoded string, password []byte) (bool, error) {
	if isBcrypt(encoded) {
		err := bcrypt.CompareHashAndPassword([]byte(encoded), password)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		default:
			return false, fmt.Errorf("%w: %v", ErrMalformedHash, err)
		}
	}
	a, err := parseArgon2id(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey(password, a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
	return subtle.ConstantTimeCompare(key, a.key) == 1, nil
}

type argon2Hash struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id decodes "$argon2id$v=19$m=65536,t=3,p=4$salt$hash".
func parseArgon2id(encoded string) (argon2Hash, error) {
	var a argon2Hash
	bad := func(what string) (argon2Hash, error) {
		return argon2Hash{}, fmt.Errorf("%w: argon2id %s", ErrMalformedHash, what)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("string needs 5 $-separated fields")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return bad(fmt.Sprintf("version %q (want v=%d)", parts[2], argon2.Version))
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &a.memory, &a.time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", a.memory, a.time, threads) != parts[3] {
		return bad(fmt.Sprintf("parameters %q (want m=<KiB>,t=<passes>,p=<lanes>)", parts[3]))
	}
	if a.time == 0 || threads == 0 || threads > 255 || a.memory < 8*threads || a.memory > argon2MaxMemoryKiB {
		return bad(fmt.Sprintf("parameters %q out of range", parts[3]))
	}
	a.threads = uint8(threads)
	var err error
	if a.salt, err = b64.DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return bad("salt (want at least 8 bytes of unpadded base64)")
	}
	if a.key, err = b64.DecodeString(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 64 {
		return bad("hash (want 16 to 64 bytes of unpadded base64)")
	}
	return a, nil
}
