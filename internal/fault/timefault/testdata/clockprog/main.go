// Command clockprog is the Go target of the time fault tests: it prints, every 50 ms,
// the line the C clockprog prints, reading the wall clock through time.Now() (the
// vDSO), the boot clock and the raw wall clock with the syscall (never shifted), while
// goroutines call time.Now() in a loop on several threads.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

func rawClock(id int) syscall.Timespec {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	return ts
}

func main() {
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2))
	for range 2 {
		go func() {
			for {
				for range 2000 {
					_ = time.Now()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	var tv syscall.Timeval
	for {
		now := time.Now()
		boot := rawClock(7) // CLOCK_BOOTTIME
		raw := rawClock(0)
		_ = syscall.Gettimeofday(&tv)
		fmt.Fprintf(os.Stdout, "pid=%d real=%d.%09d mono=0.0 boot=%d.%09d gtod=%d.%06d time=%d raw=%d.%09d\n",
			os.Getpid(), now.Unix(), now.Nanosecond(), boot.Sec, boot.Nsec, tv.Sec, tv.Usec, now.Unix(), raw.Sec, raw.Nsec)
		time.Sleep(50 * time.Millisecond)
	}
}
