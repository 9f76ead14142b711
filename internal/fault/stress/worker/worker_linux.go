package worker

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The stressor takes over here, before the packages that sort after this one are
// initialized (see the package comment). It never returns.
func init() {
	if len(os.Args) < 2 || os.Args[1] != Arg || os.Getenv(EnvMarker) != "1" {
		return
	}
	os.Exit(run(os.Args[2:]))
}

// Timing of the CPU burn and of the memory hold.
const (
	// burnPeriod is the duty cycle: each worker is busy load% of every period.
	burnPeriod = 100 * time.Millisecond
	// chunk is what a memory worker maps at a time; it reports every step it touched,
	// so a stressor the OOM killer stops has said how much it held.
	chunk = 64 << 20
	step  = 4 << 20
	// retouch is how often held pages are written again, so they stay resident and hot
	// like an application's working set rather than drifting to swap.
	retouch = 10 * time.Second
)

func run(args []string) int {
	// The parent-death signal is kept by the thread that sets it (it is cleared for
	// threads created later); this one runs main until the process exits.
	runtime.LockOSThread()
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); e != 0 {
		status(StatusError, "prctl(PR_SET_PDEATHSIG): "+e.Error())
		return 1
	}
	job, err := Parse(args)
	if err != nil {
		status(StatusError, err.Error())
		return 2
	}
	_ = syscall.SetNonblock(ControlFD, false)
	// Parked: nothing is done until the agent has moved us into the target's cgroups.
	// EOF here means the agent died first (a race the death signal cannot cover).
	var b [1]byte
	if n, _ := syscall.Read(ControlFD, b[:]); n != 1 || b[0] != Release {
		return 0
	}
	switch job.Kind {
	case KindCPU:
		for range job.Workers {
			go burn(int(job.Amount))
		}
	case KindMemory:
		go hold(job.Amount, job.Workers)
	}
	// The agent keeps the pipe open while it lives: EOF is its death.
	for {
		n, err := syscall.Read(ControlFD, b[:])
		if n == 0 && err != syscall.EINTR {
			return 0
		}
	}
}

var statusMu sync.Mutex

func status(kind, text string) {
	statusMu.Lock()
	defer statusMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s %s\n", kind, text)
}

// burn keeps its own thread busy load% of each period, measured in the thread's CPU
// time: what contention on the node takes away in one period is made up (up to one
// period) in the next, so the load matches over seconds even on a busy machine.
func burn(load int) {
	runtime.LockOSThread()
	busy := burnPeriod * time.Duration(load) / 100
	var debt time.Duration
	for {
		start := time.Now()
		want := busy + debt
		c0 := threadCPU()
		for threadCPU()-c0 < want && time.Since(start) < burnPeriod {
			spin()
		}
		debt = min(max(want-(threadCPU()-c0), 0), burnPeriod)
		if rest := burnPeriod - time.Since(start); rest > 0 {
			time.Sleep(rest)
		}
	}
}

var sink atomic.Uint64

// spin does ~20µs of integer work the compiler cannot drop.
func spin() {
	x := sink.Load() | 1
	for range 20000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink.Store(x)
}

// threadCPU is the calling thread's CPU time. A raw system call: it never blocks, and
// through the scheduler's syscall path a slow one (a VM) gets its P handed off, and the
// threads that then spin looking for work cost more CPU than the load asked.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// hold maps total bytes split over workers, writes every page, reports progress, then
// keeps the pages and writes them again every retouch.
func hold(total uint64, workers int) {
	page := uint64(syscall.Getpagesize())
	var held atomic.Uint64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var maps [][]byte
	per := total / uint64(workers)
	for i := range workers {
		size := per
		if i == workers-1 {
			size = total - per*uint64(workers-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left := size; left > 0; {
				n := min(left, chunk)
				m, err := syscall.Mmap(-1, 0, int((n+page-1)/page*page), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
				if err != nil {
					status(StatusError, fmt.Sprintf("mmap of %d bytes after holding %d: %v", n, held.Load(), err))
					return
				}
				mu.Lock()
				maps = append(maps, m)
				mu.Unlock()
				for off := uint64(0); off < n; off += step {
					end := min(off+step, n)
					touch(m[off:end], page, 1)
					status(StatusHeld, fmt.Sprint(held.Add(end-off)))
				}
				left -= n
			}
		}()
	}
	wg.Wait()
	status(StatusDone, fmt.Sprint(held.Load()))
	for pass := byte(2); ; pass++ {
		time.Sleep(retouch)
		mu.Lock()
		for _, m := range maps {
			touch(m, page, pass|1)
		}
		mu.Unlock()
	}
}

// touch writes one non-zero byte per page, so each page is really backed (not the
// shared zero page) and charged.
func touch(m []byte, page uint64, v byte) {
	for i := uint64(0); i < uint64(len(m)); i += page {
		m[i] = v
	}
}
