package lint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A rule is one check of the module's sources, with the reason it exists: the reason is
// printed above the hits, so that whoever breaks a rule learns why it is there.
type rule struct {
	name   string
	reason string
	check  func(m *module, report reportFunc)
}

// reportFunc records one hit at pos.
type reportFunc func(pos token.Pos, format string, args ...any)

var rules = []rule{
	{
		name: "package-doc",
		reason: "Every package opens with a doc comment saying what it is, what it is not and its " +
			"concurrency rules (style.md §6.1); put it in doc.go once it is longer than a few lines.",
		check: checkPackageDoc,
	},
	{
		name: "no-todo-markers",
		reason: "Shipped code has no TODO, FIXME or XXX: finish the path, or leave it out and say in " +
			"DESIGN.md what is missing.",
		check: checkTodoMarkers,
	},
	{
		name: "no-stub-errors",
		reason: "A panic or error that says TODO or not implemented is a stub that compiles: the " +
			"feature is either there or refused with a real error.",
		check: checkStubErrors,
	},
	{
		name: "paho-imports",
		reason: "Eclipse Paho is our test oracle (interop and differential tests), not a dependency " +
			"of the broker, its client or its tools: import it only from _test.go files and the " +
			"packages in pahoAllowed.",
		check: checkPahoImports,
	},
	{
		name: "time-sleep",
		reason: "A sleep in product code either waits for something that has a signal (use the " +
			"signal) or adds latency on purpose; each deliberate one is in sleepAllowed with its " +
			"reason.",
		check: checkSleep,
	},
	{
		name: "library-print",
		reason: "Library packages (ds, layout, lts, mqtt, server) report through return values and " +
			"their slog.Logger; standard output and error belong to the commands.",
		check: checkLibraryPrint,
	},
	{
		name: "raw-atomics",
		reason: "Use the typed atomics (atomic.Int64, atomic.Bool, atomic.Pointer[T]): a field of " +
			"such a type cannot be read or written without the atomic operation (style.md §7).",
		check: checkRawAtomics,
	},
	{
		name: "leaf-imports",
		reason: "The packages in leafPackages hold rules that every layer shares (ds and layout " +
			"as much as the codec and the broker); they import only the standard library, so " +
			"that any layer may import them without an upward or circular import.",
		check: checkLeafImports,
	},
	{
		name: "session-seam",
		reason: "The broker reaches a session only through the Session interface: memSession and " +
			"durableSession are two implementations, neither inside the other, so no session " +
			"carries a dur field, and the protocol files in seamFiles name no concrete session " +
			"type (beyond the one they define) and import no storage package.",
		check: checkSessionSeam,
	},
	{
		name: "storage-imports",
		reason: "Durable storage (ds, layout, server/durable) enters package server through its " +
			"durable adapter files only, each listed in storageFiles with its job; any other file " +
			"of the package goes through Session or RetainedStore.",
		check: checkStorageImports,
	},
	{
		name:   "gofmt",
		reason: "Every file is gofmt-formatted (run gofmt -w on it).",
		check:  checkGofmt,
	},
}

// pahoAllowed lists the non-test packages (directories) that may import Eclipse Paho.
var pahoAllowed = map[string]string{
	"mqtt/mqtttest/pahoconv": "converts packets between our codec and Paho's for the interop " +
		"tests and the differential fuzz target; nothing but tests imports it",
}

// leafPackages lists the packages (directories) whose non-test files import only the standard
// library.
var leafPackages = map[string]string{
	"mqtt/topic": "topic name and filter rules: the codec, the broker, ds and layout use them",
}

// seamFiles lists the files of package server that run the protocol against the Session
// interface, each with the concrete session type it may name (the one it defines), if any.
var seamFiles = map[string]string{
	"server/session.go":   "memSession",
	"server/router.go":    "",
	"server/server.go":    "",
	"server/connect.go":   "",
	"server/loop.go":      "",
	"server/qos.go":       "",
	"server/subscribe.go": "",
	"server/will.go":      "",
}

// sessionTypes are the concrete Session implementations of package server.
var sessionTypes = []string{"memSession", "durableSession"}

// storagePackages are the import paths (and their subpackages) of durable storage.
var storagePackages = []string{
	"github.com/mqttds/mqttds/ds",
	"github.com/mqttds/mqttds/layout",
	"github.com/mqttds/mqttds/server/durable",
}

// storageFiles lists the non-test files of package server that may import storagePackages:
// the durable adapter, by job.
var storageFiles = map[string]string{
	"server/durable_server.go":  "opening and closing the store, loading and restoring sessions, kinds at CONNECT",
	"server/durable_publish.go": "the publish path: a PUBLISH stored, then routed and acknowledged in order",
	"server/durable_timers.go":  "compact sessions' deadlines, evictions and the expiry sweep",
	"server/durable_session.go": "durableSession: the Session whose state is in storage, its delivery loop",
	"server/durable_shared.go":  "durable shared subscription groups",
	"server/durable_options.go": "DurableOptions and their ds options",
	"server/retained_ds.go":     "DSRetained: the RetainedStore in a ds KV table",
	"server/ds_metrics.go":      "ds metrics exported to Prometheus",
	"server/api_node.go":        "the API's view of the storage shards",
}

// sleepAllowed lists the functions of non-test code that may call time.Sleep, keyed by
// "file function".
var sleepAllowed = map[string]string{
	"server/limits.go rateLimiter.wait": "the pause is the feature: a client over its " +
		"message or byte rate is not read for the time its debt needs",
	"mqtt/client/clienttest/mosquitto.go StartMosquitto": "test support: polls until an " +
		"external mosquitto process listens",
	"mqtt/client/clienttest/mosquitto.go stopPID": "test support: polls until an external " +
		"process has exited, then kills it",
	"benchmarks/mqttbench/pubsub.go runner.drainUntil": "load generator: polls its receive counters until " +
		"they reach the target or the deadline",
	"benchmarks/mqttbench/durable.go runner.drainIdle": "load generator: polls its receive counter " +
		"until it stops moving",
}

// libraryRoots are the directories whose packages, and their subpackages, are libraries for
// library-print.
var libraryRoots = []string{"ds", "layout", "lts", "mqtt", "server"}

// Ensure that the module's sources keep every rule.
func TestLint(t *testing.T) {
	m := loadModule(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			if hits := run(m, r); len(hits) > 0 {
				t.Errorf("%s\n%s", r.reason, strings.Join(hits, "\n"))
			}
		})
	}
}

// Ensure that every allowlist entry still names code that exists, so an exception does not
// outlive what it excused.
func TestLint_AllowlistsCurrent(t *testing.T) {
	m := loadModule(t)
	funcs := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range m.pkgs {
		dirs[p.dir] = true
		for _, f := range p.files {
			for _, d := range f.ast.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok {
					funcs[f.path+" "+funcName(fd)] = true
				}
			}
		}
	}
	for key := range sleepAllowed {
		if !funcs[key] {
			t.Errorf("sleepAllowed: %q names no function", key)
		}
	}
	for dir := range pahoAllowed {
		if !dirs[dir] {
			t.Errorf("pahoAllowed: %q is no package", dir)
		}
	}
	files := map[string]bool{}
	for _, p := range m.pkgs {
		for _, f := range p.files {
			files[f.path] = true
		}
	}
	for path := range seamFiles {
		if !files[path] {
			t.Errorf("seamFiles: %q is no file", path)
		}
	}
	for path := range storageFiles {
		if !files[path] {
			t.Errorf("storageFiles: %q is no file", path)
		}
	}
	for dir := range leafPackages {
		if !dirs[dir] {
			t.Errorf("leafPackages: %q is no package", dir)
		}
	}
}

// run applies r to m and returns its hits as "file:line: message", sorted.
func run(m *module, r rule) []string {
	var hits []string
	r.check(m, func(pos token.Pos, format string, args ...any) {
		p := m.fset.Position(pos)
		hits = append(hits, fmt.Sprintf("%s:%d: %s", p.Filename, p.Line, fmt.Sprintf(format, args...)))
	})
	slices.Sort(hits)
	return hits
}

// module is every Go file of the module, parsed, grouped by package directory.
type module struct {
	fset *token.FileSet
	pkgs []*pkg
}

type pkg struct {
	dir   string // relative to the module root, slash-separated: "server/auth"
	name  string // the package clause of its non-test files
	files []*file
}

type file struct {
	path string // relative to the module root, slash-separated
	test bool   // a _test.go file
	src  []byte
	ast  *ast.File
}

// loadModule lists the module's packages with go list and parses each of their Go files,
// those that build constraints leave out included.
func loadModule(t *testing.T) *module {
	t.Helper()
	root := moduleRoot(t)
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	m := &module{fset: token.NewFileSet()}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var lp struct {
			Dir, Name                                                    string
			GoFiles, CgoFiles, IgnoredGoFiles, TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&lp); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		rel, err := filepath.Rel(root, lp.Dir)
		if err != nil {
			t.Fatal(err)
		}
		p := &pkg{dir: filepath.ToSlash(rel), name: lp.Name}
		names := slices.Concat(lp.GoFiles, lp.CgoFiles, lp.IgnoredGoFiles, lp.TestGoFiles, lp.XTestGoFiles)
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			if !strings.HasSuffix(name, ".go") {
				continue
			}
			src, err := os.ReadFile(filepath.Join(lp.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.add(p, path.Join(p.dir, name), src); err != nil {
				t.Fatal(err)
			}
		}
		m.pkgs = append(m.pkgs, p)
	}
	if len(m.pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return m
}

// moduleRoot is the directory of the go.mod that holds this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside a module")
	}
	return filepath.Dir(gomod)
}

// add parses src as the file at path (relative to the module root) of p.
func (m *module) add(p *pkg, path string, src []byte) error {
	f, err := parser.ParseFile(m.fset, path, src, parser.ParseComments)
	if err != nil {
		return err
	}
	p.files = append(p.files, &file{path: path, test: strings.HasSuffix(path, "_test.go"), src: src, ast: f})
	return nil
}

// sources calls fn for every non-test file.
func (m *module) sources(fn func(p *pkg, f *file)) {
	for _, p := range m.pkgs {
		for _, f := range p.files {
			if !f.test {
				fn(p, f)
			}
		}
	}
}

func checkPackageDoc(m *module, report reportFunc) {
	for _, p := range m.pkgs {
		// Package test files may carry the comment only where there are no other files.
		hasSource := slices.ContainsFunc(p.files, func(f *file) bool { return !f.test })
		documented := slices.ContainsFunc(p.files, func(f *file) bool {
			return f.test != hasSource && f.ast.Doc != nil
		})
		if !documented && len(p.files) > 0 {
			report(p.files[0].ast.Package, "package %s (%s) has no package comment: add a doc.go",
				p.files[0].ast.Name.Name, p.dir)
		}
	}
}

// todoMarker matches the markers of unfinished work, as words and in capitals.
var todoMarker = regexp.MustCompile(`\b(TODO|FIXME|XXX)\b`)

func checkTodoMarkers(m *module, report reportFunc) {
	m.sources(func(_ *pkg, f *file) {
		for _, cg := range f.ast.Comments {
			for _, c := range cg.List {
				if loc := todoMarker.FindStringIndex(c.Text); loc != nil {
					report(c.Slash+token.Pos(loc[0]), "%s marker in a comment", c.Text[loc[0]:loc[1]])
				}
			}
		}
	})
}

// stubMessage matches what a stub says about itself.
var stubMessage = regexp.MustCompile(`(?i)\b(todo|fixme|not (yet )?implemented|unimplemented)\b`)

func checkStubErrors(m *module, report reportFunc) {
	m.sources(func(_ *pkg, f *file) {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			what := ""
			switch {
			case isBuiltin(call.Fun, "panic"):
				what = "panic"
			case isQualified(f, call.Fun, "errors", "New"):
				what = "errors.New"
			case isQualified(f, call.Fun, "fmt", "Errorf"):
				what = "fmt.Errorf"
			default:
				return true
			}
			if msg, ok := leadingString(call.Args[0]); ok && stubMessage.MatchString(msg) {
				report(call.Pos(), "stub: %s(%q)", what, msg)
			}
			return true
		})
	})
}

func checkPahoImports(m *module, report reportFunc) {
	m.sources(func(p *pkg, f *file) {
		if _, ok := pahoAllowed[p.dir]; ok {
			return
		}
		for _, imp := range f.ast.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(path, "github.com/eclipse/paho") {
				report(imp.Pos(), "imports %s", path)
			}
		}
	})
}

func checkLeafImports(m *module, report reportFunc) {
	m.sources(func(p *pkg, f *file) {
		if _, ok := leafPackages[p.dir]; !ok {
			return
		}
		for _, imp := range f.ast.Imports {
			// The standard library's paths have no dot in their first element.
			if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(strings.Split(path, "/")[0], ".") {
				report(imp.Pos(), "leaf package imports %s", path)
			}
		}
	})
}

func checkSessionSeam(m *module, report reportFunc) {
	for _, p := range m.pkgs {
		if p.dir != "server" {
			continue
		}
		for _, f := range p.files {
			ast.Inspect(f.ast, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.Field:
					for _, name := range n.Names {
						if name.Name == "dur" {
							report(name.Pos(), "field dur")
						}
					}
				case *ast.SelectorExpr:
					if n.Sel.Name == "dur" {
						report(n.Sel.Pos(), "selector .dur")
					}
				}
				return true
			})
			own, seam := seamFiles[f.path]
			if !seam {
				continue
			}
			for _, imp := range f.ast.Imports {
				if path, _ := strconv.Unquote(imp.Path.Value); isStorage(path) {
					report(imp.Pos(), "protocol file imports %s", path)
				}
			}
			ast.Inspect(f.ast, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && id.Name != own && slices.Contains(sessionTypes, id.Name) {
					report(id.Pos(), "protocol file names %s", id.Name)
				}
				return true
			})
		}
	}
}

func checkStorageImports(m *module, report reportFunc) {
	m.sources(func(p *pkg, f *file) {
		if p.dir != "server" {
			return
		}
		if _, ok := storageFiles[f.path]; ok {
			return
		}
		for _, imp := range f.ast.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); isStorage(path) {
				report(imp.Pos(), "imports %s outside the durable adapter files", path)
			}
		}
	})
}

// isStorage reports whether path is one of storagePackages or below one.
func isStorage(path string) bool {
	return slices.ContainsFunc(storagePackages, func(s string) bool { return path == s || strings.HasPrefix(path, s+"/") })
}

func checkSleep(m *module, report reportFunc) {
	m.sources(func(_ *pkg, f *file) {
		eachCall(f, func(call *ast.CallExpr, fn string) {
			if !isQualified(f, call.Fun, "time", "Sleep") {
				return
			}
			if _, ok := sleepAllowed[f.path+" "+fn]; !ok {
				report(call.Pos(), "time.Sleep in %s", fn)
			}
		})
	})
}

func checkLibraryPrint(m *module, report reportFunc) {
	m.sources(func(p *pkg, f *file) {
		if p.name == "main" || !slices.ContainsFunc(libraryRoots, func(root string) bool {
			return p.dir == root || strings.HasPrefix(p.dir, root+"/")
		}) {
			return
		}
		eachCall(f, func(call *ast.CallExpr, _ string) {
			switch {
			case isBuiltin(call.Fun, "print"), isBuiltin(call.Fun, "println"):
				report(call.Pos(), "builtin %s", call.Fun.(*ast.Ident).Name)
			case isQualified(f, call.Fun, "fmt", "Print", "Printf", "Println"):
				report(call.Pos(), "fmt.%s", call.Fun.(*ast.SelectorExpr).Sel.Name)
			case isQualified(f, call.Fun, "fmt", "Fprint", "Fprintf", "Fprintln") && len(call.Args) > 0 &&
				(isQualified(f, call.Args[0], "os", "Stdout") || isQualified(f, call.Args[0], "os", "Stderr")):
				report(call.Pos(), "fmt.%s to %s", call.Fun.(*ast.SelectorExpr).Sel.Name,
					call.Args[0].(*ast.SelectorExpr).Sel.Name)
			}
		})
	})
}

func checkRawAtomics(m *module, report reportFunc) {
	m.sources(func(_ *pkg, f *file) {
		eachCall(f, func(call *ast.CallExpr, _ string) {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && isQualified(f, sel, "sync/atomic", sel.Sel.Name) {
				report(call.Pos(), "atomic.%s", sel.Sel.Name)
			}
		})
	})
}

func checkGofmt(m *module, report reportFunc) {
	for _, p := range m.pkgs {
		for _, f := range p.files {
			if out, err := format.Source(f.src); err == nil && !bytes.Equal(out, f.src) {
				report(f.ast.Package, "not gofmt-formatted")
			}
		}
	}
}

// eachCall calls fn for every call expression of f, with the name of the function it is in
// (see funcName), or "package level" outside functions.
func eachCall(f *file, fn func(call *ast.CallExpr, in string)) {
	for _, d := range f.ast.Decls {
		in := "package level"
		if fd, ok := d.(*ast.FuncDecl); ok {
			in = funcName(fd)
		}
		ast.Inspect(d, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				fn(call, in)
			}
			return true
		})
	}
}

// funcName is "Type.Method" for a method and the name for a function.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + fd.Name.Name
		}
		return fd.Name.Name
	}
}

// isQualified reports whether e is pkg.name for one of names, where pkg is the import path's
// name in f.
func isQualified(f *file, e ast.Expr, importPath string, names ...string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || !slices.Contains(names, sel.Sel.Name) {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Obj == nil && x.Name == importName(f.ast, importPath)
}

// isBuiltin reports whether e names the builtin name (not a local of that name).
func isBuiltin(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name && id.Obj == nil
}

// importName is the name under which f refers to importPath, or "" when f does not import it
// by name.
func importName(f *ast.File, importPath string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p != importPath {
			continue
		}
		if imp.Name != nil {
			if imp.Name.Name == "_" || imp.Name.Name == "." {
				return ""
			}
			return imp.Name.Name
		}
		return path.Base(importPath)
	}
	return ""
}

// leadingString is the string literal that e is or starts with ("TODO: " + x).
func leadingString(e ast.Expr) (string, bool) {
	for {
		switch x := e.(type) {
		case *ast.BinaryExpr:
			e = x.X
			continue
		case *ast.BasicLit:
			if x.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(x.Value)
			return s, err == nil
		}
		return "", false
	}
}
