package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/config"
)

const configUsage = `mqttds config defaults
       mqttds config check --config FILE

defaults prints every option with its default value and a comment; the output is a valid
configuration file to start from. check loads FILE the way serve would (defaults, then FILE, then
MQTTDS_ environment variables), validates it, and parses the password and ACL files it names.`

func init() {
	register("config", "print the annotated default configuration, or check a configuration file", func(args []string) error {
		return configMain(args, os.Environ(), stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	})
}

// configMain runs `mqttds config` with args (after the command name) and the environment environ.
func configMain(args, environ []string, s stdio) error {
	fs := newFlagSet("config", configUsage, s.err)
	file := fs.String("config", "", "configuration `file` to check")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one subcommand: defaults or check")
	}
	switch pos[0] {
	case "defaults":
		if *file != "" {
			return usagef("defaults takes no --config")
		}
		return config.WriteAnnotated(s.out, config.Default())
	case "check":
		if *file == "" {
			return usagef("check needs --config FILE")
		}
		return configCheck(*file, environ, s)
	default:
		return usagef("unknown subcommand %q (want defaults or check)", pos[0])
	}
}

// configCheck reports every problem in the configuration file and the auth files it names.
func configCheck(file string, environ []string, s stdio) error {
	cfg, err := config.Load(file, environ)
	if err != nil {
		return fmt.Errorf("%s is not valid:\n%w", file, err)
	}
	var problems []error
	if p := cfg.Auth.PasswordFile; p != "" {
		if _, err := auth.ReadPasswordFile(p); err != nil {
			problems = append(problems, fmt.Errorf("auth.password_file: %w", err))
		}
	}
	if p := cfg.Auth.ACLFile; p != "" {
		noMatch := auth.Allow
		if cfg.Auth.ACLNoMatch == "deny" {
			noMatch = auth.Deny
		}
		if _, err := auth.LoadACL(p, noMatch); err != nil {
			problems = append(problems, fmt.Errorf("auth.acl_file: %w", err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s is not valid:\n%w", file, errors.Join(problems...))
	}
	fmt.Fprintf(s.out, "%s: ok\n", file)
	return nil
}
