// Package docs_test runs the command sequences the documentation gives,
// as written, against fresh emulators: those of README.md and
// pipelines/wordcount/README.md, and the examples of
// cmd/kinesischeckpoints.
//
// In the Markdown files every shell block (an indented block, or a fenced
// one that is not Go) must follow a marker comment:
//
//	<!-- doctest: setup SESSION -->     starts emulators and sets their endpoints
//	<!-- doctest: run SESSION -->       run as written, after the session's earlier blocks
//	<!-- doctest: not run: REASON -->   an AWS, Flink or Dataflow sequence, an output sample, ...
//
// A setup block may only start kinesalite and dynalite (npx NAME --port
// N &) and export KINESIS_ENDPOINT and DYNAMODB_ENDPOINT
// (http://localhost:N, the port it starts them on): the test starts fresh
// emulators instead, on free loopback ports, and sets those variables to
// their endpoints, the way the documentation has the reader substitute
// ports. The run blocks of a session then run in one bash (after set -e,
// and followed by a wait for every command left in the background, which
// must succeed too), from the repository's root, bounded in time; the
// test then checks what they printed (sessionChecks). A block that is not
// run is reported as a skipped subtest, with its reason.
//
// Go doc comments cannot hold markers: the examples of
// cmd/kinesischeckpoints are listed in goDocBlocks, checked to be in the
// doc comment verbatim, and run the same way.
package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/childproc"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	// The sequences export their own (placeholder) credentials; this also
	// hides the machine's AWS configuration from them.
	emulators.UseTestCredentials()
	os.Exit(emulators.Run(m))
}

// markdownFiles are the Markdown files whose command sequences run, from
// the repository's root.
var markdownFiles = []string{"README.md", "pipelines/wordcount/README.md"}

// sessionTimeout bounds one session (its first go run compiles).
const sessionTimeout = 6 * time.Minute

// block is a code block of a documentation file.
type block struct {
	file   string
	line   int    // of its first line, from 1
	marker string // the doctest marker before it, "" if none
	text   string // its lines, unindented
}

func (b block) where() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var markerRE = regexp.MustCompile(`^<!-- doctest: (.*) -->$`)

// markdownBlocks returns the shell blocks of a Markdown file: indented
// blocks, and fenced blocks other than Go code.
func markdownBlocks(t *testing.T, root, file string) []block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var (
		blocks   []block
		marker   string // the last marker seen, until the next non-blank line
		fence    string // the open fence's language, "" outside
		inFence  bool
		cur      *block
		curLines []string
	)
	flush := func() {
		if cur != nil {
			cur.text = strings.TrimRight(strings.Join(curLines, "\n"), "\n") + "\n"
			blocks = append(blocks, *cur)
			cur, curLines = nil, nil
		}
	}
	for i, line := range lines {
		switch {
		case inFence:
			if strings.HasPrefix(line, "```") {
				inFence = false
				flush()
				continue
			}
			if cur != nil {
				curLines = append(curLines, line)
			}
			continue
		case strings.HasPrefix(line, "```"):
			fence, inFence = strings.TrimPrefix(line, "```"), true
			if fence != "go" {
				cur = &block{file: file, line: i + 2, marker: marker}
			}
			marker = ""
			continue
		case strings.HasPrefix(line, "    "):
			if cur == nil {
				if i > 0 && strings.TrimSpace(lines[i-1]) != "" {
					continue // a wrapped list item, not a code block
				}
				cur = &block{file: file, line: i + 1, marker: marker}
			}
			curLines = append(curLines, strings.TrimPrefix(line, "    "))
			continue
		case strings.TrimSpace(line) == "":
			if cur != nil {
				curLines = append(curLines, "")
			}
			continue
		}
		flush()
		if m := markerRE.FindStringSubmatch(line); m != nil {
			marker = m[1]
		} else {
			marker = ""
		}
	}
	flush()
	return blocks
}

// goDocBlock is an example block of a Go doc comment.
type goDocBlock struct {
	file string
	// run is the session it runs in; "" with notRun set.
	run, notRun string
	text        string
}

// goDocBlocks are the examples of the Go doc comments that the test
// knows. The run ones need no emulator: they run in a temporary folder,
// with the command built onto the PATH as go install would.
var goDocBlocks = []goDocBlock{
	{file: "cmd/kinesischeckpoints/main.go", run: "kinesischeckpoints-dir", text: `kinesischeckpoints --dir ./ckpt --app orders --stream orders set shardId-000000000001 49650000000000000000000000000000000000000000000000000002
kinesischeckpoints --dir ./ckpt --app orders list
kinesischeckpoints --dir ./ckpt --app orders release
kinesischeckpoints --dir ./ckpt --app orders reset
`},
	{file: "cmd/kinesischeckpoints/main.go", notRun: "needs an AWS account", text: `kinesischeckpoints --table ckpt --table_region eu-west-1 --app orders --stream orders list
kinesischeckpoints --table ckpt --app orders release
`},
}

// goDocExamples returns the code blocks of file's package doc comment
// that hold a command line (a line starting with "kinesischeckpoints --"
// or "go run").
func goDocExamples(t *testing.T, root, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, file), nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("%s: no package doc comment: %v", file, err)
	}
	var out []string
	var cur []string
	flush := func() {
		for _, l := range cur {
			if strings.HasPrefix(l, "kinesischeckpoints --") || strings.HasPrefix(l, "go run ") {
				out = append(out, strings.Join(cur, "\n")+"\n")
				break
			}
		}
		cur = nil
	}
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if strings.HasPrefix(line, "\t") {
			cur = append(cur, strings.TrimPrefix(line, "\t"))
			continue
		}
		flush()
	}
	flush()
	return out
}

// session is the blocks that run in one shell, in order.
type session struct {
	name  string
	setup *block
	runs  []block
}

// TestDocumentedCommands runs every documented command sequence that can
// run here, and reports those that cannot as skipped.
func TestDocumentedCommands(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[string]*session{}
	var order []string
	for _, file := range markdownFiles {
		for _, b := range markdownBlocks(t, root, file) {
			kind, arg, _ := strings.Cut(b.marker, " ")
			switch {
			case b.marker == "":
				t.Errorf("%s: a code block without a <!-- doctest: ... --> marker:\n%s", b.where(), b.text)
			case kind == "not" && strings.HasPrefix(arg, "run: ") && len(arg) > len("run: "):
				reason := strings.TrimPrefix(arg, "run: ")
				t.Run(b.where(), func(t *testing.T) { t.Skipf("not run: %s", reason) })
			case (kind == "setup" || kind == "run") && arg != "" && !strings.Contains(arg, " "):
				s := sessions[arg]
				if s == nil {
					s = &session{name: arg}
					sessions[arg] = s
					order = append(order, arg)
				}
				if kind == "setup" {
					if s.setup != nil || len(s.runs) > 0 {
						t.Errorf("%s: setup of session %s after its first block", b.where(), arg)
					}
					s.setup = &b
				} else {
					s.runs = append(s.runs, b)
				}
			default:
				t.Errorf("%s: unknown doctest marker %q", b.where(), b.marker)
			}
		}
	}

	// The Go doc comments' examples are those the test lists, verbatim.
	listed := map[string]bool{}
	for _, g := range goDocBlocks {
		listed[g.file+"\x00"+g.text] = true
	}
	seen := map[string]bool{}
	for _, g := range goDocBlocks {
		if seen[g.file] {
			continue
		}
		seen[g.file] = true
		for _, ex := range goDocExamples(t, root, g.file) {
			if !listed[g.file+"\x00"+ex] {
				t.Errorf("%s: an example of the doc comment that goDocBlocks does not list (add it, to run it or say why not):\n%s", g.file, ex)
			}
			delete(listed, g.file+"\x00"+ex)
		}
	}
	for k := range listed {
		file, text, _ := strings.Cut(k, "\x00")
		t.Errorf("%s: the doc comment no longer holds this example of goDocBlocks:\n%s", file, text)
	}
	if t.Failed() {
		return
	}

	for _, name := range order {
		s := sessions[name]
		t.Run(name, func(t *testing.T) { runSession(t, root, s) })
	}
	for _, g := range goDocBlocks {
		if g.notRun != "" {
			t.Run(g.file+"/"+firstWords(g.text), func(t *testing.T) { t.Skipf("not run: %s", g.notRun) })
			continue
		}
		t.Run(g.run, func(t *testing.T) { runGoDocBlock(t, root, g) })
	}
}

// firstWords names a block by the start of its first line.
func firstWords(text string) string {
	f := strings.Fields(text)
	if len(f) > 4 {
		f = f[:4]
	}
	return strings.Join(f, "_")
}

var (
	npxRE    = regexp.MustCompile(`^npx (kinesalite|dynalite) --port (\d+) &`)
	exportRE = regexp.MustCompile(`^export ((?:[A-Z_]+=\S+ ?)+)$`)
)

// endpointVars are the variables a setup block may export, by emulator.
var endpointVars = map[string]emulators.Kind{
	"KINESIS_ENDPOINT":  emulators.Kinesalite,
	"DYNAMODB_ENDPOINT": emulators.Dynalite,
}

// setupEnv checks a setup block and starts what it starts: fresh
// emulators on free ports. It returns the environment variables the
// block exports, set to those emulators' endpoints.
func setupEnv(t *testing.T, b *block) []string {
	t.Helper()
	ports := map[emulators.Kind]string{}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(b.text), "\n") {
		if m := npxRE.FindStringSubmatch(line); m != nil {
			ports[emulators.Kind(m[1])] = m[2]
			continue
		}
		code, _, _ := strings.Cut(line, "#")
		if m := exportRE.FindStringSubmatch(strings.TrimSpace(code)); m != nil {
			for _, kv := range strings.Fields(m[1]) {
				k, v, _ := strings.Cut(kv, "=")
				exports[k] = v
			}
			continue
		}
		t.Fatalf("%s: setup line not understood (npx kinesalite|dynalite --port N &, or export KINESIS_ENDPOINT=... DYNAMODB_ENDPOINT=...): %q", b.where(), line)
	}
	var env []string
	for k, v := range exports {
		kind, ok := endpointVars[k]
		if !ok {
			t.Fatalf("%s: setup exports %s, which the test does not set", b.where(), k)
		}
		if want := "http://localhost:" + ports[kind]; ports[kind] == "" || v != want {
			t.Fatalf("%s: %s=%s, but the block starts %s on port %q (want %s)", b.where(), k, v, kind, ports[kind], want)
		}
		env = append(env, k+"="+freshEmulator(t, kind).Endpoint)
	}
	if len(env) != len(ports) {
		t.Fatalf("%s: the block starts %d emulators and exports %d endpoints", b.where(), len(ports), len(env))
	}
	return env
}

// freshEmulator starts an emulator of kind for this test alone, and stops
// it when the test ends. Like emulators.Require it fails the test when it
// cannot start with CI=true, and skips it otherwise.
func freshEmulator(t *testing.T, kind emulators.Kind) *emulators.Emulator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, kind)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (CI=true) but could not start: %v", kind, err)
		}
		t.Skipf("skipping: %s could not start (with CI=true this fails): %v", kind, err)
	}
	t.Cleanup(func() { emu.Stop() })
	return emu
}

// runSession runs a session's blocks in one bash, from the repository's
// root, after its setup.
func runSession(t *testing.T, root string, s *session) {
	var env []string
	if s.setup != nil {
		env = setupEnv(t, s.setup)
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, b := range s.runs {
		fmt.Fprintf(&script, "# %s\n%s", b.where(), b.text)
	}
	// A command left in the background must have succeeded too.
	script.WriteString("# the test: wait for what runs in the background\nfor pid in $(jobs -p); do wait \"$pid\"; done\n")
	stdout, stderr := runBash(t, root, env, script.String())
	if check := sessionChecks[s.name]; check != nil {
		check(t, stdout, stderr)
	}
}

// runGoDocBlock runs a Go doc example in a temporary folder, with the
// command it names built onto the PATH.
func runGoDocBlock(t *testing.T, root string, g goDocBlock) {
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./"+filepath.Dir(g.file))
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", filepath.Dir(g.file), err, out)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	stdout, stderr := runBash(t, t.TempDir(), env, "set -e\n"+g.text)
	if check := sessionChecks[g.run]; check != nil {
		check(t, stdout, stderr)
	}
}

// runBash runs script with bash in dir, with env added to the test's
// environment, in a process group of its own that is killed after
// sessionTimeout. It fails the test unless bash exits 0.
func runBash(t *testing.T, dir string, env []string, script string) (stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errw
	start := time.Now()
	p, err := childproc.StartGroup(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !p.WaitExit(sessionTimeout) {
		p.Kill()
		p.WaitExit(10 * time.Second)
		t.Fatalf("the commands did not end within %v:\n%s\nstdout:\n%s\nstderr:\n%s", sessionTimeout, script, out.String(), errw.String())
	}
	t.Logf("%s\n(%.1fs) stdout:\n%s", script, time.Since(start).Seconds(), out.String())
	if err := p.Err(); err != nil {
		t.Fatalf("the commands failed: %v\nstderr:\n%s", err, errw.String())
	}
	return out.String(), errw.String()
}

// sessionChecks check what a session printed, beyond its exit status.
var sessionChecks = map[string]func(t *testing.T, stdout, stderr string){
	"quick-start": func(t *testing.T, stdout, _ string) {
		if !regexp.MustCompile(`(?m)^verified: 3000 words produced, 3000 words counted in \d+ windows$`).MatchString(stdout) {
			t.Error("the demo did not verify its 3000 words")
		}
	},
	// 600 records of 5 words counted once, then 1200 (the same 600 and
	// the next 600).
	"kinesalite-wordcount": func(t *testing.T, stdout, stderr string) {
		wantWindowWords(t, stdout, 3000+6000)
		wantNoErrors(t, stderr)
	},
	// 500 records of 3 words, counted by two runs, each record once.
	"kinesalite-dynalite-resume": func(t *testing.T, stdout, stderr string) {
		wantWindowWords(t, stdout, 1500)
		wantNoErrors(t, stderr)
		if !strings.Contains(stdout, "\nlease of stream resumed: released, ") || strings.Count(stdout, "  caught up\n") != 2 {
			t.Error("kinesischeckpoints list does not show a released lease and 2 shards caught up")
		}
	},
	"kinesischeckpoints-dir": func(t *testing.T, stdout, _ string) {
		for _, want := range []string{
			"it resumes after sequence number 49650000000000000000000000000000000000000000000000000002",
			"checkpoints: 1",
			"deleted 1 checkpoint:",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("the output lacks %q", want)
			}
		}
	},
}

var windowRE = regexp.MustCompile(`^window \S+  (\d+) words, \d+ distinct$`)

// wantWindowWords checks that the window blocks printed hold n words.
func wantWindowWords(t *testing.T, stdout string, n int) {
	t.Helper()
	total := 0
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		if m := windowRE.FindStringSubmatch(sc.Text()); m != nil {
			k, _ := strconv.Atoi(m[1])
			total += k
		}
	}
	if total != n {
		t.Errorf("the windows printed hold %d words, want %d", total, n)
	}
}

// wantNoErrors checks that nothing was logged as an error (warnings,
// such as a retried call, may happen).
func wantNoErrors(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("logged: %s", line)
		}
	}
}
