package kinesisio

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFilesAreLayered checks that the files of this package form layers:
// no file uses, directly or through other files, a name declared in a file
// that uses it (docs/design.md, "What goes where"). A file uses a name when
// one of its identifiers resolves, by go/types, to a package-level
// declaration or a method or field of a package type declared in another
// file. Imported packages are not type-checked (their names stay
// unresolved), which leaves every use of this package's own names resolved.
func TestFilesAreLayered(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{}}
	conf := types.Config{Importer: stdOnly{importer.Default()}, Error: func(error) {}}
	pkg, _ := conf.Check("github.com/kinesisio/beam-kinesis/kinesisio", fset, files, info)

	fileOf := func(pos token.Pos) string { return fset.Position(pos).Filename }
	uses := map[string]map[string]string{} // file -> file it uses -> one name
	add := func(at token.Pos, obj types.Object) {
		if obj == nil || obj.Pkg() != pkg || !obj.Pos().IsValid() {
			return
		}
		if v, ok := obj.(*types.Var); ok && !v.IsField() && obj.Parent() != pkg.Scope() {
			return // a local variable
		}
		if obj.Parent() != nil && obj.Parent() != pkg.Scope() && !isMember(obj) {
			return // a local name
		}
		from, to := fileOf(at), fileOf(obj.Pos())
		if from == to {
			return
		}
		if uses[from] == nil {
			uses[from] = map[string]string{}
		}
		if _, ok := uses[from][to]; !ok {
			uses[from][to] = obj.Name()
		}
	}
	for id, obj := range info.Uses {
		add(id.Pos(), obj)
	}
	for sel, s := range info.Selections {
		add(sel.Sel.Pos(), s.Obj())
	}
	if len(uses) == 0 {
		t.Fatal("no file of the package uses another: the check read nothing")
	}
	// A cycle in the graph of uses is a file that, through others, uses
	// itself: find one with a depth-first walk.
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var path []string
	var walk func(f string) []string
	walk = func(f string) []string {
		state[f] = open
		path = append(path, f)
		next := make([]string, 0, len(uses[f]))
		for g := range uses[f] {
			next = append(next, g)
		}
		slices.Sort(next)
		for _, g := range next {
			switch state[g] {
			case open:
				i := slices.Index(path, g)
				return append(slices.Clone(path[i:]), g)
			case unseen:
				if c := walk(g); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[f] = done
		return nil
	}
	from := make([]string, 0, len(uses))
	for f := range uses {
		from = append(from, f)
	}
	slices.Sort(from)
	for _, f := range from {
		if state[f] != unseen {
			continue
		}
		if c := walk(f); c != nil {
			var b strings.Builder
			for i := 0; i+1 < len(c); i++ {
				b.WriteString("\n\t" + c[i] + " uses " + uses[c[i]][c[i+1]] + " of " + c[i+1])
			}
			t.Fatalf("files of package kinesisio use each other in a circle; move the declarations so that each file uses only files below it:%s", b.String())
		}
	}
}

// isMember reports whether obj is a method or a struct field (of a type of
// the package).
func isMember(obj types.Object) bool {
	switch o := obj.(type) {
	case *types.Func:
		return o.Signature().Recv() != nil
	case *types.Var:
		return o.IsField()
	}
	return false
}

// stdOnly imports the standard library and gives every other import an
// empty package, whose names then stay unresolved.
type stdOnly struct{ std types.Importer }

func (i stdOnly) Import(path string) (*types.Package, error) {
	if !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
		if p, err := i.std.Import(path); err == nil {
			return p, nil
		}
	}
	p := types.NewPackage(path, filepath.Base(path))
	p.MarkComplete()
	return p, nil
}
