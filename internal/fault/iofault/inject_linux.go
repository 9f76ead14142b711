package iofault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Journal entry types of this package.
const (
	// EntryMount is our FUSE mount, journaled before the mount call.
	EntryMount = "io-fuse-mount"
	// EntryMoved names the descriptors of one process, journaled before they are moved
	// onto the mount.
	EntryMoved = "io-moved-fds"
)

// maxReportLines bounds the per-descriptor lines of one report.
const maxReportLines = 20

func init() {
	fault.Register(plan.KindIO, func(f plan.Fault) (fault.Injector, error) {
		if f.IO == nil {
			return nil, errors.New("io fault without a spec")
		}
		r, err := newRules(f.IO)
		if err != nil {
			return nil, err
		}
		return &Injector{S: *f.IO, r: r}, nil
	})
	journal.RegisterRecoverer(EntryMount, recoverEntry)
	journal.RegisterRecoverer(EntryMoved, recoverEntry)
}

// mountData is the journal record of our mount (and, in EntryMoved, of the descriptors
// of one process moved onto it): enough to find the container again, remove the mount
// and move every descriptor on it back, from the record alone.
type mountData struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // with PID, names the process for good
	MntNS uint64 `json:"mntns"` // any process in it will do when PID is gone
	Path  string `json:"path"`
	// Source tells our mount from any other on Path (FSType + this source).
	Source  string `json:"source"`
	RootDev uint64 `json:"rootDev"` // device of the original directory (inode numbers)
	MntID   int    `json:"mntID,omitempty"`

	MovedPID int       `json:"movedPID,omitempty"`
	Moved    []MovedFD `json:"moved,omitempty"`
}

// Injector applies one IO fault.
type Injector struct {
	S plan.IO
	r rules
}

// Apply mounts the fault over the path in the container's mount namespace and moves
// the descriptors the container holds under it onto the mount. Every refusal (not a
// directory, shared propagation, already covered) comes before anything is journaled.
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	if t.PID <= 0 {
		return nil, fmt.Errorf("the io fault needs the container's process (none found for %s)", t.Target)
	}
	c, err := openContainer(t.PID)
	if err != nil {
		return nil, err
	}
	real, dirFD, err := c.prepare(in.S.Path)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("%s: %w", t.Target, err)
	}
	var st unix.Stat_t
	_ = unix.Fstat(dirFD, &st)
	spec := in.S
	spec.Path = real
	a := &Active{c: c, dirFD: dirFD, spec: spec, f: newFaults(in.r, os.Getpid())}
	a.d = mountData{PID: t.PID, Start: c.start, MntNS: c.mntns, Path: real, Source: sourceName(t), RootDev: st.Dev}
	if err := a.apply(ctx, rec); err != nil {
		if _, rerr := a.Recover(context.WithoutCancel(ctx)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return nil, err
	}
	return a, nil
}

func (a *Active) apply(ctx context.Context, rec fault.Recorder) error {
	obj := MountObject(&a.spec, a.d.Source)
	if err := a.record(rec, EntryMount, a.d, obj); err != nil {
		return err
	}
	srv, err := a.c.mountFUSE(a.d.Path, a.d.Source, a.dirFD, a.f)
	if err != nil {
		return err
	}
	a.srv = srv
	ms, err := a.c.mounts()
	if err != nil {
		return err
	}
	own := ownMount(ms, a.d.Path, a.d.Source)
	if own == nil {
		return fmt.Errorf("mounted %s over %s, but the container's mount table does not show it", FSType, a.d.Path)
	}
	a.d.MntID = own.ID
	a.objs = append(a.objs, obj)
	if err := a.moveOnto(rec); err != nil {
		return err
	}
	if !a.f.directIO && a.f.r.dataHit() && a.f.r.methods.Has(MRead) {
		a.notes = append(a.notes, "the kernel has no FUSE_DIRECT_IO_ALLOW_MMAP (Linux < 6.6): reads served from the page cache are not hit")
	}
	a.f.enable()
	return ctx.Err()
}

func (a *Active) record(rec fault.Recorder, typ string, d mountData, obj plan.Object) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := rec.Record(journal.Entry{Type: typ, Data: data, Object: obj}); err != nil {
		return fmt.Errorf("journaling %s: %w", obj.Kind, err)
	}
	return nil
}

// moveOnto moves every descriptor the container holds on files under the path onto the
// mount (faults are still off, so the moves themselves are never hit).
func (a *Active) moveOnto(rec fault.Recorder) error {
	refs, err := a.c.scan(func(p string, mnt int) bool {
		return mnt != a.d.MntID && p != a.d.Path && under(p, a.d.Path)
	})
	if err != nil {
		return fmt.Errorf("listing the descriptors under %s: %w", a.d.Path, err)
	}
	results, lines, err := a.c.moveAll(refs, true, a.checkOnto, func(pid int, groups [][]fdRef) error {
		d := a.d
		d.MovedPID = pid
		for _, g := range groups {
			for _, r := range g {
				d.Moved = append(d.Moved, MovedFD{FD: r.fd, Path: r.path})
			}
		}
		obj := MovedObject(a.d.Path, pid, d.Moved)
		a.objs = append(a.objs, obj)
		return a.record(rec, EntryMoved, d, obj)
	})
	if err != nil {
		return err
	}
	a.notes = append(a.notes, lines...)
	if len(results) == 0 {
		a.notes = append(a.notes, fmt.Sprintf("no descriptor of the container was open under %s: nothing to move", a.d.Path))
	}
	a.notes = append(a.notes, a.c.cwdNotes(a.d.Path)...)
	return nil
}

// checkOnto accepts the file opened again only if it is the same file through our mount.
func (a *Active) checkOnto(r fdRef, mnt int, dev, ino uint64) error {
	if want := loopIno(r.dev, r.ino, a.d.RootDev); mnt != a.d.MntID || ino != want {
		return fmt.Errorf("opened again it is not the same file through the mount (mount %d inode %d, want %d and %d)", mnt, ino, a.d.MntID, want)
	}
	return nil
}

// loopIno is the inode number the loopback reports for a file of the original tree.
func loopIno(dev, ino, rootDev uint64) uint64 {
	swap := func(d uint64) uint64 { return d<<32 | d>>32 }
	return swap(dev) ^ swap(rootDev) ^ ino
}

// Active is an IO fault mounted in one container.
type Active struct {
	mu    sync.Mutex
	c     *container
	dirFD int
	srv   *server
	f     *faults
	spec  plan.IO
	d     mountData
	objs  []plan.Object
	notes []string
	done  bool
}

// Objects lists the mount and the descriptors moved onto it.
func (a *Active) Objects() []plan.Object { return a.objs }

// Notes reports, per descriptor, whether it was moved onto the mount and why not.
func (a *Active) Notes() []string { return a.notes }

// Recover turns the faults off, unmounts (lazily when busy), moves every descriptor on
// the mount back to the original file, and keeps serving with faults off until the
// kernel releases the mount or the recovery deadline is near.
func (a *Active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil, nil
	}
	a.f.disable()
	rep, err := a.c.remove(a.d)
	if err != nil {
		return nil, err
	}
	var left int
	if a.srv != nil {
		left = a.waitRelease(ctx)
	}
	if err := a.c.sameDir(a.d.Path, a.dirFD); err != nil {
		return nil, err
	}
	a.done = true
	a.c.close()
	unix.Close(a.dirFD)
	mount := MountObject(&a.spec, a.d.Source)
	mount.Spec += "; calls: " + a.f.counts()
	mount.Remove = rep.how
	if left > 0 {
		mount.Remove += fmt.Sprintf("; %d descriptor(s) still open on the detached mount get ENOTCONN when the agent exits", left)
	}
	return []plan.Object{mount, rep.object(a.d.Path)}, nil
}

// releaseWait bounds how long the agent serves a detached mount with faults off: the
// helper pod's activeDeadlineSeconds leaves 30 s (helperpod.DefaultGrace) after the
// plan's deadline, and recovery may start at that deadline.
var releaseWait = 20 * time.Second

// waitRelease waits until the kernel releases the detached mount (the server's loop
// ends), at most releaseWait and never past shortly before ctx's deadline. It returns
// how many descriptors of the container are still open on the mount when it gives up.
func (a *Active) waitRelease(ctx context.Context) int {
	wait := releaseWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-2*time.Second)
	}
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case <-a.srv.done:
		return 0
	case <-t.C:
	}
	refs, _ := a.c.scan(func(_ string, mnt int) bool { return mnt == a.d.MntID })
	n := 0
	for _, l := range refs {
		n += len(l)
	}
	return n
}

// backReport is what removing the mount did.
type backReport struct {
	how   string
	lines []string
	moved int
	left  int
}

func (r *backReport) object(dir string) plan.Object {
	spec := fmt.Sprintf("descriptors on the mount: %d moved back to the original files under %s, %d left", r.moved, dir, r.left)
	if len(r.lines) > 0 {
		spec += ": " + strings.Join(r.lines[:min(len(r.lines), 5)], "; ")
	}
	remove := "back on the original files"
	if r.left > 0 {
		remove = fmt.Sprintf("%d left on the detached mount: served with faults off until closed or the agent exits (then ENOTCONN)", r.left)
	}
	return plan.Object{Kind: ObjMoved, Spec: spec, Remove: remove}
}

// remove takes our mount (source on d.Path) out of the container and moves every
// descriptor of the container on it back to the original file. It works from the
// record alone (the live agent and the journal recoverers share it) and is idempotent.
func (c *container) remove(d mountData) (*backReport, error) {
	rep := &backReport{how: "not mounted (already removed)"}
	mnts := map[int]bool{}
	if d.MntID != 0 {
		mnts[d.MntID] = true
	}
	ms, err := c.mounts()
	if err != nil {
		return nil, err
	}
	if own := ownMount(ms, d.Path, d.Source); own != nil {
		mnts[own.ID] = true
		_, lazy, err := c.unmount(d.Path, d.Source)
		if err != nil {
			return nil, err
		}
		rep.how = "unmounted"
		if lazy {
			rep.how = "detached (umount MNT_DETACH: it was busy)"
		}
	}
	if len(mnts) == 0 {
		return rep, nil
	}
	// Unmounted first, so the paths resolve to the original files again. The kernel
	// names a file of a detached mount from that mount's root: put --path back in front.
	refs, err := c.scan(func(_ string, mnt int) bool { return mnts[mnt] })
	if err != nil {
		return nil, fmt.Errorf("listing the descriptors on the mount: %w", err)
	}
	for _, list := range refs {
		for i := range list {
			if p := list[i].path; !under(p, d.Path) {
				list[i].path = d.Path + "/" + strings.TrimPrefix(p, "/")
			}
		}
	}
	check := func(r fdRef, mnt int, dev, ino uint64) error {
		if mnts[mnt] || loopIno(dev, ino, d.RootDev) != r.ino {
			return fmt.Errorf("%s is no longer the file the descriptor had (mount %d, inode %d)", r.path, mnt, ino)
		}
		return nil
	}
	results, lines, _ := c.moveAll(refs, false, check, nil)
	rep.lines = lines
	for _, r := range results {
		if r.moved {
			rep.moved++
		} else {
			rep.left++
		}
	}
	return rep, nil
}

// cwdNotes warns about processes working in a directory under the path: their relative
// paths start from the original directory, under the mount, and are not hit.
func (c *container) cwdNotes(dir string) []string {
	var out []string
	_ = c.th.Do(func() error {
		pids, _ := c.pids()
		buf := make([]byte, unix.PathMax)
		for _, pid := range pids {
			n, err := unix.Readlinkat(c.proc, strconv.Itoa(pid)+"/cwd", buf)
			if err == nil && under(string(buf[:n]), dir) {
				out = append(out, fmt.Sprintf("pid %d works in %s: paths relative to it reach the original directory and are not hit", pid, buf[:n]))
			}
		}
		return nil
	})
	return out
}

// sourceName is the mount's source: it names the experiment, and a nonce makes it ours
// alone.
func sourceName(t fault.Target) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	exp := t.Experiment
	if exp == "" {
		exp = "local"
	}
	return "kubectl-chaos-io-" + exp + "-" + hex.EncodeToString(b[:])
}

// recoverEntry removes a mount (and moves its descriptors back) from a journal entry of
// an agent that is gone: it finds a process of the container again (the journaled one,
// else any in its mount namespace) and enters its mount namespace.
func recoverEntry(ctx context.Context, e journal.Entry) error {
	var d mountData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("io: bad journal data: %w", err)
	}
	pid, ok := findProcess(d)
	if !ok {
		return nil // the container is gone, and its mount namespace with it
	}
	c, err := openContainer(pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer c.close()
	_, err = c.remove(d)
	return err
}

// findProcess returns a live process in the journaled mount namespace.
func findProcess(d mountData) (int, bool) {
	inNS := func(pid int) bool {
		ino, err := inodeOf(filepath.Join(procRoot, strconv.Itoa(pid), "ns", "mnt"))
		return err == nil && ino == d.MntNS
	}
	if s, err := procStart(d.PID); err == nil && s == d.Start && inNS(d.PID) {
		return d.PID, true
	}
	ents, _ := os.ReadDir(procRoot)
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && inNS(pid) {
			return pid, true
		}
	}
	return 0, false
}
