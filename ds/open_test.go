package ds

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"

	"github.com/mqttds/mqttds/layout"
)

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := (&Options{
		NumShards: -1,
		Buffer:    BufferOptions{MaxItems: -1, MaxBytes: -2, FlushInterval: -time.Second, MaxInFlight: 100},
		Retention: RetentionOptions{Period: time.Hour, RotationInterval: 2 * time.Hour},
	}).EnsureDefaults()
	o.Compression = 9
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{"NumShards", "MaxItems", "MaxBytes", "FlushInterval", "MaxInFlight", "Compression", "RotationInterval"} {
		require.Contains(t, err.Error(), want)
	}
	require.NoError(t, (*Options)(nil).EnsureDefaults().Validate())
	_, err = Open("x", &Options{FS: vfs.NewMem(), NumShards: 1 << 20})
	require.ErrorContains(t, err, "NumShards")
	_, err = Open("x", &Options{FS: vfs.NewMem(), Layout: layout.Options{Kind: "nope"}})
	require.ErrorContains(t, err, "nope")
}

func TestOpenRefusesForeignDirectory(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("db", 0o755))
	f, err := fs.Create("db/notes.txt", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	opts := testOptions()
	opts.FS = fs
	_, err = Open("db", opts)
	require.ErrorIs(t, err, ErrNotStore)
	names, err := fs.List("db")
	require.NoError(t, err)
	require.Equal(t, []string{"notes.txt"}, names, "nothing written into a foreign directory")
}

func TestOpenRejectsBadMarker(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":     "hello\n",
		"bad version": "mqttds-ds\nformat x\n",
	} {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			db := openTest(t, "db", opts)
			require.NoError(t, db.Close())
			writeFile(t, opts.FS, "db/"+markerName, content)
			_, err := Open("db", opts)
			require.ErrorIs(t, err, ErrCorruption)
		})
	}
	t.Run("newer version", func(t *testing.T) {
		opts := testOptions()
		db := openTest(t, "db", opts)
		require.NoError(t, db.Close())
		writeFile(t, opts.FS, "db/"+markerName, "mqttds-ds\nformat 99\n")
		_, err := Open("db", opts)
		require.ErrorIs(t, err, ErrFormatVersion)
	})
}

func writeFile(t *testing.T, fs vfs.FS, name, content string) {
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestOpenKeepsShardCount(t *testing.T) {
	opts := testOptions()
	opts.NumShards = 3
	db := openTest(t, "db", opts)
	require.NoError(t, db.Close())
	opts.NumShards = 0
	db = openTest(t, "db", opts)
	require.Equal(t, 3, db.NumShards())
	require.NoError(t, db.Close())
	opts.NumShards = 5
	_, err := Open("db", opts)
	require.ErrorIs(t, err, ErrOptionsMismatch)
}

func TestOpenLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.FS = vfs.Default
	db := openTest(t, dir, opts)
	_, err := Open(dir, opts)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, db.Close())
	db = openTest(t, dir, opts) // the lock is released by Close
	require.NoError(t, db.Close())
}

// TestOpenLockedAcrossProcesses runs a child process that opens the store while this process
// holds it, and checks the child's error.
func TestOpenLockedAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("DS_TEST_LOCK_DIR"); dir != "" {
		_, err := Open(dir, &Options{NumShards: 4, Layout: layout.Options{Kind: layout.KindReference}})
		if errors.Is(err, ErrLocked) {
			os.Stdout.WriteString("LOCKED: " + err.Error() + "\n")
			os.Exit(0)
		}
		os.Stdout.WriteString("NOT LOCKED\n")
		os.Exit(1)
	}
	dir := t.TempDir()
	opts := testOptions()
	opts.FS = vfs.Default
	db := openTest(t, dir, opts)
	out := runChild(t, "TestOpenLockedAcrossProcesses", "DS_TEST_LOCK_DIR="+dir)
	require.Contains(t, out, "LOCKED: ds: directory is locked")
	require.NoError(t, db.Close())
}

// runChild runs this test binary on one test with extra environment, and returns its output.
func runChild(t *testing.T, test string, env ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// TestOpenCreationFailureLeavesNothingBroken fails every write while the store is created,
// then lets writes through: the second Open succeeds.
func TestOpenCreationFailureLeavesNothingBroken(t *testing.T) {
	toggle := &errorfs.Toggle{Injector: errorfs.ErrInjected}
	toggle.On()
	opts := testOptions()
	opts.FS = errorfs.Wrap(vfs.NewMem(), toggle)
	_, err := Open("db", opts)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "injected"), "%v", err)
	toggle.Off()
	db := openTest(t, "db", opts)
	require.NoError(t, db.Store(context.Background(), []Message{msg("c", "t", "p")}, Sync))
}

func TestOpenOnFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o644))
	opts := testOptions()
	opts.FS = vfs.Default
	_, err := Open(path, opts)
	require.Error(t, err)
}
