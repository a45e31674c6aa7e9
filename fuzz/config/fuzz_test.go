package configfuzz

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mqttds/mqttds/server/config"
)

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data)
		if err != nil {
			return
		}
		_ = cfg.Validate() // must not panic, whatever the values
		var out bytes.Buffer
		if err := config.WriteAnnotated(&out, cfg); err != nil {
			t.Fatalf("WriteAnnotated: %v", err)
		}
		again, err := config.Parse(out.Bytes())
		if err != nil {
			t.Fatalf("printed configuration does not parse: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v\n%s", cfg, again, out.String())
		}
	})
}
