package agent

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropExecPages unmaps, from this process only, the pages of its own executable that
// are mapped read-only (text and read-only data): package inits of the whole CLI and the
// kernel's fault-around touch about 20 MiB of them, of which the agent's steady state
// (heartbeats, timers, the deadline) needs a small part. MADV_DONTNEED on a private
// mapping that was never written only drops page-table entries: the pages stay in the
// page cache and the ones still needed come back on the next touch (a minor fault).
// Writable mappings (.data, .bss, the heap) are left alone. It returns how many bytes
// of mappings it advised.
func dropExecPages() int {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) < 6 || !strings.HasSuffix(line, " "+exe) || strings.Contains(fields[1], "w") || !strings.HasSuffix(fields[1], "p") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); e == 0 {
			n += int(end - start)
		}
	}
	return n
}
