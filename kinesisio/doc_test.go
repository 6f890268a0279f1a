package kinesisio_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// metricName is a metric of the package in its source: a string literal
// read_... or write_... (a gauge's name ends in "/" before the shard ID).
var metricName = regexp.MustCompile(`^(read|write)_[a-z_]+/?$`)

// TestMetricsDocumented checks that every metric the package's code (and
// its internal packages') creates is an item of the list in the package
// documentation (doc.go's Metrics section), and that the list names no
// metric the code does not create.
func TestMetricsDocumented(t *testing.T) {
	inCode := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && metricName.MatchString(s) {
					inCode[strings.TrimSuffix(s, "/")] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inCode) < 20 {
		t.Fatalf("found only %d metrics in the code: %v", len(inCode), inCode)
	}

	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(f.Doc.Text(), "\n# Metrics\n")
	if !ok {
		t.Fatal("doc.go has no Metrics section")
	}
	section, _, _ = strings.Cut(section, "\n# ")
	// A list item names its metrics first: "  - read_records, read_bytes: ...".
	item := regexp.MustCompile(`(?m)^\s+- ((?:(?:read|write)_[a-z_]+(?:/<shard ID>)?(?:, )?)+)`)
	inDoc := map[string]bool{}
	for _, m := range item.FindAllStringSubmatch(section, -1) {
		for name := range strings.SplitSeq(m[1], ", ") {
			inDoc[strings.TrimSuffix(name, "/<shard ID>")] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(inCode)) {
		if !inDoc[name] {
			t.Errorf("metric %s is not an item of doc.go's metrics list", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(inDoc)) {
		if !inCode[name] {
			t.Errorf("doc.go's metrics list names %s, which the code does not create", name)
		}
	}
}
