package timefault

import (
	"bytes"
	"fmt"
	"time"
)

// restored is what restoring one process did.
type restored struct {
	// wrote: bytes were written back; otherwise there was nothing of ours left.
	wrote bool
	// note says why nothing was done, or what was left (a stub a thread still ran in).
	note    string
	stopped time.Duration
}

// patchState is what the process holds now, compared with a record.
type patchState struct {
	entries []wordPatch // still patched: to write back
	foreign []string    // entries holding neither our bytes nor the original
	stub    bool        // the stub is still in the padding
}

func (p patchState) clean() bool { return len(p.entries) == 0 && !p.stub }

// restore gives pid its original vDSO bytes back, if it still holds rec's patch. With
// start != 0 the process must have that start time (a reused PID is left alone);
// forked children that inherited the patch are restored with start 0: the bytes
// identify the patch.
func restore(pid int, start uint64, rec *patchRecord) (restored, error) {
	st, err := statOf(pid)
	if err == errGone || (err == nil && (st.state == 'Z' || st.state == 'X')) {
		return restored{note: "exited"}, nil
	}
	if err != nil {
		return restored{}, err
	}
	if start != 0 && st.start != start {
		return restored{note: fmt.Sprintf("pid %d was reused by another process (%s): left alone", pid, st.comm)}, nil
	}
	if sharesMemory(pid, st.ppid) {
		return restored{note: errShared{st.ppid}.Error() + ": restored with its parent"}, nil
	}
	ps, err := readState(pid, rec)
	if err != nil || ps.clean() {
		return restored{note: stateNote(err, ps)}, ignoreSkip(err)
	}
	return onTracerThread(func() (restored, error) { return restoreStopped(pid, rec) })
}

func stateNote(err error, ps patchState) string {
	switch {
	case err == errGone:
		return "exited"
	case err != nil:
		return err.Error()
	case len(ps.foreign) > 0:
		return "holds neither the patch nor the original bytes at " + fmt.Sprint(ps.foreign) + ": left alone"
	}
	return "nothing of the patch left"
}

// ignoreSkip turns the reasons there is nothing to restore into success.
func ignoreSkip(err error) error {
	switch err.(type) {
	case nil, errSkip:
		return nil
	}
	if err == errGone || err == errNoVDSO {
		return nil
	}
	return err
}

// readState reads which parts of rec's patch pid still holds (without stopping it).
func readState(pid int, rec *patchRecord) (patchState, error) {
	var ps patchState
	maps, err := readMaps(pid)
	if err != nil {
		return ps, err
	}
	vd, err := findVDSO(maps)
	if err != nil {
		return ps, err
	}
	if vd.lo != rec.Base {
		return ps, errSkip("exec'd since (fresh vDSO)")
	}
	f, err := memFile(pid)
	if err != nil {
		return ps, err
	}
	defer f.Close()
	for _, e := range rec.Entries {
		got, err := readN(f, e.Addr, entryLen)
		if err != nil {
			return ps, err
		}
		switch {
		case bytes.Equal(got, e.New):
			ps.entries = append(ps.entries, e)
		case !bytes.Equal(got, e.Orig):
			ps.foreign = append(ps.foreign, e.Symbol)
		}
	}
	got, err := readN(f, rec.Stub.Addr, len(rec.Stub.New))
	if err != nil {
		return ps, err
	}
	ps.stub = bytes.Equal(got, rec.Stub.New)
	return ps, nil
}

// restoreStopped runs on the tracer thread: the entries first (new calls take the
// original code again), then the stub once no thread is inside it.
func restoreStopped(pid int, rec *patchRecord) (restored, error) {
	var res restored
	for attempt := 1; ; attempt++ {
		s, err := stopAll(pid)
		if err != nil {
			return res, ignoreGone(err)
		}
		ps, err := readState(pid, rec)
		if err != nil || ps.clean() {
			res.stopped += s.release()
			if !res.wrote {
				res.note = stateNote(err, ps)
			}
			return res, ignoreSkip(err)
		}
		busy, err := s.restoreStep(rec, &ps, &res)
		res.stopped += s.release()
		if err != nil {
			return res, ignoreGone(err)
		}
		if ps.clean() {
			return res, nil
		}
		if attempt >= busyAttempts {
			if len(ps.entries) == 0 {
				// The clock is real again; the stub is never reached any more.
				res.note = "stub left in the vDSO padding, unreachable: " + errBusy{busy, attempt}.Error()
				return res, nil
			}
			return res, errBusy{busy, attempt}
		}
		time.Sleep(busyPause * time.Duration(min(attempt, 20)))
	}
}

// restoreStep writes back, in one stop, what can be: the entries unless a signal frame
// would return into one, then the stub unless a thread runs (or would return) in it.
// It returns what kept a part from being written.
func (s *stopped) restoreStep(rec *patchRecord, ps *patchState, res *restored) (string, error) {
	if len(ps.entries) > 0 {
		busy, err := s.busy(innerSpans(ps.entries))
		if err != nil || busy != "" {
			return busy, err
		}
		for _, e := range ps.entries {
			if err := s.poke(e.Addr, e.Orig); err != nil {
				return "", err
			}
			res.wrote = true
		}
		ps.entries = nil
	}
	if ps.stub {
		busy, err := s.busy([]span{stubSpan(rec.Stub)})
		if err != nil || busy != "" {
			return busy, err
		}
		if err := s.pokeRegion(rec.Stub.Addr, rec.Stub.Orig); err != nil {
			return "", err
		}
		res.wrote = true
		ps.stub = false
	}
	return "", nil
}

func ignoreGone(err error) error {
	if err == errGone {
		return nil
	}
	return err
}
