package mqttfuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/mqtt/mqtttest"
	"github.com/stretchr/testify/require"
)

// addSeeds adds every golden case that has raw bytes. The same seeds are committed as files under
// testdata/fuzz so that `go test -fuzz` starts from them too.
func addSeeds(f *testing.F) {
	for _, c := range mqtttest.All() {
		if c.Raw != nil {
			f.Add(selector(c.ReadVersion()), c.Raw)
		}
	}
}

// seedName turns a case description into a file name.
func seedName(desc string) string {
	return "golden-" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, desc)
}

// seedFile is the corpus file format of go test fuzz v1 for (byte, []byte) targets.
func seedFile(v byte, raw []byte) string {
	return fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", v, raw)
}

// TestSeedCorpus checks that testdata/fuzz holds one seed per golden case for every target, and
// rewrites the corpus when MQTTDS_WRITE_SEEDS=1.
func TestSeedCorpus(t *testing.T) {
	write := os.Getenv("MQTTDS_WRITE_SEEDS") == "1"
	for _, target := range []string{"FuzzDecode", "FuzzReader", "FuzzPahoAgrees"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, c := range mqtttest.All() {
			if c.Raw == nil {
				continue
			}
			path := filepath.Join(dir, seedName(c.Desc))
			want := seedFile(selector(c.ReadVersion()), c.Raw)
			if write {
				require.NoError(t, os.MkdirAll(dir, 0o755))
				require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
				continue
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err, "stale seed corpus: run MQTTDS_WRITE_SEEDS=1 go test ./fuzz/mqtt")
			require.Equal(t, want, string(got), "stale seed %s", path)
		}
	}
}
