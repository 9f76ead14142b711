//go:build linux

package nfqdelay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// findNetns returns a path that opens the network namespace with inode ino, or "" when
// no process, bind mount or open descriptor keeps it alive any more.
func findNetns(ino uint64) (string, error) {
	match := func(p string) bool {
		st, err := os.Stat(p)
		if err != nil {
			return false
		}
		s, ok := st.Sys().(*syscall.Stat_t)
		return ok && s.Ino == ino
	}
	procs, err := filepath.Glob("/proc/[0-9]*/ns/net")
	if err != nil {
		return "", err
	}
	for _, p := range procs {
		if match(p) {
			return p, nil
		}
	}
	mounts, _ := filepath.Glob("/run/netns/*")
	for _, p := range mounts {
		if match(p) {
			return p, nil
		}
	}
	// Namespaces held only by an open descriptor (no process inside).
	want := fmt.Sprintf("net:[%d]", ino)
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, p := range fds {
		if l, err := os.Readlink(p); err == nil && strings.HasPrefix(l, "net:[") && l == want {
			return p, nil
		}
	}
	return "", nil
}
