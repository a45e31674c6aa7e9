package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mqttds/mqttds/server/auth"
)

const passwdUsage = `mqttds passwd [--file F] add USER [--password P] [--algorithm bcrypt|argon2id]
       mqttds passwd [--file F] remove USER
       mqttds passwd [--file F] list

Manages the password file named by auth.password_file. Without --password, add reads the password
from standard input: typed twice with echo off on a terminal, otherwise the first line. The file is
rewritten atomically with mode 0600; a running broker picks it up on reload.`

func init() {
	register("passwd", "add, remove or list users of a password file", func(args []string) error {
		return passwdMain(args, stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	})
}

// stdio is a command's standard streams, passed in so that tests can run commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// passwdMain runs `mqttds passwd` with args (after the command name).
func passwdMain(args []string, s stdio) error {
	fs := newFlagSet("passwd", passwdUsage, s.err)
	file := fs.String("file", "passwd", "password `file` to edit")
	password := fs.String("password", "", "the new password (add); visible to other local users in the process list, prefer stdin")
	algorithm := fs.String("algorithm", string(auth.Bcrypt), "hash `algorithm` for add: bcrypt or argon2id")
	cost := fs.Int("bcrypt-cost", 0, "bcrypt cost for add (4-31; default 10)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing subcommand: add, remove or list")
	}
	verb, pos := pos[0], pos[1:]
	passwordSet := false
	fs.Visit(func(f *flag.Flag) { passwordSet = passwordSet || f.Name == "password" })
	if verb != "add" && passwordSet {
		return usagef("--password only applies to add")
	}
	switch verb {
	case "add":
		if len(pos) != 1 {
			return usagef("add takes one USER")
		}
		opts := &auth.HashOptions{Algorithm: auth.Algorithm(*algorithm), BcryptCost: *cost}
		return passwdAdd(*file, pos[0], *password, passwordSet, opts, s)
	case "remove":
		if len(pos) != 1 {
			return usagef("remove takes one USER")
		}
		return passwdRemove(*file, pos[0], s)
	case "list":
		if len(pos) != 0 {
			return usagef("list takes no arguments")
		}
		return passwdList(*file, s)
	default:
		return usagef("unknown subcommand %q (want add, remove or list)", verb)
	}
}

func passwdAdd(file, user, password string, passwordSet bool, opts *auth.HashOptions, s stdio) error {
	if err := auth.ValidateUsername(user); err != nil {
		return usagef("%v", err)
	}
	f, err := auth.ReadPasswordFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = auth.NewPasswordFile() // add creates the file
	case err != nil:
		return err
	}
	if !passwordSet {
		if password, err = readPassword(s); err != nil {
			return err
		}
	}
	if password == "" {
		return errors.New("empty password")
	}
	hash, err := auth.HashPassword([]byte(password), opts)
	if err != nil {
		return err
	}
	added, err := f.Set(user, hash)
	if err != nil {
		return err
	}
	if err := f.WriteFile(file); err != nil {
		return err
	}
	verb := "updated"
	if added {
		verb = "added"
	}
	fmt.Fprintf(s.out, "%s user %s in %s\n", verb, user, file)
	return nil
}

func passwdRemove(file, user string, s stdio) error {
	f, err := auth.ReadPasswordFile(file)
	if err != nil {
		return err
	}
	if !f.Remove(user) {
		return fmt.Errorf("no user %q in %s", user, file)
	}
	if err := f.WriteFile(file); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "removed user %s from %s\n", user, file)
	return nil
}

func passwdList(file string, s stdio) error {
	f, err := auth.ReadPasswordFile(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(s.out)
	for _, u := range f.Users() {
		fmt.Fprintf(w, "%s\t%s\n", u.Name, u.Algorithm)
	}
	return w.Flush()
}

// readPassword reads the new password from s.in: from a terminal twice with echo off, otherwise the
// first line, without its line ending.
func readPassword(s stdio) (string, error) {
	if f, ok := s.in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(s.err, "Password: ")
		first, err := readNoEcho(f)
		fmt.Fprintln(s.err)
		if err != nil {
			return "", err
		}
		fmt.Fprint(s.err, "Again: ")
		second, err := readNoEcho(f)
		fmt.Fprintln(s.err)
		if err != nil {
			return "", err
		}
		if first != second {
			return "", errors.New("the passwords do not match")
		}
		return first, nil
	}
	line, err := bufio.NewReader(s.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
