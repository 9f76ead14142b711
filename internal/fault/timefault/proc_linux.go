package timefault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
)

// procRoot is where the agent reads processes. The helper runs with hostPID, so its own
// /proc shows the node's processes under the PIDs ptrace takes.
const procRoot = "/proc"

func procPath(pid int, elem ...string) string {
	return filepath.Join(append([]string{procRoot, strconv.Itoa(pid)}, elem...)...)
}

// errGone: the process (or thread) exited.
var errGone = errors.New("exited")

func goneErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return errGone
	}
	return err
}

// procStat is what /proc/PID/stat tells about a process.
type procStat struct {
	comm  string
	state byte
	ppid  int
	// start is the start time in clock ticks after boot: with the PID, it names a
	// process for good (a reused PID has another start time).
	start uint64
}

func readStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, goneErr(err)
	}
	// pid (comm) state ppid ... ; comm may hold spaces and parentheses.
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return procStat{}, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(string(b[close+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("%s: %d fields after comm, want 20+", path, len(f))
	}
	st := procStat{comm: string(b[open+1 : close]), state: f[0][0]}
	st.ppid, _ = strconv.Atoi(f[1])
	st.start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("%s: start time: %w", path, err)
	}
	return st, nil
}

func statOf(pid int) (procStat, error) { return readStat(procPath(pid, "stat")) }

// statusField returns a field of /proc/PID/status (or a task's), e.g. "TracerPid".
func statusField(path, name string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", goneErr(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == name {
			return strings.TrimSpace(v), nil
		}
	}
	return "", sc.Err()
}

// tracerOf is the process tracing pid, 0 if none.
func tracerOf(pid int) int {
	v, _ := statusField(procPath(pid, "status"), "TracerPid")
	tid, _ := strconv.Atoi(v)
	if tid == 0 {
		return 0
	}
	// TracerPid is the tracing thread; the report names its process.
	if v, err := statusField(procPath(tid, "status"), "Tgid"); err == nil {
		if n, _ := strconv.Atoi(v); n != 0 {
			return n
		}
	}
	return tid
}

// tasks lists the thread IDs of pid.
func tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(procPath(pid, "task"))
	if err != nil {
		return nil, goneErr(err)
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	lo, hi uint64
	name   string
}

func readMaps(pid int) ([]mapping, error) {
	b, err := os.ReadFile(procPath(pid, "maps"))
	if err != nil {
		return nil, goneErr(err)
	}
	var out []mapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		a, z, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(a, 16, 64)
		hi, err2 := strconv.ParseUint(z, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		m := mapping{lo: lo, hi: hi}
		if len(f) >= 6 {
			m.name = f[5]
		}
		out = append(out, m)
	}
	return out, nil
}

// errNoVDSO: the process has no vDSO mapped (vdso=0 on the kernel command line, or a
// program that unmapped it).
var errNoVDSO = errors.New("no vDSO mapped")

func findVDSO(maps []mapping) (mapping, error) {
	for _, m := range maps {
		if m.name == "[vdso]" {
			return m, nil
		}
	}
	return mapping{}, errNoVDSO
}

// containing returns the mapping that holds addr.
func containing(maps []mapping, addr uint64) (mapping, bool) {
	for _, m := range maps {
		if addr >= m.lo && addr < m.hi {
			return m, true
		}
	}
	return mapping{}, false
}

// memFile opens pid's memory for reading.
func memFile(pid int) (*os.File, error) {
	f, err := os.Open(procPath(pid, "mem"))
	if err != nil {
		return nil, goneErr(err)
	}
	return f, nil
}

// readMem reads len(b) bytes at addr; short reads (the end of a mapping) return what
// was read.
func readMem(f *os.File, addr uint64, b []byte) (int, error) {
	n, err := f.ReadAt(b, int64(addr))
	if n > 0 {
		return n, nil
	}
	if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ESRCH) {
		return 0, errGone
	}
	return n, err
}

// containerProcs lists the PIDs whose cgroup names the container ID (v1 and v2, any
// cgroup driver), in increasing order.
func containerProcs(containerID string) []int {
	needle := []byte(containerID)
	var out []int
	_ = journal.ScanProc(procRoot, func(pid int, cgroup []byte) bool {
		if bytes.Contains(cgroup, needle) {
			out = append(out, pid)
		}
		return true
	})
	return out
}

// descendants lists the children of pid, their children and so on (through
// /proc/PID/task/TID/children), without pid itself.
func descendants(pid int) []int {
	var out []int
	seen := map[int]bool{pid: true}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tids, _ := tasks(p)
		for _, tid := range tids {
			b, err := os.ReadFile(procPath(p, "task", strconv.Itoa(tid), "children"))
			if err != nil {
				continue
			}
			for _, s := range strings.Fields(string(b)) {
				c, err := strconv.Atoi(s)
				if err == nil && !seen[c] {
					seen[c] = true
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// sharesMemory reports whether pid shares its address space with its parent (a vfork
// child before its exec: writing its vDSO would write the parent's while the parent's
// other threads run). kcmp answers; where the kernel lacks it, false.
func sharesMemory(pid, ppid int) bool {
	if ppid <= 0 {
		return false
	}
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid), uintptr(ppid), 1 /* KCMP_VM */, 0, 0, 0)
	return errno == 0 && r == 0
}

// ptraceScope reads kernel.yama.ptrace_scope (-1 when Yama is absent).
func ptraceScope() int {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}
