package rtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// ChildTarget is the target of a test's agent child (ChildApply).
var ChildTarget = plan.Target{Namespace: "default", Pod: "crash", Container: "app"}

// ChildApply plays the agent in a child process of a test binary: it applies f, as
// experiment exp, to the namespace (KC_NETNS, KC_INODE) with its journal under KC_DIR,
// says "ready" on stdout and waits to be killed. It returns an exit code on error.
func ChildApply(f plan.Fault, exp string) int {
	ino, _ := strconv.ParseUint(os.Getenv("KC_INODE"), 10, 64)
	ft := fault.Target{Target: ChildTarget, NetnsPath: os.Getenv("KC_NETNS"), NetnsInode: ino, Experiment: exp}
	j, err := journal.Create(os.Getenv("KC_DIR"), journal.Meta{Experiment: ft.Experiment, Deadline: time.Now().Add(time.Hour)}, ft.Target)
	var inj fault.Injector
	if err == nil {
		inj, err = fault.New(f)
	}
	if err == nil {
		_, err = inj.Apply(context.Background(), ft, j)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// Residue is what the residue tool reports about a test's own objects (lines naming one
// of mine: its namespaces, tables, journal and agent child): other work on this shared
// machine comes and goes meanwhile.
func Residue(t testing.TB, mine ...string) string {
	out, err := exec.Command("/work/shared/tools/residue").Output()
	if err != nil {
		t.Skipf("residue tool: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, m := range mine {
			if strings.Contains(l, m) {
				keep = append(keep, l)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}
