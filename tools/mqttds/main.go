// Command mqttds is the broker's one binary: `mqttds serve` runs the broker, and the other
// subcommands manage its files (passwd, config) or report on it (version). Each subcommand lives in
// its own file and registers itself from init, so main.go knows none of them by name.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// command is one subcommand. run gets the arguments after the command name; it returns a usageError
// for bad arguments (exit status 2) and any other error for a failure (exit status 1).
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

// commands holds every registered subcommand by name.
// Use: written only by register, from init functions; read by main afterwards.
var commands = map[string]command{}

// register adds a subcommand. It is called from the init function of the file that implements the
// command; registering a name twice is a programming error.
func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup || name == "help" {
		panic(fmt.Sprintf("mqttds: command %q registered twice", name))
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

// usageError marks an error in how a command was called, as opposed to a failure while running it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the command named by args[0] and returns the process exit status.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printHelp(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		return help(rest, stdout, stderr)
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "mqttds: unknown command %q; run 'mqttds help' for the list\n", name)
		return 2
	}
	err := cmd.run(rest)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mqttds %s: %v\nrun 'mqttds %s -h' for usage\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "mqttds %s: %v\n", name, err)
		return 1
	}
}

// help prints the command list, or a command's own usage for `mqttds help CMD`.
func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printHelp(stdout)
		return 0
	}
	if _, ok := commands[args[0]]; !ok {
		fmt.Fprintf(stderr, "mqttds help: unknown command %q\n", args[0])
		return 2
	}
	return dispatch([]string{args[0], "-h"}, stdout, stderr)
}

func printHelp(w io.Writer) {
	names := make([]string, 0, len(commands))
	width := len("help")
	for name := range commands {
		names = append(names, name)
		width = max(width, len(name))
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("mqttds: a durable MQTT 5 / 3.1.1 broker\n\nusage: mqttds <command> [arguments]\n\ncommands:\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, name, commands[name].summary)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, "help", "list the commands, or show one command's usage: help <command>")
	io.WriteString(w, b.String())
}

// newFlagSet returns a flag set that reports errors instead of exiting and writes its usage to w.
func newFlagSet(name, usage string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may appear before, between or after positional arguments
// (`passwd add alice --password x`), which flag.Parse alone stops at. Everything after "--" is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
