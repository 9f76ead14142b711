package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubectlPlugin installs the built binary and the completion shim in a temporary
// PATH directory and runs them through kubectl's plugin discovery.
func TestKubectlPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH: cannot test plugin discovery")
	}
	root := moduleRoot(t)
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-chaos"), "./cmd/kubectl-chaos")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	shim, err := os.ReadFile(filepath.Join(root, "completions", "kubectl_complete-chaos"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl_complete-chaos"), shim, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + dir + string(os.PathListSeparator) + filepath.Dir(kubectl) + string(os.PathListSeparator) + "/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"KUBECONFIG=" + filepath.Join(dir, "no-kubeconfig"),
		"KUBECTL_CHAOS_CONFIG=" + filepath.Join(dir, "no-config.yaml"),
	}
	runKubectl := func(args ...string) (string, int) {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		return string(out), code
	}

	out, code := runKubectl("plugin", "list")
	if code != 0 || !strings.Contains(out, filepath.Join(dir, "kubectl-chaos")) {
		t.Errorf("kubectl plugin list (exit %d) does not find kubectl-chaos:\n%s", code, out)
	}
	out, code = runKubectl("chaos", "version")
	if code != 0 || !strings.Contains(out, "kubectl-chaos dev") || !strings.Contains(out, "agent image:  ghcr.io/kubectl-chaos/kubectl-chaos:dev") {
		t.Errorf("kubectl chaos version (exit %d):\n%s", code, out)
	}
	out, code = runKubectl("chaos", "--help")
	if code != 0 || !strings.Contains(out, "kubectl chaos [command]") || !strings.Contains(out, "Fault commands:") {
		t.Errorf("kubectl chaos --help (exit %d):\n%s", code, out)
	}
	out, code = runKubectl("chaos", "network", "loss", "pod/x", "--percent", "101")
	if code != 1 || !strings.Contains(out, "error: --percent must be in (0, 100], got 101") || strings.Count(out, "--percent must") != 1 {
		t.Errorf("bad input through kubectl: exit %d, want 1 with one error line:\n%s", code, out)
	}
	out, code = runKubectl("__complete", "chaos", "network", "")
	if code != 0 || !strings.Contains(out, "delay") || !strings.Contains(out, "partition") {
		t.Errorf("kubectl __complete chaos network (exit %d) does not offer the verbs via kubectl_complete-chaos:\n%s", code, out)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
