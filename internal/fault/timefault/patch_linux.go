package timefault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// shift is a validated spec as the patcher uses it.
type shift struct {
	syms []string
	off  offset
	mask uint32
}

// patchRecord is the journal record of one patched process: enough to restore it from
// the file alone, and to know it is still the same process (PID and start time).
type patchRecord struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"startTime"` // clock ticks after boot (/proc/PID/stat field 22)
	Comm  string `json:"comm"`
	// Base is where the [vdso] mapping starts: a process that exec'd since has another.
	Base    uint64      `json:"vdsoBase"`
	Entries []wordPatch `json:"entries"`
	Stub    region      `json:"stub"`
	// ContainerID finds forked children that kept the patch (same cgroup).
	ContainerID string `json:"containerID,omitempty"`
	// From is the PID whose patch this process inherited by fork (0: patched itself).
	From int `json:"from,omitempty"`
}

func (r *patchRecord) symbols() string {
	var s []string
	for _, e := range r.Entries {
		s = append(s, e.Symbol)
	}
	return strings.Join(s, ", ")
}

// Attempts to find a moment when no thread is inside the range being rewritten: each
// failed attempt lets the process run again for a little while.
const (
	busyAttempts = 100
	busyPause    = time.Millisecond
	// stackScan is how far above a thread's stack pointer the agent looks for the
	// saved context of a signal handler that is still running.
	stackScan = 16 << 10
)

// prepare reads what the patch of pid will be, without stopping it. Its error says
// why the process is skipped.
func prepare(pid int, sh shift) (*patchRecord, error) {
	st, err := statOf(pid)
	if err != nil {
		return nil, err
	}
	if st.state == 'Z' || st.state == 'X' {
		return nil, errGone
	}
	if tr := tracerOf(pid); tr != 0 {
		return nil, errTraced{tr}
	}
	if sharesMemory(pid, st.ppid) {
		return nil, errShared{st.ppid}
	}
	maps, err := readMaps(pid)
	if err != nil {
		return nil, err
	}
	vd, err := findVDSO(maps)
	if err != nil {
		return nil, err
	}
	img, err := readImage(pid, vd)
	if err != nil {
		return nil, err
	}
	v, err := parseVDSO(img)
	if err != nil {
		return nil, err
	}
	ref, err := ownVDSO()
	if err != nil {
		return nil, err
	}
	l, err := v.plan(img, ref, vd.lo, sh.syms, sh.off, sh.mask)
	if err != nil {
		return nil, err
	}
	return &patchRecord{PID: pid, Start: st.start, Comm: st.comm, Base: vd.lo, Entries: l.entries, Stub: l.stub}, nil
}

// errShared: a vfork child shares its parent's memory until it execs.
type errShared struct{ ppid int }

func (e errShared) Error() string {
	return fmt.Sprintf("shares its memory with its parent pid %d (a vfork child about to exec, which gets a fresh vDSO)", e.ppid)
}

var (
	ownOnce sync.Once
	ownImg  []byte
	ownErr  error
)

// ownVDSO is this process's vDSO: the kernel's, untouched.
func ownVDSO() ([]byte, error) {
	ownOnce.Do(func() {
		pid := os.Getpid()
		maps, err := readMaps(pid)
		if err != nil {
			ownErr = err
			return
		}
		vd, err := findVDSO(maps)
		if err != nil {
			ownErr = fmt.Errorf("the agent itself has no vDSO mapped: %w", err)
			return
		}
		ownImg, ownErr = readImage(pid, vd)
	})
	return ownImg, ownErr
}

func readImage(pid int, vd mapping) ([]byte, error) {
	f, err := memFile(pid)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img := make([]byte, vd.hi-vd.lo)
	n, err := readMem(f, vd.lo, img)
	if err != nil {
		return nil, fmt.Errorf("reading the vDSO of pid %d: %w", pid, err)
	}
	return img[:n], nil
}

// apply writes rec's patch into the process: every thread stopped, the stub first
// (where nothing executes), then each entry in one 8-byte write. It returns how long
// the process was stopped in the attempt that wrote.
func apply(rec *patchRecord, calls []sysCall) (time.Duration, error) {
	return onTracerThread(func() (time.Duration, error) {
		entryIn := innerSpans(rec.Entries)
		for attempt := 1; ; attempt++ {
			s, err := stopAll(rec.PID)
			if err != nil {
				return 0, err
			}
			if err := s.expect(rec, false); err != nil {
				s.release()
				return 0, err
			}
			if why, err := s.checkSeccomp(calls, rec.Stub.Addr); err != nil || why != "" {
				s.release()
				return 0, errors.Join(err, errSkip(why))
			}
			busy, err := s.busy(append(entryIn, stubSpan(rec.Stub)))
			if err != nil {
				s.release()
				return 0, err
			}
			if busy != "" {
				s.release()
				if attempt >= busyAttempts {
					return 0, errBusy{busy, attempt}
				}
				time.Sleep(busyPause * time.Duration(min(attempt, 20)))
				continue
			}
			if err := s.pokeRegion(rec.Stub.Addr, rec.Stub.New); err != nil {
				s.release()
				return 0, err
			}
			for _, e := range rec.Entries {
				if err := s.poke(e.Addr, e.New); err != nil {
					// The entries written so far jump to a complete stub: consistent.
					s.release()
					return 0, err
				}
			}
			err = s.expect(rec, true)
			return s.release(), err
		}
	})
}

// errSkip is a reason to leave a process alone, as found under stop.
type errSkip string

func (e errSkip) Error() string { return string(e) }

// errBusy: a thread kept running inside the range to rewrite.
type errBusy struct {
	where    string
	attempts int
}

func (e errBusy) Error() string {
	return fmt.Sprintf("%s at each of %d attempts", e.where, e.attempts)
}

// expect checks, under stop, that the process still has rec's vDSO and that each entry
// and the stub hold the original bytes (patched=false) or rec's (patched=true).
func (s *stopped) expect(rec *patchRecord, patched bool) error {
	f, err := memFile(s.pid)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.sameVDSO(rec); err != nil {
		return err
	}
	for _, e := range rec.Entries {
		want := pick(patched, e.New, e.Orig)
		if got, err := readN(f, e.Addr, len(want)); err != nil || !bytes.Equal(got, want) {
			return errors.Join(err, fmt.Errorf("%s at %#x holds % x, want % x", e.Symbol, e.Addr, got, want))
		}
	}
	want := pick(patched, rec.Stub.New, rec.Stub.Orig)
	if got, err := readN(f, rec.Stub.Addr, len(want)); err != nil || !bytes.Equal(got, want) {
		return errors.Join(err, errSkip(fmt.Sprintf("the vDSO padding at %#x changed", rec.Stub.Addr)))
	}
	return nil
}

func (s *stopped) sameVDSO(rec *patchRecord) error {
	maps, err := readMaps(s.pid)
	if err != nil {
		return err
	}
	vd, err := findVDSO(maps)
	if err != nil {
		return err
	}
	if vd.lo != rec.Base {
		return errSkip(fmt.Sprintf("its vDSO moved from %#x to %#x (it exec'd)", rec.Base, vd.lo))
	}
	return nil
}

func pick(b bool, x, y []byte) []byte {
	if b {
		return x
	}
	return y
}

func readN(f *os.File, addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	k, err := readMem(f, addr, b)
	if err == nil && k != n {
		err = fmt.Errorf("short read at %#x: %d of %d bytes", addr, k, n)
	}
	return b[:k], err
}

// span is an address range [lo, hi).
type span struct{ lo, hi uint64 }

func (sp span) has(a uint64) bool { return a >= sp.lo && a < sp.hi }

// innerSpans are the bytes 1..7 of each entry word: a thread there would resume in the
// middle of the new (or old) instruction. A thread exactly at the entry is safe.
func innerSpans(es []wordPatch) []span {
	out := make([]span, len(es))
	for i, e := range es {
		out[i] = span{e.Addr + 1, e.Addr + entryLen}
	}
	return out
}

func stubSpan(r region) span { return span{r.Addr, r.Addr + uint64(len(r.New))} }

// busy says which thread runs inside spans, or would return there from a signal
// handler that is still running, "" if none.
//
// A handler's frame holds the interrupted context (struct sigcontext: ... rsp, rip,
// eflags, cs ...) above the handler's stack pointer; the handled signal is blocked
// while it runs (unless SA_NODEFER). So the stack of a thread with blocked signals is
// searched for a saved rip in spans followed by a plausible eflags and the 64-bit user
// code segment. Threads blocking nothing are not searched: stale frames of handlers
// that returned long ago would only make the agent wait for nothing.
func (s *stopped) busy(spans []span) (string, error) {
	maps, err := readMaps(s.pid)
	if err != nil {
		return "", err
	}
	f, err := memFile(s.pid)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, stackScan)
	for tid := range s.threads {
		pc, sp, err := threadRegs(tid)
		if err != nil {
			return "", err
		}
		if inAny(spans, pc) {
			return fmt.Sprintf("thread %d runs at %#x", tid, pc), nil
		}
		if !blocksSignals(s.pid, tid) {
			continue
		}
		m, ok := containing(maps, sp)
		if !ok {
			continue
		}
		start := (sp + 7) &^ 7
		k, _ := readMem(f, start, buf[:min(uint64(stackScan), m.hi-start)])
		if v, ok := savedContextIn(buf[:k], spans); ok {
			return fmt.Sprintf("thread %d runs a signal handler that returns to %#x", tid, v), nil
		}
	}
	return "", nil
}

// savedContextIn finds, in stack memory, a sigcontext whose rip is in spans.
func savedContextIn(b []byte, spans []span) (uint64, bool) {
	const userCS = 0x33
	for i := 0; i+24 <= len(b); i += 8 {
		rip := binary.LittleEndian.Uint64(b[i:])
		if !inAny(spans, rip) {
			continue
		}
		eflags := binary.LittleEndian.Uint64(b[i+8:])
		cs := binary.LittleEndian.Uint16(b[i+16:])
		if eflags&2 != 0 && eflags < 1<<22 && cs == userCS {
			return rip, true
		}
	}
	return 0, false
}

// blocksSignals reports whether a thread blocks any signal (as it does while it runs a
// handler).
func blocksSignals(pid, tid int) bool {
	v, err := statusField(procPath(pid, "task", strconv.Itoa(tid), "status"), "SigBlk")
	if err != nil {
		return true
	}
	n, err := strconv.ParseUint(v, 16, 64)
	return err != nil || n != 0
}

func inAny(spans []span, a uint64) bool {
	for _, sp := range spans {
		if sp.has(a) {
			return true
		}
	}
	return false
}
