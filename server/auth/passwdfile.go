package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttds/mqttds/internal/atomicfile"
)

// PasswordFile is the contents of a password file: one "username:hash" line per user, where hash is a
// bcrypt or argon2id string (see Algorithm). Lines starting with '#' and blank lines are comments and
// are kept, in place, when the file is rewritten.
//
//	# mqttds password file
//	alice:$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy
//	bob:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$3Vw5Z3...
//
// A PasswordFile is the editing model behind `mqttds passwd`; the broker reads the file through
// PasswordAuthenticator. It is not safe for concurrent use.
type PasswordFile struct {
	lines []pwLine
}

type pwLine struct {
	user, hash string // user == "" for a comment or blank line, kept verbatim in raw
	raw        string
}

// PasswordFileFormat is the version of the password file format this package reads and writes. A file
// may say which version it is in with a marker comment, "#mqttds-passwd 1"; a reader refuses a marker
// naming a version it does not know, so that a future format is never misread. New files get the marker.
const PasswordFileFormat = 1

const passwdMarker = "#mqttds-passwd"

// NewPasswordFile returns an empty password file that starts with the format marker.
func NewPasswordFile() *PasswordFile {
	return &PasswordFile{lines: []pwLine{{raw: fmt.Sprintf("%s %d", passwdMarker, PasswordFileFormat)}}}
}

// checkFormatMarker returns an error if line is a format marker (prefix followed by a version) that
// names a version other than want.
func checkFormatMarker(line, prefix string, want int) error {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(rest))
	if err != nil {
		return fmt.Errorf("format marker %q: want %s <version>", line, prefix)
	}
	if v != want {
		return fmt.Errorf("file format version %d; this version of mqttds reads version %d", v, want)
	}
	return nil
}

// User describes one entry of a password file.
type User struct {
	Name      string
	Algorithm Algorithm
}

// ParsePasswordFile reads a password file. name labels errors ("passwd:3: ..."). Every malformed line,
// duplicate user and unreadable hash is an error with its line number; all are reported together.
func ParsePasswordFile(r io.Reader, name string) (*PasswordFile, error) {
	f := &PasswordFile{}
	seen := map[string]int{}
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		raw := strings.TrimRight(sc.Text(), " \t\r")
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, lineNo, fmt.Sprintf(format, args...)))
		}
		if t := strings.TrimSpace(raw); t == "" || t[0] == '#' {
			if err := checkFormatMarker(t, passwdMarker, PasswordFileFormat); err != nil {
				fail("%v", err)
			}
			f.lines = append(f.lines, pwLine{raw: raw})
			continue
		}
		user, hash, ok := strings.Cut(raw, ":")
		if !ok {
			fail("want username:hash")
			continue
		}
		if err := ValidateUsername(user); err != nil {
			fail("%v", err)
			continue
		}
		if first, dup := seen[user]; dup {
			fail("user %q already defined on line %d", user, first)
			continue
		}
		seen[user] = lineNo
		if _, err := HashAlgorithm(hash); err != nil {
			fail("user %q: %v", user, err)
			continue
		}
		f.lines = append(f.lines, pwLine{user: user, hash: hash})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// ReadPasswordFile parses the file at path. A missing file is an error wrapping os.ErrNotExist.
func ReadPasswordFile(path string) (*PasswordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return ParsePasswordFile(bytes.NewReader(data), path)
}

// ValidateUsername checks that a name can be stored in a password file and named in an ACL: non-empty
// UTF-8 without ':', whitespace or control characters, and not starting with '#'.
func ValidateUsername(user string) error {
	switch {
	case user == "":
		return errors.New("empty username")
	case !utf8.ValidString(user):
		return errors.New("username is not valid UTF-8")
	case user[0] == '#':
		return fmt.Errorf("username %q starts with '#', which marks a comment", user)
	case len(user) > 65535:
		return errors.New("username longer than 65535 bytes")
	}
	for _, r := range user {
		if r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("username %q contains %q", user, r)
		}
	}
	return nil
}

// Lookup returns the stored hash of user.
func (f *PasswordFile) Lookup(user string) (hash string, ok bool) {
	for _, l := range f.lines {
		if l.user != "" && l.user == user {
			return l.hash, true
		}
	}
	return "", false
}

// Set stores hash for user, replacing an existing entry in place or appending a new one. It reports
// whether the user is new.
func (f *PasswordFile) Set(user, hash string) (added bool, err error) {
	if err := ValidateUsername(user); err != nil {
		return false, fmt.Errorf("auth: %w", err)
	}
	if _, err := HashAlgorithm(hash); err != nil {
		return false, err
	}
	for i := range f.lines {
		if f.lines[i].user == user {
			f.lines[i].hash = hash
			return false, nil
		}
	}
	f.lines = append(f.lines, pwLine{user: user, hash: hash})
	return true, nil
}

// Remove deletes user and reports whether it was there.
func (f *PasswordFile) Remove(user string) bool {
	for i, l := range f.lines {
		if l.user != "" && l.user == user {
			f.lines = append(f.lines[:i], f.lines[i+1:]...)
			return true
		}
	}
	return false
}

// Users lists the entries in file order.
func (f *PasswordFile) Users() []User {
	var users []User
	for _, l := range f.lines {
		if l.user != "" {
			alg, _ := HashAlgorithm(l.hash) // checked when the line was parsed or set
			users = append(users, User{Name: l.user, Algorithm: alg})
		}
	}
	return users
}

// WriteTo writes the file's text to w.
func (f *PasswordFile) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, l := range f.lines {
		if l.user == "" {
			b.WriteString(l.raw)
		} else {
			b.WriteString(l.user + ":" + l.hash)
		}
		b.WriteByte('\n')
	}
	return b.WriteTo(w)
}

// WriteFile replaces the file at path atomically: the new contents go to a temporary file in the same
// directory, which is synced, given mode 0600 and renamed over path. A reader (a broker reloading the
// file) sees the old file or the new one, never a mix, and a crash leaves one of the two.
func (f *PasswordFile) WriteFile(path string) error {
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		return err
	}
	return writeFileAtomic(path, b.Bytes(), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// PasswordAuthenticator checks usernames and passwords against a password file. It abstains on clients
// without a username, allows a known user with the right password and denies everyone else.
// Reload re-reads the file; it is safe to call while clients authenticate.
//
// At most GOMAXPROCS password checks run at once; more would not finish sooner (they are CPU-bound) and
// each argon2id check holds its memory parameter (64 MiB by default) while it runs, so a burst of
// connections could otherwise exhaust memory. A check waiting for its turn gives up when ctx is done.
type PasswordAuthenticator struct {
	path string
	// verifying holds one token per password check in progress.
	verifying chan struct{}
	// users maps username → encoded hash.
	// Use: replaced whole by Reload, read without locks by Authenticate.
	users atomic.Pointer[map[string]string]
}

// NewPasswordAuthenticator reads the password file at path.
func NewPasswordAuthenticator(path string) (*PasswordAuthenticator, error) {
	p := &PasswordAuthenticator{path: path, verifying: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload re-reads the file. On error the users loaded before stay in force.
func (p *PasswordAuthenticator) Reload() error {
	f, err := ReadPasswordFile(p.path)
	if err != nil {
		return err
	}
	users := make(map[string]string, len(f.lines))
	for _, l := range f.lines {
		if l.user != "" {
			users[l.user] = l.hash
		}
	}
	p.users.Store(&users)
	return nil
}

// Authenticate implements Authenticator.
func (p *PasswordAuthenticator) Authenticate(ctx context.Context, c Credentials) (Result, error) {
	if c.Username == "" {
		return Result{Decision: Abstain}, nil
	}
	select {
	case p.verifying <- struct{}{}:
		defer func() { <-p.verifying }()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("auth: waiting to check a password: %w", context.Cause(ctx))
	}
	hash, ok := (*p.users.Load())[c.Username]
	if !ok {
		// Spend the time a real check takes, so that response times do not reveal which users exist.
		_, _ = VerifyPassword(dummyHash(), c.Password)
		return Result{Decision: Deny, Reason: "unknown user"}, nil
	}
	if c.Password == nil {
		return Result{Decision: Deny, Reason: "no password"}, nil
	}
	match, err := VerifyPassword(hash, c.Password)
	if err != nil {
		return Result{}, err
	}
	if !match {
		return Result{Decision: Deny, Reason: "wrong password"}, nil
	}
	return Result{Decision: Allow, Username: c.Username, Reason: "password"}, nil
}

// dummyHash is a bcrypt hash of a random password that no client can know.
var dummyHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), bcrypt.DefaultCost)
	if err != nil {
		panic(fmt.Sprintf("auth: hashing the dummy password: %v", err))
	}
	return string(h)
})
