package stress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
)

// EntryProcess is the journal entry type of a stressor process.
const EntryProcess = "stress-process"

// procData is the journal record of a stressor: a PID alone could be reused by then,
// the PID with its start time (and the boot) names one process.
type procData struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // /proc/<pid>/stat field 22, clock ticks after boot
	BootID    string `json:"bootID,omitempty"`
}

// clkTck is USER_HZ, the unit of the times in /proc/<pid>/stat (100 on Linux ABIs).
const clkTck = 100

// procStat reads the fields of /proc/<pid>/stat after the command name: state is
// field 3, utime/stime 14/15, starttime 22 (1-based, as in proc(5)).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f, nil // f[0] is field 3
}

// procStart returns pid's start time and state letter.
func procStart(pid int) (uint64, byte, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, f[0][0], err
}

// cpuTime is the CPU time pid has used (user + system).
func cpuTime(pid int) (time.Duration, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * time.Second / clkTck, nil
}

// alive reports whether the process pid with that start time still runs (a zombie
// has stopped running: it only waits to be reaped).
func alive(pid int, start uint64) bool {
	st, state, err := procStart(pid)
	return err == nil && st == start && state != 'Z' && state != 'X'
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// killVerify kills the process pid if it is still the one that started at start, and
// waits until it is gone.
func killVerify(ctx context.Context, pid int, start uint64) error {
	if !alive(pid, start) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing stressor pid %d: %w", pid, err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for alive(pid, start) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stressor pid %d still running after SIGKILL: %w", pid, ctx.Err())
		case <-deadline:
			return fmt.Errorf("stressor pid %d still running 10s after SIGKILL", pid)
		case <-tick.C:
		}
	}
	return nil
}

// recoverProcess kills a journaled stressor from the record alone.
func recoverProcess(ctx context.Context, e journal.Entry) error {
	var d procData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("stress journal entry: %w", err)
	}
	if d.PID <= 0 {
		return fmt.Errorf("stress journal entry: pid %d", d.PID)
	}
	if d.BootID != "" && d.BootID != bootID() {
		return nil // recorded in an earlier boot: that process is long gone
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(d.PID)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return killVerify(ctx, d.PID, d.StartTime)
}
