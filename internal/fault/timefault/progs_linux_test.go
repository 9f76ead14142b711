package timefault

// Test targets: the clockprog programs (testdata/), built once per test binary, started
// in a stand-in container's cgroup without being this process's children (so this
// process's own waits never meet their ptrace stops), and read through the lines they
// print.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
)

var (
	progsOnce sync.Once
	progs     map[string]string // name -> binary
	progsDir  string
	progsErr  error
)

func TestMain(m *testing.M) {
	if pid := os.Getenv("KC_TIMEFAULT_TRACE"); pid != "" {
		traceAndWait(pid) // the "other tracer" of TestTracedProcessSkipped
		return
	}
	code := m.Run()
	if progsDir != "" {
		os.RemoveAll(progsDir)
	}
	agentbin.Remove()
	os.Exit(code)
}

// buildProgs compiles the test programs the machine has toolchains for: Go; glibc C,
// dynamic and static (gcc); static musl C (musl-gcc, Debian package musl-tools).
func buildProgs(t testing.TB) map[string]string {
	t.Helper()
	progsOnce.Do(func() {
		progsDir, progsErr = os.MkdirTemp("", "kc-timefault-progs-")
		if progsErr != nil {
			return
		}
		progs = map[string]string{}
		src, _ := filepath.Abs("testdata/clockprog.c")
		// Each build names its command in exec.Command, where make check-deps sees it.
		builds := []struct {
			name, tool string
			cmd        func(out string) *exec.Cmd
		}{
			{"go", "go", func(out string) *exec.Cmd { return exec.Command("go", "build", "-o", out, "./testdata/clockprog") }},
			{"glibc-dynamic", "gcc", func(out string) *exec.Cmd { return exec.Command("gcc", "-O2", "-pthread", "-o", out, src) }},
			{"glibc-static", "gcc", func(out string) *exec.Cmd { return exec.Command("gcc", "-O2", "-static", "-pthread", "-o", out, src) }},
			{"musl-static", "musl-gcc", func(out string) *exec.Cmd {
				return exec.Command("musl-gcc", "-O2", "-static", "-pthread", "-o", out, src)
			}},
		}
		for _, b := range builds {
			if _, err := exec.LookPath(b.tool); err != nil {
				fmt.Fprintf(os.Stderr, "timefault tests: no %s: the %s program is not tested\n", b.tool, b.name)
				continue
			}
			out := filepath.Join(progsDir, b.name)
			cmd := b.cmd(out)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if o, err := cmd.CombinedOutput(); err != nil {
				progsErr = fmt.Errorf("building %s: %v\n%s", b.name, err, o)
				return
			}
			progs[b.name] = out
		}
	})
	if progsErr != nil {
		t.Fatal(progsErr)
	}
	return progs
}

// prog is a running test program.
type prog struct {
	name  string
	pid   int
	start uint64
	out   string
}

// launch starts bin in the cgroup dir (as a grandchild: the shell in between exits).
func launch(t testing.TB, cgroup, name, bin string, args ...string) *prog {
	t.Helper()
	p := &prog{name: name, out: filepath.Join(t.TempDir(), name+".out")}
	script := `sh -c 'echo $$ > "$1"; shift; exec "$@"' inner "$@" >>"$OUT" 2>&1 </dev/null & echo $!`
	cmd := exec.Command("sh", append([]string{"-c", script, "outer", filepath.Join(cgroup, "cgroup.procs"), bin}, args...)...)
	cmd.Env = append(os.Environ(), "OUT="+p.out)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		t.Fatalf("starting %s: pid %q", name, b)
	}
	st, err := statOf(p.pid)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.start = st.start
	t.Cleanup(func() { p.kill() })
	// Its first line says it runs (in the cgroup, after the exec).
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, _ := os.ReadFile(p.out); bytes.Contains(b, []byte("pid=")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed nothing within 15s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, err := statOf(p.pid); err != nil || st.start != p.start || st.comm != filepath.Base(bin)[:min(15, len(filepath.Base(bin)))] {
		t.Fatalf("%s: pid %d is %+v (%v), not the program", name, p.pid, st, err)
	}
	return p
}

func (p *prog) kill() {
	if st, err := statOf(p.pid); err == nil && st.start == p.start {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// alive reports whether the program still runs (not a zombie).
func (p *prog) alive() bool {
	st, err := statOf(p.pid)
	return err == nil && st.start == p.start && st.state != 'Z'
}

// sample is one line a program printed.
type sample struct {
	pid                         int
	real, mono, boot, gtod, raw float64
	time                        int64
}

func parseSample(line string) (sample, bool) {
	var s sample
	n, err := fmt.Sscanf(line, "pid=%d real=%f mono=%f boot=%f gtod=%f time=%d raw=%f",
		&s.pid, &s.real, &s.mono, &s.boot, &s.gtod, &s.time, &s.raw)
	return s, err == nil && n == 7
}

// next waits for a line of pid (default the program's own) printed after the boot
// clock reached after (seconds), and returns it.
func (p *prog) next(t testing.TB, after float64, pid ...int) sample {
	t.Helper()
	want := p.pid
	if len(pid) > 0 {
		want = pid[0]
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if s, ok := p.last(want); ok && s.boot > after {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(p.out)
	t.Fatalf("%s: no line from pid %d after boot time %.3f within 15s (alive %v); output tail:\n%s",
		p.name, want, after, p.alive(), tail(string(b), 5))
	return sample{}
}

func (p *prog) last(pid int) (sample, bool) {
	f, err := os.Open(p.out)
	if err != nil {
		return sample{}, false
	}
	defer f.Close()
	var last sample
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s, ok := parseSample(sc.Text()); ok && s.pid == pid {
			last, found = s, true
		}
	}
	return last, found
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// now is the host's boot clock and (real - boot), read with raw syscalls.
func hostClocks(t testing.TB) (boot, realMinusBoot float64) {
	t.Helper()
	var r, b unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r); err != nil {
		t.Fatal(err)
	}
	bs := float64(b.Sec) + float64(b.Nsec)/1e9
	return bs, float64(r.Sec) + float64(r.Nsec)/1e9 - bs
}

func hostMonoMinusBoot(t testing.TB) float64 {
	var m, b unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &b)
	return float64(m.Sec-b.Sec) + float64(m.Nsec-b.Nsec)/1e9
}

// shifts are how far each clock of a sample is from the host's, in seconds, measured
// against the sample's own boot clock (which no test shifts): independent of how old
// the line is.
type shifts struct {
	real, gtod, time, raw, mono float64
	hasMono                     bool
}

func measure(t testing.TB, s sample) shifts {
	t.Helper()
	_, hostRB := hostClocks(t)
	sh := shifts{
		real: s.real - s.boot - hostRB,
		gtod: s.gtod - s.boot - hostRB,
		time: float64(s.time) - s.boot - hostRB, // whole seconds: within (-1, 0]
		raw:  s.raw - s.boot - hostRB,
	}
	if s.mono != 0 {
		sh.mono, sh.hasMono = s.mono-s.boot-hostMonoMinusBoot(t), true
	}
	return sh
}

func near(got, want, tol float64) bool { return got >= want-tol && got <= want+tol }

// newContainer is a stand-in pod container: a cgroup named by a container ID (with a
// sleep in it), found by the same /proc scan the agent uses.
func newContainer(t testing.TB) *nstest.Container {
	t.Helper()
	nstest.RequireRoot(t)
	return nstest.NewContainer(t)
}

// dumpPatch logs what a process holds where a patch went, for a failed check.
func dumpPatch(t testing.TB, a *active, p *prog) {
	t.Logf("notes: %v", a.notesSeen())
	for _, r := range a.records() {
		if r.PID == p.pid {
			f, _ := memFile(p.pid)
			maps, _ := readMaps(p.pid)
			vd, _ := findVDSO(maps)
			t.Logf("record base %#x, now %#x", r.Base, vd.lo)
			for _, e := range r.Entries {
				b, _ := readN(f, e.Addr, 8)
				t.Logf("%s at %#x: %s (new %s)", e.Symbol, e.Addr, hex.EncodeToString(b), hex.EncodeToString(e.New))
			}
			b, _ := readN(f, r.Stub.Addr, len(r.Stub.New))
			t.Logf("stub %s\n want %s", hex.EncodeToString(b), hex.EncodeToString(r.Stub.New))
			f.Close()
		}
	}
}
