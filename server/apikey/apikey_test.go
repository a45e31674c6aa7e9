package apikey

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Ensure that a key verifies with its token (or its id and secret), that nothing but its hash
// is written, and that keys survive a reopen and a deletion is durable.
func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)
	require.Zero(t, s.Len())
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "an empty store writes no file")

	info, token, err := s.Create("ops-laptop", time.Time{})
	require.NoError(t, err)
	require.Regexp(t, `^mqttds_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$`, token)
	require.True(t, strings.HasPrefix(token, TokenPrefix+info.ID+"_"))
	got, ok := s.Verify(token)
	require.True(t, ok)
	require.Equal(t, info, got)
	secret := token[len(TokenPrefix)+len(info.ID)+1:]
	_, ok = s.VerifyPair(info.ID, secret)
	require.True(t, ok)
	for _, bad := range []string{"", "mqttds_", token[:len(token)-1], token + "x", "Bearer " + token,
		TokenPrefix + "000000000000_" + secret, strings.Replace(token, "_", "-", 1)} {
		_, ok := s.Verify(bad)
		require.False(t, ok, bad)
	}

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(b), secret, "the secret is not stored")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, _, err = s.Create("ops-laptop", time.Time{})
	require.ErrorIs(t, err, ErrNameTaken)
	for _, name := range []string{"", "a b", strings.Repeat("x", 65), "ключ"} {
		_, _, err = s.Create(name, time.Time{})
		require.ErrorIs(t, err, ErrInvalidName, name)
	}
	ci, ciToken, err := s.Create("ci", time.Now().Add(time.Hour))
	require.NoError(t, err)

	s2, err := Open(path)
	require.NoError(t, err)
	require.Equal(t, []Info{ci, info}, s2.List())
	_, ok = s2.Verify(token)
	require.True(t, ok, "keys persist")

	deleted, ok, err := s2.Delete("ops-laptop")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, info, deleted)
	_, ok, err = s2.Delete(info.ID)
	require.NoError(t, err)
	require.False(t, ok)
	_, ok = s2.Verify(token)
	require.False(t, ok)
	s3, err := Open(path)
	require.NoError(t, err)
	require.Equal(t, []Info{ci}, s3.List())
	_, ok = s3.Verify(ciToken)
	require.True(t, ok)

	// An expired key is listed but refused.
	s3.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	_, ok = s3.Verify(ciToken)
	require.False(t, ok)
}

func TestOpen_Refuses(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage": "{",
		"future":  `{"format": 2, "keys": []}`,
		"unknown": `{"format": 1, "keys": [], "extra": 1}`,
		"short":   `{"format": 1, "keys": [{"id": "ab", "name": "x", "created": "2026-01-01T00:00:00Z", "salt": "", "sha256": ""}]}`,
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err := Open(path)
		require.Error(t, err, name)
	}
}
