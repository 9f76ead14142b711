package timefault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
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
	// saved context of an interrupted signal handler.
	stackScan = 32 << 10
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
	l, err := v.plan(img, vd.lo, sh.syms, sh.off, sh.mask)
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
		return errors.Join(err, errPaddingInUse)
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
// handler (the saved context on its stack), "" if none.
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
		m, ok := containing(maps, sp)
		if !ok {
			continue
		}
		start := (sp + 7) &^ 7
		n := min(uint64(stackScan), m.hi-start)
		k, _ := readMem(f, start, buf[:n])
		for i := 0; i+8 <= k; i += 8 {
			if v := binary.LittleEndian.Uint64(buf[i:]); inAny(spans, v) {
				return fmt.Sprintf("thread %d has a signal frame that returns to %#x", tid, v), nil
			}
		}
	}
	return "", nil
}

func inAny(spans []span, a uint64) bool {
	for _, sp := range spans {
		if sp.has(a) {
			return true
		}
	}
	return false
}
