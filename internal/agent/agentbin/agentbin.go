// Package agentbin builds the kubectl-chaos binary once per test process, for the
// tests that run the real agent (kill -9 mid-fault, then a restarted agent or a sweep).
package agentbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Tags are the build tags of `make build` (the Makefile's TAGS): grpcnotrace keeps gRPC's
// golang.org/x/net/trace, and with it the linker's loss of dead-method removal, out.
const Tags = "grpcnotrace"

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Path builds ./cmd/kubectl-chaos of this module the first time (CGO_ENABLED=0, as the
// image has it; checked with `agent --help`) and returns the binary. A build can take
// minutes on a loaded machine: call it before starting a clock that matters.
func Path(t testing.TB) string {
	t.Helper()
	once.Do(build)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Dir is the directory of the build ("" before Path): residue checks leave it out.
func Dir() string { return dir }

// Remove deletes the build; TestMain calls it after m.Run.
func Remove() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

func build() {
	gomod, gerr := exec.Command("go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if gerr != nil || root == "." || root == "" {
		err = fmt.Errorf("go env GOMOD: %v (%q): not inside the module", gerr, gomod)
		return
	}
	if dir, err = os.MkdirTemp("", "kc-agent-bin-"); err != nil {
		return
	}
	path = filepath.Join(dir, "kubectl-chaos")
	cmd := exec.Command("go", "build", "-tags", Tags, "-o", path, "./cmd/kubectl-chaos")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, berr := cmd.CombinedOutput(); berr != nil {
		err = fmt.Errorf("go build ./cmd/kubectl-chaos: %v\n%s", berr, out)
		return
	}
	if out, herr := exec.Command(path, "agent", "--help").CombinedOutput(); herr != nil {
		err = fmt.Errorf("%s agent --help: %v\n%s", path, herr, out)
	}
}
