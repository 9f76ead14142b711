package iofault

// The stand-in for a pod container in these root tests: the test binary re-executed as
// "nsinit", PID 1 of its own mount and PID namespaces (private propagation, a fresh
// /proc, a tmpfs at the test directory), which starts the "workload": a real process of
// that container that opens, reads, writes, stats and maps files on command (JSON lines
// on stdin/stdout) and measures each call itself. The faults are judged by what the
// workload sees.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const roleEnv = "KC_IO_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "nsinit":
		os.Exit(nsInit())
	case "workload":
		os.Exit(runWorkload())
	case "agent":
		os.Exit(runAgent())
	}
	os.Exit(m.Run())
}

func nsInit() int {
	dir := os.Getenv("KC_IO_DIR")
	steps := []func() error{
		func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") },
		func() error { return unix.Mount("tmpfs", dir, "tmpfs", 0, "size=512m,mode=0755") },
		func() error {
			if os.Getenv("KC_IO_SHARED") == "1" {
				return unix.Mount("", dir, "", unix.MS_SHARED, "")
			}
			return nil
		},
		func() error {
			return unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			fmt.Fprintf(os.Stderr, "nsinit step %d: %v\n", i, err)
			return 1
		}
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), roleEnv+"=workload")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "nsinit: workload:", err)
		return 1
	}
	return 0
}

// wcmd is one command to the workload.
type wcmd struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	FD    int    `json:"fd,omitempty"`
	N     int    `json:"n,omitempty"`
	Size  int    `json:"size,omitempty"`
	Flags int    `json:"flags,omitempty"`
	UID   int    `json:"uid,omitempty"`
}

// wres is the workload's answer.
type wres struct {
	FD     int            `json:"fd,omitempty"`
	Pos    int64          `json:"pos,omitempty"`
	N      int            `json:"n,omitempty"`
	Lat    []int64        `json:"lat,omitempty"` // ns per call
	Errs   map[string]int `json:"errs,omitempty"`
	Bad    int            `json:"bad,omitempty"`    // reads whose data differed from the file's pattern
	BadMax int            `json:"badMax,omitempty"` // most wrong bytes in one read
	BadMin int            `json:"badMin,omitempty"`
	Text   string         `json:"text,omitempty"`
	Err    string         `json:"err,omitempty"`
	Mode   uint32         `json:"mode,omitempty"`
	Size   int64          `json:"size,omitempty"`
	Mtime  int64          `json:"mtime,omitempty"`
	UID    uint32         `json:"uid,omitempty"`
	GID    uint32         `json:"gid,omitempty"`
}

// pattern is the content of test files: byte i of a file is pattern(i).
func pattern(i int64) byte { return byte(i*7 + i>>9 + 3) }

func fillPattern(b []byte, off int64) {
	for i := range b {
		b[i] = pattern(off + int64(i))
	}
}

// background is the workload's writer that appends fixed records through a descriptor
// it opened before the fault, all the time the fault comes and goes.
type background struct {
	stop       chan struct{}
	done       chan struct{}
	ok, failed int
}

func runWorkload() int {
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(wres{N: os.Getpid()})
	var bg *background
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var c wcmd
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			_ = out.Encode(wres{Err: err.Error()})
			continue
		}
		var r wres
		switch c.Op {
		case "bgstart":
			bg = startBackground(c.FD)
		case "bgstop":
			close(bg.stop)
			<-bg.done
			r.N, r.Errs = bg.ok, map[string]int{"failed": bg.failed}
		default:
			r = workOp(c)
		}
		_ = out.Encode(r)
	}
	return 0
}

func startBackground(fd int) *background {
	bg := &background{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(bg.done)
		for i := 0; ; i++ {
			select {
			case <-bg.stop:
				return
			default:
			}
			if _, err := unix.Write(fd, record(bg.ok)); err != nil {
				bg.failed++
			} else {
				bg.ok++
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()
	return bg
}

// record is the background writer's n-th record (64 bytes).
func record(n int) []byte { return []byte(fmt.Sprintf("record %08d %s\n", n, strings.Repeat("x", 46))) }

func errName(err error) string {
	if e, ok := err.(unix.Errno); ok {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// timed runs fn n times and returns the latencies and the errors by name.
func timed(n int, fn func(i int) error) wres {
	r := wres{Errs: map[string]int{}}
	for i := 0; i < n; i++ {
		t := time.Now()
		err := fn(i)
		r.Lat = append(r.Lat, int64(time.Since(t)))
		if err != nil {
			r.Errs[errName(err)]++
		} else {
			r.N++
		}
	}
	return r
}

func workOp(c wcmd) wres {
	fail := func(err error) wres { return wres{Err: errName(err)} }
	size := max(c.Size, 1)
	buf := make([]byte, size)
	switch c.Op {
	case "fill":
		b := make([]byte, c.N)
		fillPattern(b, 0)
		if err := os.WriteFile(c.Path, b, 0o644); err != nil {
			return fail(err)
		}
	case "open":
		fd, err := unix.Open(c.Path, c.Flags|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fail(err)
		}
		return wres{FD: fd}
	case "close":
		if err := unix.Close(c.FD); err != nil {
			return fail(err)
		}
	case "seek":
		pos, err := unix.Seek(c.FD, 0, io.SeekCurrent)
		if err != nil {
			return fail(err)
		}
		return wres{Pos: pos}
	case "read":
		n, err := unix.Read(c.FD, buf)
		if err != nil {
			return fail(err)
		}
		return wres{N: n}
	case "pread": // N reads of Size bytes at spread offsets of a pattern file of Flags bytes
		return preadCheck(c, buf)
	case "pwrite": // N writes of Size pattern bytes at consecutive offsets
		return timed(c.N, func(i int) error {
			off := int64(i * size)
			fillPattern(buf, off)
			_, err := unix.Pwrite(c.FD, buf, off)
			return err
		})
	case "seqwrite", "seqread": // N chunks of Size bytes, one after the other; Lat[0] is the total
		return sequential(c, buf)
	case "openclose":
		return timed(c.N, func(int) error {
			fd, err := unix.Open(c.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		})
	case "fsync":
		return timed(c.N, func(int) error { return unix.Fsync(c.FD) })
	case "stat":
		var st unix.Stat_t
		if err := unix.Stat(c.Path, &st); err != nil {
			return fail(err)
		}
		return wres{Mode: st.Mode, Size: st.Size, Mtime: st.Mtim.Sec, UID: st.Uid, GID: st.Gid}
	case "asuser":
		cmd := exec.Command("cat", c.Path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.UID)}}
		var eb bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &eb
		if err := cmd.Run(); err != nil {
			return wres{Err: strings.TrimSpace(eb.String()) + " (" + err.Error() + ")"}
		}
	case "mountinfo":
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return fail(err)
		}
		return wres{Text: string(b)}
	case "flock":
		if err := unix.Flock(c.FD, unix.LOCK_EX); err != nil {
			return fail(err)
		}
	case "unlink":
		if err := unix.Unlink(c.Path); err != nil {
			return fail(err)
		}
	case "spawn": // a child process (sleep) that inherits descriptor FD as its fd 3
		f := os.NewFile(uintptr(c.FD), "inherited")
		cmd := exec.Command("sleep", "3600")
		cmd.ExtraFiles = []*os.File{f}
		err := cmd.Start()
		if err != nil {
			return fail(err)
		}
		go cmd.Wait()
		return wres{N: cmd.Process.Pid}
	case "mmap":
		if err := mmapCheck(c.Path, size); err != nil {
			return wres{Err: err.Error()}
		}
	default:
		return wres{Err: "unknown op " + c.Op}
	}
	return wres{}
}

// preadCheck makes c.N reads of len(buf) bytes at spread offsets of a pattern file of
// c.Flags bytes and counts the reads whose data is not the pattern.
func preadCheck(c wcmd, buf []byte) wres {
	size := len(buf)
	want := make([]byte, size)
	bad, badMax, badMin := 0, 0, size+1
	r := timed(c.N, func(i int) error {
		off := int64(i*size) % int64(max(c.Flags-size, 1))
		n, err := unix.Pread(c.FD, buf, off)
		if err != nil {
			return err
		}
		fillPattern(want[:n], off)
		if d := diff(buf[:n], want[:n]); d > 0 {
			bad, badMax, badMin = bad+1, max(badMax, d), min(badMin, d)
		}
		return nil
	})
	r.Bad, r.BadMax, r.BadMin = bad, badMax, badMin%(size+1)
	return r
}

// sequential writes (or reads) c.N chunks of len(buf) bytes one after the other.
func sequential(c wcmd, buf []byte) wres {
	fail := func(err error) wres { return wres{Err: errName(err)} }
	fillPattern(buf, 0)
	flags := unix.O_RDONLY
	if c.Op == "seqwrite" {
		flags = unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
	}
	fd, err := unix.Open(c.Path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	t := time.Now()
	for i := 0; i < c.N; i++ {
		var err error
		if c.Op == "seqwrite" {
			_, err = unix.Write(fd, buf)
		} else {
			_, err = unix.Read(fd, buf)
		}
		if err != nil {
			return fail(err)
		}
	}
	return wres{Lat: []int64{int64(time.Since(t))}}
}

func diff(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// mmapCheck maps path shared twice (as SQLite's -shm is), writes through one mapping,
// sees it through the other at once, then msyncs and reads it with pread.
func mmapCheck(path string, size int) error {
	fd1, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd1)
	if err := unix.Ftruncate(fd1, int64(size)); err != nil {
		return fmt.Errorf("ftruncate: %w", err)
	}
	m1, err := unix.Mmap(fd1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap MAP_SHARED: %w", err)
	}
	defer unix.Munmap(m1)
	fd2, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open again: %w", err)
	}
	defer unix.Close(fd2)
	m2, err := unix.Mmap(fd2, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("second mmap MAP_SHARED: %w", err)
	}
	defer unix.Munmap(m2)
	stamp := []byte(time.Now().Format(time.RFC3339Nano))
	copy(m1[100:], stamp)
	if !bytes.Equal(m2[100:100+len(stamp)], stamp) {
		return fmt.Errorf("the second mapping does not see the first one's write")
	}
	if err := unix.Msync(m1, unix.MS_SYNC); err != nil {
		return fmt.Errorf("msync: %w", err)
	}
	got := make([]byte, len(stamp))
	if _, err := unix.Pread(fd2, got, 100); err != nil {
		return fmt.Errorf("pread after msync: %w", err)
	}
	if !bytes.Equal(got, stamp) {
		return fmt.Errorf("pread after msync reads %q, want %q", got, stamp)
	}
	return nil
}

// ------------------------------------------------------------------ test side

// wl is a running stand-in container, seen from the test.
type wl struct {
	t    testing.TB
	dir  string // the directory, as the container sees it (a tmpfs there)
	init *exec.Cmd
	pid  int // the workload, host PID
	in   io.WriteCloser
	out  *bufio.Scanner
	mu   sync.Mutex
}

// startWorkload starts a stand-in container with a tmpfs at a fresh directory (shared
// propagation if asked) and returns it; t.Cleanup stops it.
func startWorkload(t testing.TB, shared bool) *wl {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount and PID namespaces, FUSE, ptrace)")
	}
	dir, err := os.MkdirTemp("/tmp", "kc-io-test-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.Remove(dir) })
	w := &wl{t: t, dir: dir}
	w.init = exec.Command(os.Args[0])
	w.init.Env = append(os.Environ(), roleEnv+"=nsinit", "KC_IO_DIR="+dir, "KC_IO_SHARED="+map[bool]string{true: "1"}[shared])
	// No Pdeathsig: it fires when the forking OS thread exits, and the fault's locked
	// namespace threads do exit. A test binary that dies closes the workload's stdin,
	// and the stand-in container ends with it.
	w.init.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID}
	w.init.Stderr = os.Stderr
	if w.in, err = w.init.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.init.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.in.Close()
		done := make(chan struct{})
		go func() { w.init.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			w.init.Process.Kill()
			<-done
		}
	})
	w.out = bufio.NewScanner(stdout)
	w.out.Buffer(make([]byte, 1<<20), 64<<20)
	if !w.out.Scan() {
		t.Fatalf("the stand-in container did not start")
	}
	for deadline := time.Now().Add(10 * time.Second); w.pid == 0; time.Sleep(10 * time.Millisecond) {
		w.pid = childOf(w.init.Process.Pid)
		if time.Now().After(deadline) {
			t.Fatal("no workload process under the stand-in container's init")
		}
	}
	return w
}

// childOf returns a child of ppid (host PIDs), 0 if none.
func childOf(ppid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err == nil && bytes.Contains(b, []byte(fmt.Sprintf("\nPPid:\t%d\n", ppid))) {
			return pid
		}
	}
	return 0
}

// do sends one command and returns the answer.
func (w *wl) do(c wcmd) wres {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	b, _ := json.Marshal(c)
	if _, err := w.in.Write(append(b, '\n')); err != nil {
		w.t.Fatalf("workload %s: %v", c.Op, err)
	}
	if !w.out.Scan() {
		w.t.Fatalf("workload %s: no answer (%v)", c.Op, w.out.Err())
	}
	var r wres
	if err := json.Unmarshal(w.out.Bytes(), &r); err != nil {
		w.t.Fatalf("workload %s: %v", c.Op, err)
	}
	return r
}

// must sends a command that must succeed.
func (w *wl) must(c wcmd) wres {
	w.t.Helper()
	r := w.do(c)
	if r.Err != "" {
		w.t.Fatalf("workload %s %s: %s", c.Op, c.Path, r.Err)
	}
	return r
}

func (w *wl) path(name string) string { return filepath.Join(w.dir, name) }

// hostPath is a file of the container seen from the host (through the workload's root).
func (w *wl) hostPath(name string) string {
	return filepath.Join("/proc", strconv.Itoa(w.pid), "root", w.dir, name)
}

// fuseMounts lists the FUSE mounts in the container's own mount table.
func (w *wl) fuseMounts() []string {
	var out []string
	for _, l := range strings.Split(w.must(wcmd{Op: "mountinfo"}).Text, "\n") {
		if strings.Contains(l, " - fuse") {
			out = append(out, l)
		}
	}
	return out
}

// median of latencies in ns, as a duration.
func median(lat []int64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := append([]int64(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return time.Duration(s[len(s)/2])
}

func errCount(r wres) int {
	n := 0
	for _, v := range r.Errs {
		n += v
	}
	return n
}
