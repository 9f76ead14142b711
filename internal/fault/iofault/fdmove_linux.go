package iofault

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	atFDCWD  = ^uintptr(99) // AT_FDCWD (-100) as a register value
	kcmpFile = 0            // KCMP_FILE
	// reopenDrop are open flags that must not be repeated when a file is opened again.
	reopenDrop = unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY | unix.O_CLOEXEC
)

// fdRef is a descriptor a process of the container holds on a regular file.
type fdRef struct {
	pid  int
	fd   int
	path string // as the container sees it
	info fdInfo
	dev  uint64
	ino  uint64
	why  string // why it is not moved ("" = it can be)
	note string // what else the report says about its move
}

// scan lists, per process of the container (every process in its mount namespace), the
// descriptors whose file want accepts (its path as the container sees it, its mount
// id). It runs on the namespace thread, so paths are the container's.
func (c *container) scan(want func(path string, mnt int) bool) (map[int][]fdRef, error) {
	out := map[int][]fdRef{}
	err := c.th.Do(func() error {
		pids, err := c.pids()
		if err != nil {
			return err
		}
		for _, pid := range pids {
			fds, err := readDirAt(c.proc, strconv.Itoa(pid)+"/fd")
			if err != nil {
				continue // exited
			}
			for _, name := range fds {
				fd, err := strconv.Atoi(name)
				if err != nil {
					continue
				}
				if r, ok := c.ref(pid, fd, want); ok {
					out[pid] = append(out[pid], r)
				}
			}
		}
		return nil
	})
	return out, err
}

// ref describes one descriptor if want accepts its file.
func (c *container) ref(pid, fd int, want func(string, int) bool) (fdRef, bool) {
	at := fmt.Sprintf("%d/fd/%d", pid, fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(c.proc, at, buf)
	if err != nil || n == 0 || buf[0] != '/' {
		return fdRef{}, false // gone, or a socket, pipe, anon inode
	}
	var sx unix.Statx_t
	// DONT_SYNC: a file on a dead FUSE mount answers from the cached attributes.
	if unix.Statx(c.proc, at, unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE|unix.STATX_INO|unix.STATX_MNT_ID, &sx) != nil {
		return fdRef{}, false
	}
	r := fdRef{pid: pid, fd: fd, path: string(buf[:n]), dev: unix.Mkdev(sx.Dev_major, sx.Dev_minor), ino: sx.Ino}
	if !want(strings.TrimSuffix(r.path, " (deleted)"), int(sx.Mnt_id)) {
		return fdRef{}, false
	}
	if r.info, err = c.fdinfo(pid, fd); err != nil {
		return fdRef{}, false
	}
	switch {
	case r.info.flags&unix.O_PATH != 0:
		r.why = "opened with O_PATH (no IO goes through it)"
	case uint32(sx.Mode)&unix.S_IFMT != unix.S_IFREG:
		r.why = "not a regular file (" + fileType(uint32(sx.Mode)) + ")"
	case strings.HasSuffix(r.path, " (deleted)"):
		r.why = "its file was deleted: it cannot be opened again"
	case r.info.locks > 0:
		r.why = "it holds a lock (flock or fcntl): moving it would release the lock"
	}
	return r, true
}

func (c *container) fdinfo(pid, fd int) (fdInfo, error) {
	fdi, err := unix.Openat(c.proc, fmt.Sprintf("%d/fdinfo/%d", pid, fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fdInfo{}, err
	}
	f := os.NewFile(uintptr(fdi), "fdinfo")
	defer f.Close()
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return fdInfo{}, err
	}
	return parseFdinfo(b[:n])
}

// pids lists the processes in the container's mount namespace.
func (c *container) pids() ([]int, error) {
	names, err := readDirAt(c.proc, ".")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(c.proc, n+"/ns/mnt", &st, 0) == nil && st.Ino == c.mntns {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out, nil
}

func readDirAt(dirFD int, name string) ([]string, error) {
	fd, err := unix.Openat(dirFD, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return f.Readdirnames(-1)
}

// groupMoves groups the movable descriptors of each process by open file (dup'ed
// descriptors are moved together, onto one new open file) and returns the others. An
// open file another process shares (forked, or passed over a socket) would be split in
// two with two offsets: onto the mount it is not moved (it keeps working on the original
// file); back from the mount it is (each process then has its own offset, which beats
// ENOTCONN), and the report says so.
func groupMoves(refs map[int][]fdRef, splitShared bool) (map[int][][]fdRef, []fdRef) {
	same := func(a, b fdRef) bool {
		if a.dev != b.dev || a.ino != b.ino {
			return false
		}
		r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(a.pid), uintptr(b.pid), kcmpFile, uintptr(a.fd), uintptr(b.fd), 0)
		return e == 0 && r == 0
	}
	for pid, list := range refs {
		for i := range list {
			for qid, other := range refs {
				if qid == pid || list[i].why != "" {
					continue
				}
				for _, o := range other {
					if !same(list[i], o) {
						continue
					}
					if splitShared {
						list[i].note = fmt.Sprintf("; its open file was shared with pid %d (fd %d): each now has its own offset", qid, o.fd)
					} else {
						list[i].why = fmt.Sprintf("its open file is shared with pid %d (fd %d): moving it would split the shared offset", qid, o.fd)
					}
					break
				}
			}
		}
	}
	groups := map[int][][]fdRef{}
	var refused []fdRef
	for pid, list := range refs {
		var gs [][]fdRef
	next:
		for _, r := range list {
			if r.why != "" {
				refused = append(refused, r)
				continue
			}
			for i, g := range gs {
				if same(g[0], r) {
					gs[i] = append(gs[i], r)
					continue next
				}
			}
			gs = append(gs, []fdRef{r})
		}
		if len(gs) > 0 {
			groups[pid] = gs
		}
	}
	return groups, refused
}

// checkFunc vets a file opened again (its mount id, device and inode) before it
// replaces the descriptor r.
type checkFunc func(r fdRef, mnt int, dev, ino uint64) error

// moveAll moves the descriptors of every process (onto the mount, or back), calling
// before with the groups of each process first (the journal), and returns what happened
// to each descriptor and the report.
func (c *container) moveAll(refs map[int][]fdRef, onto bool, check checkFunc, before func(pid int, groups [][]fdRef) error) ([]moveResult, []string, error) {
	groups, refused := groupMoves(refs, !onto)
	var results []moveResult
	for _, r := range refused {
		results = append(results, moveResult{fdRef: r})
	}
	held := map[int]time.Duration{}
	pids := make([]int, 0, len(groups))
	for pid := range groups {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		if before != nil {
			if err := before(pid, groups[pid]); err != nil {
				return results, nil, err
			}
		}
		res, h := c.moveProcess(pid, groups[pid], check)
		held[pid] = h
		results = append(results, res...)
	}
	return results, reportMoves(results, held, onto, maxReportLines), nil
}

// moveResult is what happened to one descriptor.
type moveResult struct {
	fdRef
	moved bool
	pos   int64
}

// moveProcess opens the file of each group again inside process pid (so the path
// resolves through whatever is mounted there now), at the same offset and with the same
// flags, and dup3s it over every descriptor of the group. Every thread of the process is
// stopped meanwhile; check vets the new open file (its mount id, device and inode)
// before it replaces anything. It returns what happened to each descriptor and how
// long the process was stopped.
func (c *container) moveProcess(pid int, groups [][]fdRef, check checkFunc) ([]moveResult, time.Duration) {
	runtime.LockOSThread() // the tracer is this thread, from seize to detach
	defer runtime.UnlockOSThread()
	var out []moveResult
	fail := func(g []fdRef, why string) {
		for _, r := range g {
			r.why = why
			out = append(out, moveResult{fdRef: r})
		}
	}
	s, err := stopAll(pid)
	if err != nil {
		for _, g := range groups {
			fail(g, "the process could not be stopped: "+err.Error())
		}
		return out, 0
	}
	r, err := newRemote(s)
	if err != nil {
		s.detach()
		for _, g := range groups {
			fail(g, err.Error())
		}
		return out, time.Since(s.since)
	}
	for _, g := range groups {
		res, err := c.moveGroup(r, g, check)
		if err != nil {
			fail(g, err.Error())
			continue
		}
		out = append(out, res...)
	}
	cerr := r.close()
	held := time.Since(s.since)
	s.detach()
	if cerr != nil {
		for i := range out {
			out[i].why = strings.TrimPrefix(out[i].why+"; ", "; ") + "restoring the thread: " + cerr.Error()
		}
	}
	return out, held
}

func (c *container) moveGroup(r *remote, g []fdRef, check checkFunc) ([]moveResult, error) {
	first := g[0]
	// The offset and flags now that no thread can move them.
	info, err := c.fdinfo(first.pid, first.fd)
	if err != nil {
		return nil, fmt.Errorf("reading fdinfo again: %w", err)
	}
	if info.mnt != first.info.mnt {
		return nil, fmt.Errorf("the descriptor changed while the process was being stopped")
	}
	addr, err := r.cstring(first.path)
	if err != nil {
		return nil, err
	}
	nfd, err := r.call(unix.SYS_OPENAT, atFDCWD, addr, uintptr(info.flags&^reopenDrop), 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s again in the process: %w", first.path, err)
	}
	var sx unix.Statx_t
	at := fmt.Sprintf("%d/fd/%d", first.pid, nfd)
	err = unix.Statx(c.proc, at, unix.AT_STATX_DONT_SYNC, unix.STATX_INO|unix.STATX_MNT_ID, &sx)
	if err == nil {
		err = check(first, int(sx.Mnt_id), unix.Mkdev(sx.Dev_major, sx.Dev_minor), sx.Ino)
	}
	if err == nil && info.pos != 0 {
		_, err = r.call(unix.SYS_LSEEK, nfd, uintptr(info.pos), unix.SEEK_SET)
	}
	var out []moveResult
	for i, ref := range g {
		if err != nil {
			break
		}
		fi := info
		if i > 0 {
			if fi, err = c.fdinfo(ref.pid, ref.fd); err != nil {
				break
			}
		}
		flags := uintptr(0)
		if fi.flags&unix.O_CLOEXEC != 0 {
			flags = unix.O_CLOEXEC
		}
		if _, err = r.call(unix.SYS_DUP3, nfd, uintptr(ref.fd), flags); err == nil {
			out = append(out, moveResult{fdRef: ref, moved: true, pos: info.pos})
		}
	}
	_, cerr := r.call(unix.SYS_CLOSE, nfd)
	if err != nil {
		return out, errors.Join(err, cerr)
	}
	return out, nil
}

// reportMoves renders the outcome of each descriptor, one line each (at most max, then
// a count of the rest).
func reportMoves(res []moveResult, held map[int]time.Duration, onto bool, max int) []string {
	sort.Slice(res, func(i, j int) bool {
		if res[i].pid != res[j].pid {
			return res[i].pid < res[j].pid
		}
		return res[i].fd < res[j].fd
	})
	var lines []string
	for i, r := range res {
		if i == max {
			lines = append(lines, fmt.Sprintf("… and %d more descriptor(s)", len(res)-max))
			break
		}
		head := fmt.Sprintf("pid %d fd %d %s: ", r.pid, r.fd, r.path)
		switch {
		case r.moved && onto:
			lines = append(lines, head+fmt.Sprintf("moved onto the fault mount at offset %d (process stopped %s)%s", r.pos, held[r.pid].Round(10*time.Microsecond), r.note))
		case r.moved:
			lines = append(lines, head+fmt.Sprintf("moved back to the original file at offset %d (process stopped %s)%s", r.pos, held[r.pid].Round(10*time.Microsecond), r.note))
		case onto:
			lines = append(lines, head+"not moved: "+r.why+"; it keeps the original file and sees no fault")
		default:
			lines = append(lines, head+"left on the detached mount: "+r.why+"; it gets ENOTCONN once the agent exits")
		}
	}
	return lines
}
