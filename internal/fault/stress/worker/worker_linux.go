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
	// burnPeriod is the duty cycle: the workers are busy load% of every period.
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
		burn(job.Workers, int(job.Amount))
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

// meter shares one CPU budget per period between the workers: the process (all its
// threads, the Go runtime's included) may use workers × load% of each period, measured
// in its own CPU time, and what one period used beyond or below its budget is taken
// from or given to the next (a shortfall at most one period's worth). What the cgroup
// accounts is then what was asked, even where the runtime's own work is costly (a VM
// under emulation: preemption signals, thread hand-offs, 5-15 % of a CPU while the
// workers sleep), and what contention on the node took is made up.
type meter struct {
	mu       sync.Mutex
	start    time.Time
	base     time.Duration // workers × load% of a period
	k        int64         // current period
	cpuStart time.Duration // process CPU time at its start
	budget   time.Duration
}

// period returns the end of the period containing now, the process CPU time at its
// start and its budget, rolling the meter over to it.
func (m *meter) period(now time.Time) (end time.Time, cpuStart, budget time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := int64(now.Sub(m.start) / burnPeriod); k != m.k {
		// What the last period used beyond its budget (the runtime's work while the
		// workers slept, the last spin) comes off this one; what it fell short is added,
		// at most one period's worth.
		cpu := processCPU()
		m.budget = min(max(m.base+m.budget-(cpu-m.cpuStart), 0), 2*m.base)
		m.k, m.cpuStart = k, cpu
	}
	return m.start.Add(time.Duration(m.k+1) * burnPeriod), m.cpuStart, m.budget
}

// burn runs workers goroutines that together keep the process busy workers × load% of
// one CPU. Each spins in chunks that grow with the number of workers, so the clock is
// read about as often whatever their number.
func burn(workers, load int) {
	m := &meter{start: time.Now(), base: burnPeriod * time.Duration(workers*load) / 100}
	m.budget = m.base
	m.cpuStart = processCPU()
	for range workers {
		go func() {
			for {
				end, c0, budget := m.period(time.Now())
				for processCPU()-c0 < budget && time.Now().Before(end) {
					for range workers {
						spin()
					}
				}
				time.Sleep(time.Until(end))
			}
		}()
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

// processCPU is the CPU time of the whole process, read with a raw system call (it never
// blocks; the scheduler's syscall path would hand off the P of a slow one).
func processCPU() time.Duration {
	var ts syscall.Timespec
	const clockProcessCPUTime = 2 // CLOCK_PROCESS_CPUTIME_ID
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
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
