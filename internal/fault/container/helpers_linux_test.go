package container

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
)

// Child roles of the test binary (TestMain).
const (
	roleEnv    = "KC_PODKILL_TEST_ROLE"
	roleTicker = "ticker" // writes its CLOCK_MONOTONIC time on stdout every 2 ms
	roleFind   = "find"   // runs FindFreezer (args: pid id) and prints the result
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case roleTicker:
		var b [8]byte
		for {
			binary.LittleEndian.PutUint64(b[:], uint64(mono()))
			if _, err := os.Stdout.Write(b[:]); err != nil {
				os.Exit(0)
			}
			time.Sleep(2 * time.Millisecond)
		}
	case roleFind:
		pid, _ := strconv.Atoi(os.Getenv("KC_FIND_PID"))
		own, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		fz, err := FindFreezer("/proc", "/sys/fs/cgroup", pid, os.Getenv("KC_FIND_ID"))
		fmt.Printf("%d %s\n%v\n%s", fz.Version, fz.Dir, err, own)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mono is CLOCK_MONOTONIC in nanoseconds, the clock the ticker stamps its ticks with.
func mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// testCgroup is a cgroup standing in for a container's: <root>/kc-chaos-podkill-<rand>/<id>.
type testCgroup struct {
	Version    int
	CgroupRoot string // what FindFreezer takes: /sys/fs/cgroup
	Dir        string
	ID         string
}

// v2Root is the mounted cgroup2 hierarchy: /sys/fs/cgroup/unified (hybrid) or
// /sys/fs/cgroup. Inside the test VM (cgroup2-only kernel, nothing mounted), it
// mounts cgroup2 at /sys/fs/cgroup.
func v2Root(t *testing.T) string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	if os.Getenv("KUBECTL_CHAOS_NETEMVM") == "1" {
		os.MkdirAll("/sys/fs/cgroup", 0o755)
		if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
			t.Fatalf("mounting cgroup2 in the VM: %v", err)
		}
		return "/sys/fs/cgroup"
	}
	return ""
}

// newTestCgroup makes a cgroup of the given version, or skips when this host has none.
func newTestCgroup(t *testing.T, version int) *testCgroup {
	t.Helper()
	nstest.RequireRoot(t)
	c := &testCgroup{Version: version, CgroupRoot: "/sys/fs/cgroup", ID: nstest.RandomHex(32)}
	var hier string
	if version == 1 {
		hier = "/sys/fs/cgroup/freezer"
		var st unix.Statfs_t
		if unix.Statfs(hier, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			t.Skip("no cgroup v1 freezer hierarchy on this host (cgroup2-only)")
		}
	} else if hier = v2Root(t); hier == "" {
		t.Skip("no cgroup2 hierarchy on this host")
	}
	parent := filepath.Join(hier, "kc-chaos-podkill-"+c.ID[:8])
	c.Dir = filepath.Join(parent, c.ID)
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		t.Fatalf("creating cgroup %s: %v", c.Dir, err)
	}
	t.Cleanup(func() {
		// Thaw first: a frozen v1 task cannot die, and rmdir needs it gone.
		_ = Freezer{Version: version, Dir: c.Dir}.Set(false)
		for _, d := range []string{c.Dir, parent} {
			if err := nstest.RmdirRetry(d); err != nil {
				t.Errorf("removing cgroup %s: %v", d, err)
			}
		}
	})
	return c
}

func (c *testCgroup) freezer() Freezer { return Freezer{Version: c.Version, Dir: c.Dir} }

func (c *testCgroup) add(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving pid %d into %s: %v", pid, c.Dir, err)
	}
}

// ticker is a process that stamps CLOCK_MONOTONIC every 2 ms on a pipe we read: a
// tick stamped at time x proves the process ran at x.
type ticker struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	ticks []int64
}

func startTicker(t *testing.T, cg *testCgroup) *ticker {
	t.Helper()
	tk := &ticker{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	tk.cmd.Env = append(os.Environ(), roleEnv+"="+roleTicker)
	out, err := tk.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cg.freezer().Set(false)
		tk.cmd.Process.Kill()
		tk.cmd.Wait()
	})
	cg.add(t, tk.cmd.Process.Pid)
	go func() {
		var b [8]byte
		for {
			if _, err := io.ReadFull(out, b[:]); err != nil {
				return
			}
			tk.mu.Lock()
			tk.ticks = append(tk.ticks, int64(binary.LittleEndian.Uint64(b[:])))
			tk.mu.Unlock()
		}
	}()
	// Running and ticking from inside the cgroup.
	tk.waitTick(t, mono(), 5*time.Second)
	return tk
}

func (tk *ticker) pid() int { return tk.cmd.Process.Pid }

// between counts ticks stamped in (from, to].
func (tk *ticker) between(from, to int64) int {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	n := 0
	for _, x := range tk.ticks {
		if x > from && x <= to {
			n++
		}
	}
	return n
}

// lastBefore is the last tick stamped at or before x (0: none).
func (tk *ticker) lastBefore(x int64) int64 {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	var last int64
	for _, v := range tk.ticks {
		if v <= x && v > last {
			last = v
		}
	}
	return last
}

// waitTick waits for the first tick stamped after from and returns its stamp.
func (tk *ticker) waitTick(t *testing.T, from int64, timeout time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tk.mu.Lock()
		for _, x := range tk.ticks {
			if x > from {
				tk.mu.Unlock()
				return x
			}
		}
		tk.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("ticker pid %d: no tick within %s", tk.pid(), timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func ms(ns int64) string { return time.Duration(ns).Round(10 * time.Microsecond).String() }
