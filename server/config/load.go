package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load builds the configuration the broker starts with: Default(), then the YAML file at path (skipped
// when path is ""), then the MQTTDS_ variables in environ (as from os.Environ()), then Validate. The
// returned error is an Errors listing every problem found by the first step that failed.
func Load(path string, environ []string) (*Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := cfg.parse(path, data); err != nil {
			return nil, err
		}
	}
	if err := cfg.ApplyEnv(environ); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse returns Default() with the YAML document data laid over it. Keys absent from data keep their
// defaults. Unknown keys, duplicate keys and values of the wrong type are errors naming the key. Parse
// does not call Validate.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	if err := cfg.parse("", data); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) parse(source string, data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file means "all defaults"
			return nil
		}
		return Errors{{Source: source, Key: "(document)", Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Errors{{Source: source, Line: extra.Line, Key: "(document)", Msg: "more than one YAML document"}}
	}
	d := decoder{source: source}
	d.decode("", &doc, reflect.ValueOf(c).Elem())
	return d.errs.errOrNil()
}

// decoder lays a yaml.Node tree over a Go value, field by field, so that each problem can be reported
// with its full dotted key and line and all problems are reported at once. yaml.v3's own KnownFields
// decoding stops at the first unknown key and names only the innermost type.
type decoder struct {
	source string
	errs   Errors
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{Source: d.source, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(key string, n *yaml.Node, v reflect.Value) {
	switch {
	case n.Kind == yaml.DocumentNode:
		if len(n.Content) == 1 {
			d.decode(key, n.Content[0], v)
		}
		return
	case n.Kind == yaml.AliasNode:
		d.decode(key, n.Alias, v)
		return
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return // "key:" with no value keeps the default
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, key, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(key, n, v)
	case reflect.Slice:
		d.decodeSlice(key, n, v)
	default:
		d.decodeScalar(key, n, v)
	}
}

func (d *decoder) decodeStruct(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, displayKey(key), "want a mapping of options, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		child := joinKey(key, kn.Value)
		if seen[kn.Value] {
			d.fail(kn, child, "duplicate key")
			continue
		}
		seen[kn.Value] = true
		f, ok := fieldByTag(v, kn.Value)
		if !ok {
			d.fail(kn, child, "unknown key%s", suggest(v.Type(), kn.Value))
			continue
		}
		d.decode(child, vn, f)
	}
}

func (d *decoder) decodeSlice(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, key, "want a list, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		v.SetZero() // "[]" and an absent key mean the same: keep nil so configs compare equal
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, en := range n.Content {
		d.decode(fmt.Sprintf("%s[%d]", key, i), en, out.Index(i))
	}
	v.Set(out)
}

func (d *decoder) decodeScalar(key string, n *yaml.Node, v reflect.Value) {
	var want string
	switch v.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int64:
		want = "an integer"
	case reflect.String:
		want = "a string"
	default:
		panic(fmt.Sprintf("config: field %s has unsupported kind %s", key, v.Kind()))
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, key, "want %s, got %s", want, kindName(n))
		return
	}
	// Decode into a scratch value so that a failed decode leaves the default in place.
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(n, key, "invalid value %q (want %s)", n.Value, want)
		return
	}
	v.Set(tmp.Elem())
}

func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// suggest names a known key that differs from name only by case, dashes or an s, the usual typos.
func suggest(t reflect.Type, name string) string {
	norm := func(s string) string {
		return strings.TrimSuffix(strings.ReplaceAll(strings.ToLower(s), "-", "_"), "s")
	}
	for i := range t.NumField() {
		if known := yamlName(t.Field(i)); norm(known) == norm(name) {
			return fmt.Sprintf(" (did you mean %s?)", known)
		}
	}
	return ""
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func displayKey(key string) string {
	if key == "" {
		return "(document)"
	}
	return key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}
