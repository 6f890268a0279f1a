package procid

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/childproc"
)

// skipOutsideCI skips a test whose machine lacks what it needs, and fails
// it under CI=true.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// statLine is a /proc/<pid>/stat line of process 4242, state S, started at
// tick 987654, whose command name holds spaces and parentheses.
func statLine(comm string) string {
	f := []string{"4242", "(" + comm + ")", "S"}
	for i := 4; i <= 52; i++ {
		f = append(f, strconv.Itoa(i))
	}
	f[21] = "987654"
	return strings.Join(f, " ") + "\n"
}

func TestParseStat(t *testing.T) {
	for _, comm := range []string{"sleep", "a b) (c", ") S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", "x)\n)"} {
		state, start, err := parseStat(statLine(comm))
		if err != nil || state != 'S' || start != 987654 {
			t.Errorf("comm %q: parseStat = %q, %d, %v; want S, 987654", comm, state, start, err)
		}
	}
	for _, bad := range []string{"", "4242 sleep S 1 2", "4242 (sleep) S 1 2 3", strings.Replace(statLine("x"), "987654", "-1", 1), strings.Replace(statLine("x"), ") S", ") SS", 1)} {
		if _, _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
	// This process's own line, read by us, has the start time Self has.
	state, start, err := readStat(os.Getpid())
	if err != nil || start != Self().Start || (state != 'R' && state != 'S') {
		t.Errorf("readStat(self) = %q, %d, %v; want R or S, %d", state, start, err, Self().Start)
	}
}

// helperCmd runs this test binary as a helper (see TestMain), under the
// command prefix.
func helperCmd(t *testing.T, mode string, prefix ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append(prefix, exe, "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// startSelf starts a "self" helper, through start, and returns the ID it
// reports for itself.
func startSelf(t *testing.T, cmd *exec.Cmd, start func(*exec.Cmd) error) ID {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	err = start(cmd)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id  ID
		err error
	}
	got := make(chan result, 1)
	go func() {
		var res result
		res.err = json.NewDecoder(r).Decode(&res.id)
		got <- res
	}()
	select {
	case res := <-got:
		if res.err != nil {
			t.Fatalf("child's ID: %v", res.err)
		}
		if res.id.PID != cmd.Process.Pid {
			t.Fatalf("child says %#v, its pid is %d", res.id, cmd.Process.Pid)
		}
		return res.id
	case <-time.After(30 * time.Second):
		t.Fatal("no ID from the child in 30 s")
	}
	return ID{}
}

// TestChildDeadOnceReaped: a child is alive while it runs, and dead once
// killed and reaped.
func TestChildDeadOnceReaped(t *testing.T) {
	var p *childproc.Process
	id := startSelf(t, helperCmd(t, "self"), func(cmd *exec.Cmd) (err error) {
		p, err = childproc.Start(cmd)
		return err
	})
	t.Cleanup(func() { _ = p.Kill() })
	me := Self()
	if id.Host != me.Host || id.Boot != me.Boot || id.PIDNS != me.PIDNS || id.TimeNS != me.TimeNS || id.Start < me.Start {
		t.Fatalf("child %#v, parent %#v: not on the same host, boot and namespaces", id, me)
	}
	if _, start, err := readStat(id.PID); err != nil || start != id.Start {
		t.Errorf("child's start read by the parent = %d, %v; the child says %d", start, err, id.Start)
	}
	if dead, why := Dead(id); dead {
		t.Fatalf("running child: Dead = true, %q", why)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !p.WaitExit(10 * time.Second) {
		t.Fatal("child not reaped 10 s after SIGKILL")
	}
	dead, why := Dead(id)
	if !dead {
		t.Fatalf("killed and reaped child: Dead = false, %q", why)
	}
	t.Logf("killed and reaped child: %s", why)
}

// TestZombieDead: a child killed but not reaped yet is dead.
func TestZombieDead(t *testing.T) {
	cmd := helperCmd(t, "self")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	id := startSelf(t, cmd, (*exec.Cmd).Start)
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	if dead, why := Dead(id); dead {
		t.Fatalf("running child: Dead = true, %q", why)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		state, _, err := readStat(id.PID)
		if err != nil {
			t.Fatal(err)
		}
		if state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child in state %q 10 s after SIGKILL", state)
		}
	}
	if err := syscall.Kill(id.PID, 0); err != nil {
		t.Fatalf("zombie: kill(pid, 0) = %v, want it to exist", err)
	}
	dead, why := Dead(id)
	if !dead || !strings.Contains(why, "exited") {
		t.Fatalf("zombie: Dead = %v, %q; want it dead, exited", dead, why)
	}
	t.Logf("zombie: %s", why)
	reaped = true
	_ = cmd.Wait()
	if dead, why := Dead(id); !dead {
		t.Fatalf("reaped zombie: Dead = false, %q", why)
	}
}

// TestReusedPIDDead: a live PID with another start time is a reused one.
func TestReusedPIDDead(t *testing.T) {
	id := Self()
	id.Start++
	dead, why := Dead(id)
	if !dead || !strings.Contains(why, "reused") {
		t.Fatalf("Dead(Self() with Start+1) = %v, %q; want it dead, reused", dead, why)
	}
	t.Log(why)
	// Without a recorded start time, a live PID proves nothing.
	id.Start = 0
	if dead, why := Dead(id); dead {
		t.Fatalf("Dead(Self() with Start 0) = true, %q", why)
	}
}

// TestMissingPIDDead: a PID that no process has, on this host, boot and
// namespaces, is dead.
func TestMissingPIDDead(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for p := pidMax - 1; p > pidMax-1000 && p > 1; p-- {
		if errors.Is(syscall.Kill(p, 0), syscall.ESRCH) {
			pid = p
			break
		}
	}
	if pid == 0 {
		t.Fatalf("every PID from %d down 1000 exists", pidMax-1)
	}
	id := Self()
	id.PID = pid
	dead, why := Dead(id)
	if !dead || !strings.Contains(why, "gone") {
		t.Fatalf("Dead(pid %d, which no process has) = %v, %q; want it dead, gone", pid, dead, why)
	}
	t.Log(why)
}

// TestOtherTimeNamespaceNotDead: a live process in another time namespace
// sees start times shifted by its boot-time offset, so its own Start
// differs from what we read: it must not pass for a reused PID.
func TestOtherTimeNamespaceNotDead(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skipOutsideCI(t, "no unshare command: %v", err)
	}
	if err := exec.Command(unshare, "--time", "--boottime", "100000", "true").Run(); err != nil {
		skipOutsideCI(t, "cannot enter a new time namespace (needs root): %v", err)
	}
	var p *childproc.Process
	id := startSelf(t, helperCmd(t, "self", unshare, "--time", "--boottime", "100000"), func(cmd *exec.Cmd) (err error) {
		p, err = childproc.Start(cmd)
		return err
	})
	t.Cleanup(func() { _ = p.Kill(); p.WaitExit(10 * time.Second) })
	_, start, err := readStat(id.PID)
	if err != nil {
		t.Fatal(err)
	}
	if id.TimeNS == Self().TimeNS || id.PIDNS != Self().PIDNS || start == id.Start {
		t.Fatalf("child %#v (start %d as we see it), parent %#v: want another time namespace, the same pid namespace and another start", id, start, Self())
	}
	if dead, why := Dead(id); dead {
		t.Fatalf("running child in another time namespace: Dead = true, %q", why)
	}
}

// TestOtherUserAliveNotDead: a checker that may not signal the holder (it
// runs as another user; kill gives EPERM) still knows it runs.
func TestOtherUserAliveNotDead(t *testing.T) {
	if os.Geteuid() != 0 {
		// Not root: pid 1 belongs to someone else, usually.
		id := Self()
		id.PID = 1
		if err := syscall.Kill(1, 0); !errors.Is(err, syscall.EPERM) {
			skipOutsideCI(t, "not root, and kill(1, 0) = %v, not EPERM", err)
		}
		_, start, err := readStat(1)
		if err != nil {
			t.Fatal(err)
		}
		id.Start = start
		if dead, why := Dead(id); dead {
			t.Fatalf("pid 1 of another user: Dead = true, %q", why)
		}
		return
	}
	// Root: check this process from a child run as nobody, from a copy of
	// the test binary that nobody may run.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "procid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	copyExe := filepath.Join(dir, "procid.test")
	if err := copyFile(exe, copyExe); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(id ID) verdict {
		t.Helper()
		b, err := json.Marshal(id)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(copyExe, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=dead", checkEnv+"="+string(b))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Pdeathsig: syscall.SIGKILL}
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("checker as nobody: %v: %s", err, out)
		}
		var v verdict
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("checker as nobody said %q: %v", out, err)
		}
		return v
	}
	if v := check(Self()); v.Dead || !strings.Contains(v.Why, "running") {
		t.Errorf("root's live process, checked by nobody: %#v; want it running", v)
	}
	// Reuse is still proven, for it needs only /proc.
	reused := Self()
	reused.Start++
	if v := check(reused); !v.Dead {
		t.Errorf("root's reused pid, checked by nobody: %#v; want it dead", v)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return out.Close()
}

// BenchmarkDead measures Dead for a running process (this one's parent,
// when on this host), a gone PID and a reused one.
func BenchmarkDead(b *testing.B) {
	running := Self()
	running.PID = os.Getppid()
	if _, start, err := readStat(running.PID); err == nil {
		running.Start = start
	}
	gone := Self()
	gone.PID = 1 << 22 // PID_MAX_LIMIT on 64 bits: never a PID
	reused := Self()
	reused.Start++
	for name, id := range map[string]ID{"running": running, "gone": gone, "reused": reused, "self": Self()} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				Dead(id)
			}
		})
	}
}
