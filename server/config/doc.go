// Package config is the broker's configuration: one YAML file, environment overrides, defaults and
// validation. It is the only package in the project with yaml tags; the parts of the broker take the
// plain values they need from a *Config and keep their own Options types.
//
// A configuration is built in three layers, each over the one before:
//
//  1. Default(): every option has a working default (loopback listeners, anonymous clients allowed);
//  2. the YAML file: only the keys it names change, so a file may be a few lines long;
//  3. MQTTDS_ environment variables, one per option (see EnvPrefix), for containers and tests.
//
// Load does all three and then Validate. Every problem is reported with its dotted key
// (listeners.tcp.bind), its file and line where there is one, and all problems of a step are reported
// together, as an Errors value:
//
//	cfg, err := config.Load("mqttds.yaml", os.Environ())
//	if err != nil {
//		log.Fatal(err) // mqttds.yaml:7: mqtt.max_inflight: invalid value "lots" (want an integer)
//	}
//
// Durations are Go duration strings ("10ms", "2h"); sizes are bytes or carry a unit ("1MiB", "64KiB",
// "1GB"). WriteAnnotated prints a configuration with a comment above every key; for Default() that
// output is the reference of the file format (`mqttds config defaults`), and it parses back to the
// same configuration.
//
// What config is not: it does not read the files it names (password file, ACL file, certificates) and
// does not watch its own file for changes. A *Config is a plain value; it is not safe to modify while
// another goroutine reads it.
package config
