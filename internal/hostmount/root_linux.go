package hostmount

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// NodeProcess is the process whose mount namespace and root are the node's, as the
// agent in a helper (hostPID) reaches them: the process that started the agent — the
// runtime's shim (containerd's, CRI-O's conmon), in whose mount namespace runc
// resolved hostPath volumes, so the same paths mean the same files — else the node's
// PID 1. A candidate whose root is the agent's own (a wrapper inside the container) or
// that cannot be reached is skipped: on some machines PID 1 is not readable even by
// root.
func NodeProcess() (int, error) {
	return nodeProcess("/proc", os.Getppid())
}

func nodeProcess(proc string, ppid int) (int, error) {
	var own syscall.Stat_t
	if err := syscall.Stat("/", &own); err != nil {
		return 0, err
	}
	var why []string
	for _, pid := range []int{ppid, 1} {
		if pid <= 0 {
			continue
		}
		root := fmt.Sprintf("%s/%d/root", proc, pid)
		var st syscall.Stat_t
		err := syscall.Stat(root+"/", &st)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: %v", root, err))
		case st.Dev == own.Dev && st.Ino == own.Ino:
			why = append(why, root+": the agent's own root")
		default:
			return pid, nil
		}
	}
	return 0, errors.New("cannot reach the node's root directory (" + strings.Join(why, "; ") + ")")
}
