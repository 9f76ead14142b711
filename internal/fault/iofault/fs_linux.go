package iofault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// rules is the fault as the file system applies it.
type rules struct {
	action   string
	methods  MethodSet
	glob     string
	percent  float64
	delay    time.Duration
	jitter   time.Duration
	errno    syscall.Errno
	maxBytes int
	attr     *plan.IOAttr
}

func newRules(s *plan.IO) (rules, error) {
	if err := Validate(s); err != nil {
		return rules{}, err
	}
	r := rules{action: s.Action(), glob: s.FileGlob, percent: s.Percent, attr: s.Attr}
	if r.action == "attr" {
		r.percent = 100
		r.methods = 1<<MLookup | 1<<MGetattr
		return r, nil
	}
	var err error
	if r.methods, err = ParseMethods(s.Methods, r.action == "mistake"); err != nil {
		return rules{}, err
	}
	switch r.action {
	case "latency":
		r.delay, r.jitter = s.Latency.Delay.D(), s.Latency.Jitter.D()
	case "fault":
		n, _ := ErrnoNumber(s.Fault.Errno)
		r.errno = syscall.Errno(n)
	case "mistake":
		r.maxBytes = s.Mistake.MaxBytes
	}
	return r, nil
}

// dataHit says whether the fault can touch the data path (read or write) of a file.
func (r *rules) dataHit() bool {
	return r.action != "attr" && (r.methods.Has(MRead) || r.methods.Has(MWrite))
}

// faults is the switchable state every node and file of one mount shares. It starts
// off (while descriptors are moved onto the mount), is turned on once, and off again
// for good at recovery, which also wakes every delayed call.
type faults struct {
	r    rules
	self uint32 // the agent's own calls (checks, moves) are never hit

	on       atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	// directIO: the kernel lets direct-IO files be mmapped shared (FUSE_DIRECT_IO_ALLOW_MMAP),
	// so files whose reads are hit can bypass the page cache.
	directIO bool

	calls [numMethods]atomic.Int64 // matching calls seen while on
	hits  [numMethods]atomic.Int64 // of those, hit
}

func newFaults(r rules, self int) *faults {
	return &faults{r: r, self: uint32(self), stop: make(chan struct{})}
}

func (f *faults) enable() { f.on.Store(true) }

func (f *faults) disable() {
	f.on.Store(false)
	f.stopOnce.Do(func() { close(f.stop) })
}

// roll counts a matching call of m and decides whether it is hit.
func (f *faults) roll(ctx context.Context, m Method, matched bool) bool {
	if !matched || !f.on.Load() || !f.r.methods.Has(m) {
		return false
	}
	if c, ok := fuse.FromContext(ctx); ok && c.Pid == f.self {
		return false
	}
	f.calls[m].Add(1)
	if f.r.percent < 100 && rand.Float64()*100 >= f.r.percent {
		return false
	}
	f.hits[m].Add(1)
	return true
}

// hit applies a latency or errno fault to one call; mistakes and attributes are
// applied to the data and the replies by the callers.
func (f *faults) hit(ctx context.Context, m Method, matched bool) syscall.Errno {
	if f.r.action != "latency" && f.r.action != "fault" {
		return 0
	}
	if !f.roll(ctx, m, matched) {
		return 0
	}
	if f.r.action == "fault" {
		return f.r.errno
	}
	d := f.r.delay
	if j := f.r.jitter; j > 0 {
		d += time.Duration(rand.Int64N(int64(2*j)+1)) - j
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done(): // the caller was interrupted
	case <-f.stop: // recovery: no call waits past it
	}
	return 0
}

// mistake replaces a run of 1..maxBytes bytes of b with different random bytes when
// the call is hit; it reports whether it did.
func (f *faults) mistake(ctx context.Context, m Method, matched bool, b []byte) bool {
	if f.r.action != "mistake" || len(b) == 0 || !f.roll(ctx, m, matched) {
		return false
	}
	n := 1 + rand.IntN(min(f.r.maxBytes, len(b)))
	at := rand.IntN(len(b) - n + 1)
	for i := at; i < at+n; i++ {
		b[i] ^= byte(1 + rand.IntN(255)) // never 0: every byte of the run changes
	}
	return true
}

// override puts the asked attributes into a reply about a matching file.
func (f *faults) override(ctx context.Context, m Method, matched bool, a *fuse.Attr) {
	if f.r.action != "attr" || !f.roll(ctx, m, matched) {
		return
	}
	at := f.r.attr
	if at.Perm != nil {
		a.Mode = a.Mode&^0o7777 | *at.Perm
	}
	if at.Size != nil {
		a.Size = *at.Size
	}
	if at.Mtime != nil {
		a.Mtime, a.Mtimensec = uint64(at.Mtime.Unix()), uint32(at.Mtime.Nanosecond())
	}
	if at.UID != nil {
		a.Uid = *at.UID
	}
	if at.GID != nil {
		a.Gid = *at.GID
	}
}

func (f *faults) overrideStatx(ctx context.Context, matched bool, s *fuse.Statx) {
	var a fuse.Attr
	a.Mode, a.Size, a.Uid, a.Gid = uint32(s.Mode), s.Size, s.Uid, s.Gid
	a.Mtime, a.Mtimensec = s.Mtime.Sec, s.Mtime.Nsec
	f.override(ctx, MGetattr, matched, &a)
	s.Mode, s.Size, s.Uid, s.Gid = uint16(a.Mode), a.Size, a.Uid, a.Gid
	s.Mtime.Sec, s.Mtime.Nsec = a.Mtime, a.Mtimensec
}

// counts renders the counters, e.g. "read 61/600, open 12/120" (hit/seen).
func (f *faults) counts() string {
	out := ""
	for m := Method(0); m < numMethods; m++ {
		c := f.calls[m].Load()
		if c == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %d/%d", m, f.hits[m].Load(), c)
	}
	if out == "" {
		return "no matching call"
	}
	return out + " (hit/seen)"
}

// node is a loopback node whose calls go through the faults first.
type node struct {
	*fs.LoopbackNode
	f *faults
}

// newRoot is the root node of a loopback over dir (e.g. /proc/self/fd/N).
func newRoot(dir string, f *faults) (*node, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, err
	}
	root := &fs.LoopbackRoot{Path: dir, Dev: st.Dev}
	n := &node{LoopbackNode: &fs.LoopbackNode{RootData: root}, f: f}
	root.RootNode = n
	return n, nil
}

// WrapChild makes every node the loopback creates one of ours.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if lb, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: lb, f: n.f}
	}
	return ops
}

// match says whether the child name of n (n itself for "") is hit by --file-glob.
// --path itself is never matched for attributes (see isRoot).
func (n *node) match(name string) bool {
	if n.f.r.glob == "" {
		return true
	}
	return Match(n.f.r.glob, path.Join(n.Path(nil), name))
}

func (n *node) isRoot() bool { return n.EmbeddedInode() == n.Root() }

// child runs a call that names a child (lookup, mkdir, …): the fault first, then the
// loopback, then the asked attributes into the reply.
func (n *node) child(ctx context.Context, m Method, name string, out *fuse.EntryOut, do func() (*fs.Inode, syscall.Errno)) (*fs.Inode, syscall.Errno) {
	matched := n.match(name)
	if e := n.f.hit(ctx, m, matched); e != 0 {
		return nil, e
	}
	ch, e := do()
	if e == 0 {
		n.f.override(ctx, MLookup, matched, &out.Attr)
	}
	return ch, e
}

// opened runs a call that opens a new file (create, tmpfile): the fault first, then the
// loopback, then our file around the loopback's.
func (n *node) opened(ctx context.Context, name string, flags uint32, out *fuse.EntryOut,
	do func() (*fs.Inode, fs.FileHandle, uint32, syscall.Errno)) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	matched := n.match(name)
	if e := n.f.hit(ctx, MCreate, matched); e != 0 {
		return nil, nil, 0, e
	}
	ch, fh, fl, e := do()
	if e != 0 {
		return nil, nil, 0, e
	}
	n.f.override(ctx, MLookup, matched, &out.Attr)
	fh, fl, e = n.f.wrap(fh, matched, flags, fl)
	return ch, fh, fl, e
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.child(ctx, MLookup, name, out, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Lookup(ctx, name, out) })
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	m := n.match("")
	if e := n.f.hit(ctx, MGetattr, m); e != 0 {
		return e
	}
	if e := n.LoopbackNode.Getattr(ctx, unwrap(fh), out); e != 0 {
		return e
	}
	n.f.override(ctx, MGetattr, m && !n.isRoot(), &out.Attr)
	return 0
}

func (n *node) Statx(ctx context.Context, fh fs.FileHandle, flags, mask uint32, out *fuse.StatxOut) syscall.Errno {
	m := n.match("")
	if e := n.f.hit(ctx, MGetattr, m); e != 0 {
		return e
	}
	if e := n.LoopbackNode.Statx(ctx, unwrap(fh), flags, mask, out); e != 0 {
		return e
	}
	n.f.overrideStatx(ctx, m && !n.isRoot(), &out.Statx)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	m := n.match("")
	if e := n.f.hit(ctx, MSetattr, m); e != 0 {
		return e
	}
	if e := n.LoopbackNode.Setattr(ctx, unwrap(fh), in, out); e != 0 {
		return e
	}
	n.f.override(ctx, MGetattr, m && !n.isRoot(), &out.Attr)
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	m := n.match("")
	if e := n.f.hit(ctx, MOpen, m); e != 0 {
		return nil, 0, e
	}
	fh, fl, e := n.LoopbackNode.Open(ctx, flags)
	if e != 0 {
		return nil, 0, e
	}
	return n.f.wrap(fh, m, flags, fl)
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return n.opened(ctx, name, flags, out, func() (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
		return n.LoopbackNode.Create(ctx, name, flags, mode, out)
	})
}

func (n *node) Tmpfile(ctx context.Context, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return n.opened(ctx, "", flags, out, func() (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
		return n.LoopbackNode.Tmpfile(ctx, flags, mode, out)
	})
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if e := n.f.hit(ctx, MOpendir, n.match("")); e != 0 {
		return nil, 0, e
	}
	return n.LoopbackNode.OpendirHandle(ctx, flags)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.child(ctx, MMkdir, name, out, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Mkdir(ctx, name, mode, out) })
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.child(ctx, MMknod, name, out, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out) })
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.child(ctx, MSymlink, name, out, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Symlink(ctx, target, name, out) })
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if t, ok := target.(*node); ok {
		target = t.LoopbackNode
	}
	return n.child(ctx, MLink, name, out, func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Link(ctx, target, name, out) })
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if e := n.f.hit(ctx, MUnlink, n.match(name)); e != 0 {
		return e
	}
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if e := n.f.hit(ctx, MRmdir, n.match(name)); e != 0 {
		return e
	}
	return n.LoopbackNode.Rmdir(ctx, name)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if e := n.f.hit(ctx, MRename, n.match(name)); e != 0 {
		return e
	}
	if p, ok := newParent.(*node); ok {
		newParent = p.LoopbackNode
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if e := n.f.hit(ctx, MReadlink, n.match("")); e != 0 {
		return nil, e
	}
	return n.LoopbackNode.Readlink(ctx)
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	if e := n.f.hit(ctx, MStatfs, n.match("")); e != 0 {
		return e
	}
	return n.LoopbackNode.Statfs(ctx, out)
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if e := n.f.hit(ctx, MGetxattr, n.match("")); e != 0 {
		return 0, e
	}
	return n.LoopbackNode.Getxattr(ctx, attr, dest)
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if e := n.f.hit(ctx, MSetxattr, n.match("")); e != 0 {
		return e
	}
	return n.LoopbackNode.Setxattr(ctx, attr, data, flags)
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if e := n.f.hit(ctx, MListxattr, n.match("")); e != 0 {
		return 0, e
	}
	return n.LoopbackNode.Listxattr(ctx, dest)
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if e := n.f.hit(ctx, MRemovexattr, n.match("")); e != 0 {
		return e
	}
	return n.LoopbackNode.Removexattr(ctx, attr)
}

// file is an open loopback file whose calls go through the faults first.
type file struct {
	*fs.LoopbackFile
	f       *faults
	fd      int
	matched bool
}

// wrap makes an opened loopback file one of ours. O_APPEND, which the loopback drops,
// is put back on the backing descriptor: without the writeback cache the kernel sends
// the offset it believes is the end, and the real end may have moved (a writer through
// the original directory); the backing O_APPEND appends at the real end. Files whose
// reads are hit bypass the page cache, else a cached read is never seen by the fault.
func (f *faults) wrap(fh fs.FileHandle, matched bool, flags, fuseFlags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return fh, fuseFlags, 0
	}
	fd, _ := lf.PassthroughFd()
	if flags&unix.O_APPEND != 0 {
		if cur, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, cur|unix.O_APPEND)
		}
	}
	if matched && f.directIO && f.r.dataHit() && f.r.methods.Has(MRead) {
		fuseFlags |= fuse.FOPEN_DIRECT_IO
	}
	return &file{LoopbackFile: lf, f: f, fd: fd, matched: matched}, fuseFlags, 0
}

// unwrap returns the loopback file inside one of ours (the loopback node type-asserts it).
func unwrap(fh fs.FileHandle) fs.FileHandle {
	if w, ok := fh.(*file); ok {
		return w.LoopbackFile
	}
	return fh
}

// PassthroughFd lets the kernel do reads and writes itself (Linux 6.9+, as root) only
// for files whose data the fault never touches: those calls would not reach us.
func (w *file) PassthroughFd() (int, bool) {
	if w.matched && w.f.r.dataHit() {
		return 0, false
	}
	return w.LoopbackFile.PassthroughFd()
}

func (w *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if e := w.f.hit(ctx, MRead, w.matched); e != 0 {
		return nil, e
	}
	if w.f.r.action != "mistake" {
		return w.LoopbackFile.Read(ctx, buf, off)
	}
	n, err := unix.Pread(w.fd, buf, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	w.f.mistake(ctx, MRead, w.matched, buf[:n])
	return fuse.ReadResultData(buf[:n]), 0
}

func (w *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if e := w.f.hit(ctx, MWrite, w.matched); e != 0 {
		return 0, e
	}
	if w.f.r.action == "mistake" {
		data = append([]byte(nil), data...)
		w.f.mistake(ctx, MWrite, w.matched, data)
	}
	return w.LoopbackFile.Write(ctx, data, off)
}

func (w *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var flat []byte
	for _, d := range data {
		flat = append(flat, d...)
	}
	return w.Write(ctx, flat, off)
}

func (w *file) Flush(ctx context.Context) syscall.Errno {
	if e := w.f.hit(ctx, MFlush, w.matched); e != 0 {
		return e
	}
	return w.LoopbackFile.Flush(ctx)
}

func (w *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if e := w.f.hit(ctx, MFsync, w.matched); e != 0 {
		return e
	}
	return w.LoopbackFile.Fsync(ctx, flags)
}

func (w *file) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if e := w.f.hit(ctx, MAllocate, w.matched); e != 0 {
		return e
	}
	return w.LoopbackFile.Allocate(ctx, off, size, mode)
}
