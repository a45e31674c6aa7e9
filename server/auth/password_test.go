package auth

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Cheap parameters: these tests check formats and logic, not strength.
var (
	fastBcrypt = &HashOptions{Algorithm: Bcrypt, BcryptCost: bcrypt.MinCost}
	fastArgon  = &HashOptions{Algorithm: Argon2id, Argon2Time: 1, Argon2MemoryKiB: 64, Argon2Threads: 1}
)

func TestHashPassword_Verify(t *testing.T) {
	for _, opts := range []*HashOptions{fastBcrypt, fastArgon} {
		t.Run(string(opts.Algorithm), func(t *testing.T) {
			h, err := HashPassword([]byte("s3cret"), opts)
			require.NoError(t, err)
			alg, err := HashAlgorithm(h)
			require.NoError(t, err)
			require.Equal(t, opts.Algorithm, alg)

			ok, err := VerifyPassword(h, []byte("s3cret"))
			require.NoError(t, err)
			require.True(t, ok)
			for _, wrong := range []string{"s3cre", "s3cret!", "", "S3CRET"} {
				ok, err = VerifyPassword(h, []byte(wrong))
				require.NoError(t, err)
				require.False(t, ok, wrong)
			}
			h2, err := HashPassword([]byte("s3cret"), opts)
			require.NoError(t, err)
			require.NotEqual(t, h, h2, "every hash has its own salt")
		})
	}
}

func TestHashPassword_Format(t *testing.T) {
	h, err := HashPassword([]byte("pw"), fastArgon)
	require.NoError(t, err)
	require.Regexp(t, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h)

	h, err = HashPassword([]byte("pw"), &HashOptions{BcryptCost: bcrypt.MinCost})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$2a$04$"), "bcrypt is the default: %s", h)

	_, err = HashPassword(bytes.Repeat([]byte("x"), 73), fastBcrypt)
	require.ErrorContains(t, err, "72 bytes")
	_, err = HashPassword([]byte("pw"), &HashOptions{Algorithm: "md5"})
	require.ErrorContains(t, err, "unknown password algorithm")
	_, err = HashPassword([]byte("pw"), &HashOptions{Algorithm: Argon2id, Argon2MemoryKiB: 8 << 20})
	require.ErrorContains(t, err, "out of range")
}

// Ensure that hashes written by other tools in the same formats verify.
func TestVerifyPassword_ForeignHashes(t *testing.T) {
	// A $2y$ hash, as PHP and htpasswd write them, made with x/crypto's bcrypt and relabelled.
	h, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	require.NoError(t, err)
	y := "$2y$" + string(h[4:])
	ok, err := VerifyPassword(y, []byte("hunter2"))
	require.NoError(t, err)
	require.True(t, ok)
}

func TestVerifyPassword_Malformed(t *testing.T) {
	for _, h := range []string{
		"",
		"plaintext",
		"$1$md5crypt$",
		"$2a$10$tooshort",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA$",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		_, err := VerifyPassword(h, []byte("pw"))
		require.ErrorIs(t, err, ErrMalformedHash, h)
		_, err = HashAlgorithm(h)
		require.ErrorIs(t, err, ErrMalformedHash, h)
	}
}

func TestPasswordFile_RoundTrip(t *testing.T) {
	hashA, err := HashPassword([]byte("a-pw"), fastBcrypt)
	require.NoError(t, err)
	hashB, err := HashPassword([]byte("b-pw"), fastArgon)
	require.NoError(t, err)
	text := "# users of the plant\n\nalice:" + hashA + "\n  # ops\nbob:" + hashB + "  \n"
	f, err := ParsePasswordFile(strings.NewReader(text), "passwd")
	require.NoError(t, err)
	require.Equal(t, []User{{"alice", Bcrypt}, {"bob", Argon2id}}, f.Users())

	added, err := f.Set("carol", hashA)
	require.NoError(t, err)
	require.True(t, added)
	added, err = f.Set("alice", hashB)
	require.NoError(t, err)
	require.False(t, added, "replacing keeps the line in place")
	require.True(t, f.Remove("bob"))
	require.False(t, f.Remove("bob"))
	_, err = f.Set("bad:name", hashA)
	require.ErrorContains(t, err, "contains ':'")
	_, err = f.Set("dave", "not-a-hash")
	require.ErrorIs(t, err, ErrMalformedHash)

	path := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, f.WriteFile(path))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "# users of the plant\n\nalice:"+hashB+"\n  # ops\ncarol:"+hashA+"\n", string(data))

	again, err := ReadPasswordFile(path)
	require.NoError(t, err)
	require.Equal(t, []User{{"alice", Argon2id}, {"carol", Bcrypt}}, again.Users())
	h, ok := again.Lookup("carol")
	require.True(t, ok)
	require.Equal(t, hashA, h)

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
}

func TestParsePasswordFile_Errors(t *testing.T) {
	hash, err := HashPassword([]byte("pw"), fastBcrypt)
	require.NoError(t, err)
	text := strings.Join([]string{
		"alice:" + hash,
		"no colon here",
		"alice:" + hash,
		":" + hash,
		"eve:$1$x$y",
		"bad user:" + hash,
	}, "\n")
	_, err = ParsePasswordFile(strings.NewReader(text), "pw")
	require.Error(t, err)
	for _, want := range []string{
		"pw:2: want username:hash",
		`pw:3: user "alice" already defined on line 1`,
		"pw:4: empty username",
		`pw:5: user "eve": auth: malformed password hash`,
		`pw:6: username "bad user" contains ' '`,
	} {
		require.ErrorContains(t, err, want)
	}
	_, err = ReadPasswordFile(filepath.Join(t.TempDir(), "none"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestPasswordAuthenticator(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	writeUsers := func(users map[string]string) {
		f := &PasswordFile{}
		for u, pw := range users {
			h, err := HashPassword([]byte(pw), fastBcrypt)
			require.NoError(t, err)
			_, err = f.Set(u, h)
			require.NoError(t, err)
		}
		require.NoError(t, f.WriteFile(path))
	}
	writeUsers(map[string]string{"alice": "a-pw"})
	p, err := NewPasswordAuthenticator(path)
	require.NoError(t, err)

	ctx := context.Background()
	check := func(user string, pw []byte, want Decision) {
		t.Helper()
		r, err := p.Authenticate(ctx, Credentials{Username: user, Password: pw})
		require.NoError(t, err)
		require.Equal(t, want, r.Decision, "%s/%s: %s", user, pw, r.Reason)
		if want == Allow {
			require.Equal(t, user, r.Username)
		}
	}
	check("alice", []byte("a-pw"), Allow)
	check("alice", []byte("wrong"), Deny)
	check("alice", nil, Deny)
	check("mallory", []byte("a-pw"), Deny)
	check("", nil, Abstain)

	writeUsers(map[string]string{"bob": "b-pw"})
	require.NoError(t, p.Reload())
	check("alice", []byte("a-pw"), Deny)
	check("bob", []byte("b-pw"), Allow)

	require.NoError(t, os.WriteFile(path, []byte("garbage\n"), 0o600))
	require.ErrorContains(t, p.Reload(), path+":1:")
	check("bob", []byte("b-pw"), Allow) // a failed reload keeps the users in force

	_, err = NewPasswordAuthenticator(filepath.Join(t.TempDir(), "none"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// With every check slot taken, a caller whose context ends gets an error, not a decision.
	for range cap(p.verifying) {
		p.verifying <- struct{}{}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Authenticate(cctx, Credentials{Username: "bob", Password: []byte("b-pw")})
	require.ErrorIs(t, err, context.Canceled)
	for range cap(p.verifying) {
		<-p.verifying
	}
	check("bob", []byte("b-pw"), Allow)
}

func TestChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	h, err := HashPassword([]byte("pw"), fastBcrypt)
	require.NoError(t, err)
	f := &PasswordFile{}
	_, err = f.Set("alice", h)
	require.NoError(t, err)
	require.NoError(t, f.WriteFile(path))
	pwds, err := NewPasswordAuthenticator(path)
	require.NoError(t, err)

	build := func(anonymous bool, allowlist ...string) *Chain {
		return NewChain(NewClientIDAllowlist(allowlist), CertCommonName{}, pwds, Anonymous{Allowed: anonymous})
	}
	addr := netip.MustParseAddrPort("127.0.0.1:40000")
	for _, tc := range []struct {
		name     string
		chain    *Chain
		creds    Credentials
		want     Decision
		username string
	}{
		{"anonymous allowed", build(true), Credentials{ClientID: "c"}, Allow, ""},
		{"anonymous refused", build(false), Credentials{ClientID: "c"}, Deny, ""},
		{"password", build(false), Credentials{ClientID: "c", Username: "alice", Password: []byte("pw")}, Allow, "alice"},
		{"wrong password is not rescued by anonymous", build(true), Credentials{Username: "alice", Password: []byte("x")}, Deny, ""},
		{"unknown user is not rescued by anonymous", build(true), Credentials{Username: "zed", Password: []byte("pw")}, Deny, ""},
		{"client id allowed", build(true, "c1", "c2"), Credentials{ClientID: "c2", RemoteAddr: addr}, Allow, ""},
		{"client id not allowed, even with a good password", build(true, "c1"),
			Credentials{ClientID: "c3", Username: "alice", Password: []byte("pw")}, Deny, ""},
		{"certificate name becomes the username", build(false), Credentials{Username: "claimed", CertCommonName: "dev-9"}, Allow, "dev-9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.chain.Authenticate(context.Background(), tc.creds)
			require.NoError(t, err)
			require.Equal(t, tc.want, r.Decision, r.Reason)
			require.Equal(t, tc.username, r.Username)
			require.NotEmpty(t, r.Reason)
			m := tc.chain.Metrics()
			require.Equal(t, int64(1), m.Attempts)
			if tc.want == Allow {
				require.Equal(t, MetricsSnapshot{Attempts: 1, Allowed: 1}, m)
			} else {
				require.Equal(t, MetricsSnapshot{Attempts: 1, Denied: 1}, m)
			}
		})
	}

	empty := NewChain()
	r, err := empty.Authenticate(context.Background(), Credentials{})
	require.NoError(t, err)
	require.Equal(t, Deny, r.Decision, "a chain where all abstain denies")

	// Reload reaches the password file through the chain.
	f2 := &PasswordFile{}
	_, err = f2.Set("zed", h)
	require.NoError(t, err)
	require.NoError(t, f2.WriteFile(path))
	withReload := build(false)
	require.NoError(t, withReload.Reload())
	r, err = withReload.Authenticate(context.Background(), Credentials{Username: "zed", Password: []byte("pw")})
	require.NoError(t, err)
	require.Equal(t, Allow, r.Decision)
	require.NoError(t, os.WriteFile(path, []byte("broken"), 0o600))
	require.ErrorContains(t, withReload.Reload(), path+":1:")

	failing := NewChain(failingAuthenticator{})
	before := failing.Metrics()
	_, err = failing.Authenticate(context.Background(), Credentials{})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, MetricsSnapshot{Attempts: 1, Errors: 1}, failing.Metrics().Sub(before))
}

type failingAuthenticator struct{}

func (failingAuthenticator) Authenticate(context.Context, Credentials) (Result, error) {
	return Result{}, os.ErrDeadlineExceeded
}

// Ensure that a file declaring a format version this code does not know is refused, not misread.
func TestFormatMarkers(t *testing.T) {
	var b bytes.Buffer
	_, err := NewPasswordFile().WriteTo(&b)
	require.NoError(t, err)
	require.Equal(t, "#mqttds-passwd 1\n", b.String())

	for _, tc := range []struct{ text, err string }{
		{"#mqttds-passwd 1\n", ""},
		{"#mqttds-passwdish comment\n", ""},
		{"# mqttds-passwd 2 (a comment, not a marker)\n", ""},
		{"#mqttds-passwd 2\n", "pw:1: file format version 2; this version of mqttds reads version 1"},
		{"\n#mqttds-passwd two\n", "pw:2: format marker"},
	} {
		_, err := ParsePasswordFile(strings.NewReader(tc.text), "pw")
		if tc.err == "" {
			require.NoError(t, err, tc.text)
		} else {
			require.ErrorContains(t, err, tc.err, tc.text)
		}
	}
	_, err = ParseACL(strings.NewReader("#mqttds-acl 1\nallow all all #\n"), "acl")
	require.NoError(t, err)
	_, err = ParseACL(strings.NewReader("#mqttds-acl 3\nallow all all #\n"), "acl")
	require.ErrorContains(t, err, "acl:1: file format version 3")
}
