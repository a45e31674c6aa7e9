package site

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadCreatesOnceAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := Load(dir)
	require.NoError(t, err)
	require.NotZero(t, id)
	again, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, id, again, "the id survives a restart")
	other, err := Load(t.TempDir())
	require.NoError(t, err)
	require.NotEqual(t, id, other)
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ID
		ok   bool
	}{
		{"00000000000000ff", 0xff, true},
		{"8a3c5f0e1d2b4a69", 0x8a3c5f0e1d2b4a69, true},
		{"0000000000000000", 0, false},
		{"abc", 0, false},
		{"zz3c5f0e1d2b4a69", 0, false},
	} {
		got, err := Parse(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got)
		require.Equal(t, tc.in, got.String())
	}
}

func TestLoadRefusesDamagedFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte("not an id\n"), 0o644))
	_, err := Load(dir)
	require.ErrorContains(t, err, "16 hex digits")
}
