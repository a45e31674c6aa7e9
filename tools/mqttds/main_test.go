package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/config"
	"github.com/stretchr/testify/require"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"no command", nil, 2, "", "usage: mqttds <command>"},
		{"help", []string{"help"}, 0, "add, remove or list users", ""},
		{"--help", []string{"--help"}, 0, "print the version", ""},
		{"unknown", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help for a command", []string{"help", "passwd"}, 0, "", "usage: mqttds passwd"},
		{"help for an unknown command", []string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{"usage error", []string{"passwd", "chmod"}, 2, "", `mqttds passwd: unknown subcommand "chmod"`},
		{"bad flag", []string{"config", "--colour"}, 2, "", "flag provided but not defined: -colour"},
		{"failure", []string{"passwd", "--file", filepath.Join(t.TempDir(), "none"), "list"}, 1, "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			flagOutput := swapStderr(t, &stderr)
			code := dispatch(tc.args, &stdout, &stderr)
			flagOutput()
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			require.Contains(t, stdout.String(), tc.stdout)
			require.Contains(t, stderr.String(), tc.stderr)
		})
	}
}

// swapStderr sends what the registered commands write to os.Stderr (flag usage) into w until the
// returned function is called.
func swapStderr(t *testing.T, w *bytes.Buffer) func() {
	r, pw, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = pw
	// The copy reaches w through the channel, on the test's goroutine: the pipe's EOF orders the
	// two goroutines for the kernel but not for the race detector.
	captured := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		captured <- b.Bytes()
	}()
	return func() {
		os.Stderr = old
		pw.Close()
		w.Write(<-captured)
		r.Close()
	}
}

// Ensure that the help lists every registered command (serve, bench and others included when their
// files are in the build), sorted, each with its summary.
func TestHelp_ListsEveryCommand(t *testing.T) {
	var out bytes.Buffer
	printHelp(&out)
	for name, c := range commands {
		require.Contains(t, out.String(), "  "+name+" ")
		require.Contains(t, out.String(), c.summary)
	}
	require.Contains(t, out.String(), "config")
	require.Less(t, strings.Index(out.String(), "  config"), strings.Index(out.String(), "  passwd"))
}

func TestRegister_Duplicate(t *testing.T) {
	require.Panics(t, func() { register("passwd", "again", nil) })
	require.Panics(t, func() { register("help", "shadow", nil) })
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		file string
		err  string
	}{
		{[]string{"add", "bob"}, []string{"add", "bob"}, "", ""},
		{[]string{"--file", "f", "add", "bob"}, []string{"add", "bob"}, "f", ""},
		{[]string{"add", "--file=f", "bob"}, []string{"add", "bob"}, "f", ""},
		{[]string{"add", "bob", "-file", "f"}, []string{"add", "bob"}, "f", ""},
		{[]string{"add", "--", "-bob", "--file"}, []string{"add", "-bob", "--file"}, "", ""},
		{[]string{"add", "--nope"}, nil, "", "flag provided but not defined"},
		{[]string{"add", "--file"}, nil, "", "flag needs an argument"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(&bytes.Buffer{})
		file := fs.String("file", "", "")
		pos, err := parseInterspersed(fs, tc.args)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.args)
			require.ErrorAs(t, err, new(usageError))
			continue
		}
		require.NoError(t, err, tc.args)
		require.Equal(t, tc.pos, pos, tc.args)
		require.Equal(t, tc.file, *file, tc.args)
	}
}

func TestPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	run := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		args = append([]string{"--file", file, "--bcrypt-cost", "4"}, args...)
		err := passwdMain(args, stdio{in: strings.NewReader(stdin), out: &out, err: &errOut})
		return out.String(), err
	}

	out, err := run("", "add", "alice", "--password", "a-pw")
	require.NoError(t, err)
	require.Equal(t, "added user alice in "+file+"\n", out)
	st, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "#mqttds-passwd 1\nalice:$2a$04$"), "a new file starts with the format marker:\n%s", data)

	out, err = run("b-pw\r\nignored\n", "add", "bob", "--algorithm", "argon2id")
	require.NoError(t, err)
	require.Contains(t, out, "added user bob")
	out, err = run("a-pw-2\n", "add", "alice")
	require.NoError(t, err)
	require.Contains(t, out, "updated user alice")

	out, err = run("", "list")
	require.NoError(t, err)
	require.Equal(t, "alice\tbcrypt\nbob\targon2id\n", out)

	// The file the command wrote is what the broker's authenticator reads.
	p, err := auth.NewPasswordAuthenticator(file)
	require.NoError(t, err)
	for user, pw := range map[string]string{"alice": "a-pw-2", "bob": "b-pw"} {
		r, err := p.Authenticate(t.Context(), auth.Credentials{Username: user, Password: []byte(pw)})
		require.NoError(t, err)
		require.Equal(t, auth.Allow, r.Decision, user)
	}

	out, err = run("", "remove", "alice")
	require.NoError(t, err)
	require.Contains(t, out, "removed user alice")
	out, err = run("", "list")
	require.NoError(t, err)
	require.Equal(t, "bob\targon2id\n", out)

	for _, tc := range []struct {
		stdin string
		args  []string
		err   string
		usage bool
	}{
		{"", []string{"remove", "alice"}, `no user "alice"`, false},
		{"", []string{"add", "carol"}, "empty password", false},
		{"\n", []string{"add", "carol"}, "empty password", false},
		{"", []string{"add", "bad:name", "--password", "x"}, "contains ':'", true},
		{"", []string{"add", "carol", "--password", "x", "--algorithm", "md5"}, "unknown password algorithm", false},
		{"", []string{"list", "--password", "x"}, "--password only applies to add", true},
		{"", []string{"add"}, "add takes one USER", true},
		{"", []string{"remove", "a", "b"}, "remove takes one USER", true},
		{"", []string{"list", "x"}, "list takes no arguments", true},
		{"", nil, "missing subcommand", true},
	} {
		_, err := run(tc.stdin, tc.args...)
		require.ErrorContains(t, err, tc.err, tc.args)
		var ue usageError
		require.Equal(t, tc.usage, errors.As(err, &ue), "usage error? %v", err)
	}
	out, err = run("", "list")
	require.NoError(t, err)
	require.Equal(t, "bob\targon2id\n", out, "failed commands leave the file alone")
}

func TestConfigDefaults(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, configMain([]string{"defaults"}, nil, stdio{out: &out, err: &out}))
	cfg, err := config.Parse(out.Bytes())
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)
	require.Contains(t, out.String(), "# Largest packet accepted or sent")
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	check := func(file string, environ ...string) (string, error) {
		var out bytes.Buffer
		err := configMain([]string{"check", "--config", file}, environ, stdio{out: &out, err: &out})
		return out.String(), err
	}

	hash, err := auth.HashPassword([]byte("pw"), &auth.HashOptions{BcryptCost: 4})
	require.NoError(t, err)
	pw := write("passwd", "alice:"+hash+"\n")
	acl := write("acl", "allow user alice all #\n")
	good := write("good.yaml", "listeners: {tcp: {bind: \"0.0.0.0:1883\"}}\nauth:\n  password_file: "+pw+"\n  acl_file: "+acl+"\n")
	out, err := check(good)
	require.NoError(t, err)
	require.Equal(t, good+": ok\n", out)

	_, err = check(good, "MQTTDS_AUTH_ACL_NOMATCH=sometimes", "MQTTDS_MQTT_MAX_INFLIGHT=0")
	require.ErrorContains(t, err, "auth.acl_nomatch")
	require.ErrorContains(t, err, "mqtt.max_inflight")

	bad := write("bad.yaml", "mqtt:\n  max_inflight: many\n  retain_avialable: true\n")
	_, err = check(bad)
	require.ErrorContains(t, err, bad+":2: mqtt.max_inflight")
	require.ErrorContains(t, err, bad+":3: mqtt.retain_avialable: unknown key")

	badACL := write("bad.acl", "allow everyone all #\n")
	badPw := write("bad.passwd", "alice\n")
	refs := write("refs.yaml", "auth:\n  password_file: "+badPw+"\n  acl_file: "+badACL+"\n")
	_, err = check(refs)
	require.ErrorContains(t, err, "auth.password_file: "+badPw+":1:")
	require.ErrorContains(t, err, "auth.acl_file: "+badACL+":1:")

	_, err = check(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)

	for _, args := range [][]string{{}, {"check"}, {"defaults", "--config", "x"}, {"lint"}} {
		err := configMain(args, nil, stdio{out: &bytes.Buffer{}, err: &bytes.Buffer{}})
		require.ErrorAs(t, err, new(usageError), args)
	}
}

func TestVersionText(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	require.Equal(t, "mqttds (devel)\ngo: go1.26.8\ncommit: unknown (built without VCS information)\n", versionText("", info))

	info.Settings = []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"},
		{Key: "vcs.time", Value: "2026-11-22T02:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	require.Equal(t, "mqttds v1.2.3\ngo: go1.26.8\ncommit: 0123abcd (with uncommitted changes)\ncommit time: 2026-11-22T02:00:00Z\n",
		versionText("v1.2.3", info))
	require.Contains(t, versionText("", nil), "mqttds unknown\ngo: go")
}
