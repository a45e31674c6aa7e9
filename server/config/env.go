package config

import (
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that overrides an option. The rest of the name is the
// option's dotted key in upper case with dots replaced by underscores:
//
//	listeners.tcp.bind       MQTTDS_LISTENERS_TCP_BIND=127.0.0.1:1884
//	data_dir                 MQTTDS_DATA_DIR=/var/lib/mqttds
//	auth.client_id_allowlist MQTTDS_AUTH_CLIENT_ID_ALLOWLIST=pump-1,pump-2
//	mqtt.auto_subscriptions  MQTTDS_MQTT_AUTO_SUBSCRIPTIONS='[{filter: "cmd/%c", qos: 1}]'
//
// A list of strings may be given comma-separated; any list may be given as a YAML flow sequence.
const EnvPrefix = "MQTTDS_"

// EnvName returns the environment variable that overrides the option key (for example
// "listeners.tcp.bind" → "MQTTDS_LISTENERS_TCP_BIND").
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// ApplyEnv lays the MQTTDS_ variables of environ ("NAME=value" entries, as from os.Environ()) over c.
// A variable whose name starts with an option section (MQTTDS_LISTENERS_…, MQTTDS_AUTH_…) but names
// no option is an error, so a typo does not silently leave a default in force; other MQTTDS_ names
// (used by tests and tools) are ignored.
func (c *Config) ApplyEnv(environ []string) error {
	leaves := leafKeys(reflect.TypeFor[Config](), "")
	byEnv := make(map[string]string, len(leaves))
	for _, k := range leaves {
		byEnv[EnvName(k)] = k
	}
	d := decoder{}
	for _, kv := range slices.Sorted(slices.Values(environ)) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		d.source = "env " + name
		key, known := byEnv[name]
		if !known {
			if section := envSection(name); section != "" {
				d.errs = append(d.errs, &Error{Source: d.source, Key: section + ".?", Msg: "names no option"})
			}
			continue
		}
		d.decode(key, envNode(value, fieldType(key)), fieldByKey(reflect.ValueOf(c).Elem(), key))
	}
	return d.errs.errOrNil()
}

// envNode turns an environment value into the yaml.Node the file decoder expects for a field of type
// t. Scalars are taken verbatim (no YAML parsing: "*" or "a: b" stay strings); lists are a YAML flow
// sequence, or for []string also a comma-separated list.
func envNode(value string, t reflect.Type) *yaml.Node {
	scalar := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
	if t.Kind() != reflect.Slice {
		return scalar(value)
	}
	trimmed := strings.TrimSpace(value)
	if strings.HasPrefix(trimmed, "[") || t.Elem().Kind() != reflect.String {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(trimmed), &doc); err != nil || len(doc.Content) != 1 {
			return scalar(value) // reported by the decoder as "want a list"
		}
		return doc.Content[0]
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, item := range strings.Split(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			seq.Content = append(seq.Content, scalar(item))
		}
	}
	return seq
}

// envSection returns the top-level key whose section the variable name claims, or "".
func envSection(name string) string {
	rest := strings.TrimPrefix(name, EnvPrefix)
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		key := yamlName(t.Field(i))
		up := strings.ToUpper(key)
		if rest == up || strings.HasPrefix(rest, up+"_") {
			return key
		}
	}
	return ""
}

// leafKeys lists the dotted keys of every option under t: the fields that are not nested sections.
// Lists (even lists of structs) are leaves.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := joinKey(prefix, yamlName(f))
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(unmarshalerType) {
			keys = append(keys, leafKeys(f.Type, key)...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// fieldByKey returns the field of v (a Config) named by a dotted key from leafKeys.
func fieldByKey(v reflect.Value, key string) reflect.Value {
	for _, part := range strings.Split(key, ".") {
		f, ok := fieldByTag(v, part)
		if !ok {
			panic("config: no field for key " + key)
		}
		v = f
	}
	return v
}

func fieldType(key string) reflect.Type {
	return fieldByKey(reflect.New(reflect.TypeFor[Config]()).Elem(), key).Type()
}
