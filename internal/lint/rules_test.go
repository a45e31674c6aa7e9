package lint

import (
	"go/token"
	"path"
	"slices"
	"testing"
)

// Ensure that each rule finds what it bans, at the right line, and lets through what it
// allows: TestLint passing means nothing unless its rules can fail.
func TestRules(t *testing.T) {
	type src struct{ path, text string }
	cases := []struct {
		rule  string
		desc  string
		files []src // one package: the directory of the first file
		want  []string
	}{
		{
			rule: "package-doc", desc: "no comment",
			files: []src{{"a/a.go", "package a\n"}, {"a/b.go", "package a\n"}},
			want:  []string{"a/a.go:1: package a (a) has no package comment: add a doc.go"},
		},
		{
			rule: "package-doc", desc: "comment in one file",
			files: []src{{"a/a.go", "package a\n"}, {"a/doc.go", "// Package a is a.\npackage a\n"}},
		},
		{
			rule: "package-doc", desc: "only in a test file of a package with sources",
			files: []src{{"a/a.go", "package a\n"}, {"a/a_test.go", "// Package a is a.\npackage a\n"}},
			want:  []string{"a/a.go:1: package a (a) has no package comment: add a doc.go"},
		},
		{
			rule: "package-doc", desc: "test-only package",
			files: []src{{"fuzz/a/fuzz_test.go", "// Package a fuzzes a.\npackage a\n"}},
		},
		{
			rule: "no-todo-markers", desc: "markers",
			files: []src{{"a/a.go", "// Package a.\npackage a\n\n// f does it. TODO: faster\nfunc f() {\n\t_ = 1 // FIXME\n}\n"}},
			want:  []string{"a/a.go:4: TODO marker in a comment", "a/a.go:6: FIXME marker in a comment"},
		},
		{
			rule: "no-todo-markers", desc: "tests and words that only contain them",
			files: []src{
				{"a/a.go", "// Package a keeps a todo list; TODOS and xxxl are words.\npackage a\n"},
				{"a/a_test.go", "package a\n\n// TODO: more cases\n"},
			},
		},
		{
			rule: "no-stub-errors", desc: "stubs",
			files: []src{{"a/a.go", `package a

import (
	"errors"
	"fmt"
)

func f(x string) error {
	if x == "" {
		panic("not implemented")
	}
	if x == "1" {
		panic("TODO: " + x)
	}
	if x == "2" {
		return fmt.Errorf("a: %s unimplemented", x)
	}
	return errors.New("a: not yet implemented")
}
`}},
			want: []string{
				`a/a.go:10: stub: panic("not implemented")`,
				`a/a.go:13: stub: panic("TODO: ")`,
				`a/a.go:16: stub: fmt.Errorf("a: %s unimplemented")`,
				`a/a.go:18: stub: errors.New("a: not yet implemented")`,
			},
		},
		{
			rule: "no-stub-errors", desc: "real errors, a local panic, a later literal",
			files: []src{{"a/a.go", `package a

import "errors"

func f(x string) error {
	if x == "" {
		panic("a: empty x")
	}
	panic := func(string) {}
	panic("not implemented")
	return errors.New("a: topic " + x + " is not implemented by the peer")
}
`}},
		},
		{
			rule: "paho-imports", desc: "product code",
			files: []src{{"server/a.go", "package server\n\nimport _ \"github.com/eclipse/paho.golang/paho\"\n"}},
			want:  []string{"server/a.go:3: imports github.com/eclipse/paho.golang/paho"},
		},
		{
			rule: "paho-imports", desc: "tests and the allowed package",
			files: []src{{"server/a_test.go", "package server\n\nimport _ \"github.com/eclipse/paho.mqtt.golang\"\n"}},
		},
		{
			rule: "paho-imports", desc: "allowed package",
			files: []src{{"mqtt/mqtttest/pahoconv/p.go", "package pahoconv\n\nimport _ \"github.com/eclipse/paho.golang/packets\"\n"}},
		},
		{
			rule: "leaf-imports", desc: "a leaf importing the module and a dependency",
			files: []src{{"mqtt/topic/a.go", "package topic\n\nimport (\n\t_ \"strings\"\n\t_ \"github.com/mqttds/mqttds/ds\"\n\t_ \"golang.org/x/text\"\n)\n"}},
			want: []string{
				"mqtt/topic/a.go:5: leaf package imports github.com/mqttds/mqttds/ds",
				"mqtt/topic/a.go:6: leaf package imports golang.org/x/text",
			},
		},
		{
			rule: "leaf-imports", desc: "tests of a leaf and other packages",
			files: []src{{"mqtt/topic/a_test.go", "package topic\n\nimport _ \"github.com/mqttds/mqttds/ds\"\n"}},
		},
		{
			rule: "time-sleep", desc: "product code, allowed function, tests",
			files: []src{
				{"server/limits.go", `package server

import "time"

type rateLimiter struct{}

func (r *rateLimiter) wait() { time.Sleep(time.Millisecond) }

func (r *rateLimiter) poll() { time.Sleep(time.Millisecond) }
`},
				{"server/x.go", "package server\n\nimport t \"time\"\n\nvar _ = func() int { t.Sleep(0); return 0 }()\n"},
				{"server/x_test.go", "package server\n\nimport \"time\"\n\nfunc g() { time.Sleep(0) }\n"},
			},
			want: []string{"server/limits.go:9: time.Sleep in rateLimiter.poll", "server/x.go:5: time.Sleep in package level"},
		},
		{
			rule: "library-print", desc: "library package",
			files: []src{{"ds/internal/a/a.go", `package a

import (
	"fmt"
	"io"
	"os"
)

func f(w io.Writer) {
	fmt.Println("x")
	fmt.Fprintf(os.Stderr, "x")
	fmt.Fprintf(w, "fine: a caller's writer")
	_ = fmt.Sprint("fine")
	println("x")
}
`}},
			want: []string{"ds/internal/a/a.go:10: fmt.Println", "ds/internal/a/a.go:11: fmt.Fprintf to Stderr",
				"ds/internal/a/a.go:14: builtin println"},
		},
		{
			rule: "library-print", desc: "commands and packages outside the libraries",
			files: []src{{"server/internal/gen/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println() }\n"}},
		},
		{
			rule: "library-print", desc: "tools",
			files: []src{{"tools/x/x.go", "package x\n\nimport \"fmt\"\n\nfunc f() { fmt.Println() }\n"}},
		},
		{
			rule: "raw-atomics", desc: "raw and typed",
			files: []src{{"a/a.go", `package a

import "sync/atomic"

var n int64
var m atomic.Int64

func f() { atomic.AddInt64(&n, 1); m.Add(1) }
`}},
			want: []string{"a/a.go:8: atomic.AddInt64"},
		},
		{
			rule: "session-seam", desc: "a dur field and its use",
			files: []src{{"server/x.go", "package server\n\ntype s struct{ dur *int }\n\nfunc f(x s) { _ = x.dur }\n"}},
			want:  []string{"server/x.go:3: field dur", "server/x.go:5: selector .dur"},
		},
		{
			rule: "session-seam", desc: "a protocol file with a concrete session type and storage",
			files: []src{{"server/router.go", "package server\n\nimport \"github.com/mqttds/mqttds/ds\"\n\n" +
				"var _ ds.DB\n\nfunc f(s Session) { _, _ = s.(*durableSession) }\n"}},
			want: []string{"server/router.go:3: protocol file imports github.com/mqttds/mqttds/ds",
				"server/router.go:7: protocol file names durableSession"},
		},
		{
			rule: "session-seam", desc: "a file defining its own type, and other packages",
			files: []src{{"server/session.go", "package server\n\ntype memSession struct{}\n"}},
		},
		{
			rule: "session-seam", desc: "outside package server",
			files: []src{{"ds/x.go", "package ds\n\ntype s struct{ dur int }\n"}},
		},
		{
			rule: "storage-imports", desc: "an adapter file and another",
			files: []src{
				{"server/durable_server.go", "package server\n\nimport _ \"github.com/mqttds/mqttds/server/durable\"\n"},
				{"server/api.go", "package server\n\nimport _ \"github.com/mqttds/mqttds/layout/wildcard\"\n"},
				{"server/api_test.go", "package server\n\nimport _ \"github.com/mqttds/mqttds/ds\"\n"},
			},
			want: []string{"server/api.go:3: imports github.com/mqttds/mqttds/layout/wildcard outside the durable adapter files"},
		},
		{
			rule: "gofmt", desc: "unformatted",
			files: []src{{"a/a.go", "package a\nfunc  f() {}\n"}, {"a/b.go", "package a\n\nfunc g() {}\n"}},
			want:  []string{"a/a.go:1: not gofmt-formatted"},
		},
	}
	byName := map[string]rule{}
	for _, r := range rules {
		byName[r.name] = r
	}
	for _, tc := range cases {
		t.Run(tc.rule+"/"+tc.desc, func(t *testing.T) {
			r, ok := byName[tc.rule]
			if !ok {
				t.Fatalf("no rule %q", tc.rule)
			}
			m := &module{fset: token.NewFileSet()}
			p := &pkg{dir: path.Dir(tc.files[0].path)}
			for _, f := range tc.files {
				if err := m.add(p, f.path, []byte(f.text)); err != nil {
					t.Fatal(err)
				}
				if !p.files[len(p.files)-1].test {
					p.name = p.files[len(p.files)-1].ast.Name.Name
				}
			}
			m.pkgs = []*pkg{p}
			got := run(m, r)
			if !slices.Equal(got, tc.want) {
				t.Errorf("hits:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}
