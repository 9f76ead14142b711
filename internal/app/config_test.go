package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
)

// TestConfigPrecedence: flags > KUBECTL_CHAOS_* env > config file > defaults.
func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		env       map[string]string
		flags     []string
		duration  time.Duration
		namespace string
		image     string
	}{
		{name: "defaults", duration: 5 * time.Minute, namespace: "kubectl-chaos", image: "ghcr.io/kubectl-chaos/kubectl-chaos:dev"},
		{name: "file", file: "duration: 7m\nhelper-namespace: chaos-file\nimage: reg.local/agent:1\n",
			duration: 7 * time.Minute, namespace: "chaos-file", image: "reg.local/agent:1"},
		{name: "env over file", file: "duration: 7m\nhelper-namespace: chaos-file\n",
			env:      map[string]string{"KUBECTL_CHAOS_DURATION": "10m", "KUBECTL_CHAOS_IMAGE": "reg.env/agent:2"},
			duration: 10 * time.Minute, namespace: "chaos-file", image: "reg.env/agent:2"},
		{name: "flags over env and file", file: "duration: 7m\nhelper-namespace: chaos-file\n",
			env:      map[string]string{"KUBECTL_CHAOS_DURATION": "10m", "KUBECTL_CHAOS_HELPER_NAMESPACE": "chaos-env"},
			flags:    []string{"--duration", "3m", "--helper-namespace", "chaos-flag"},
			duration: 3 * time.Minute, namespace: "chaos-flag", image: "ghcr.io/kubectl-chaos/kubectl-chaos:dev"},
		{name: "max-duration from file lets a long duration through", file: "max-duration: 3h\n",
			flags: []string{"--duration", "2h"}, duration: 2 * time.Hour, namespace: "kubectl-chaos", image: "ghcr.io/kubectl-chaos/kubectl-chaos:dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			if tt.file != "" {
				p := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(p, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv(ConfigEnv, p)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runKeepEnv(t, webCluster(), append([]string{"noop", "deploy/web", "--dry-run", "-o", "json"}, tt.flags...)...)
			if r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.errOut)
			}
			var d experiment.DryRun
			if err := json.Unmarshal([]byte(r.out), &d); err != nil {
				t.Fatal(err)
			}
			if d.Duration.D() != tt.duration || d.HelperNamespace != tt.namespace || d.Helpers[0].Pod.Spec.Containers[0].Image != tt.image {
				t.Errorf("duration %s namespace %s image %s; want %s %s %s", d.Duration.D(), d.HelperNamespace,
					d.Helpers[0].Pod.Spec.Containers[0].Image, tt.duration, tt.namespace, tt.image)
			}
		})
	}
}

func TestConfigErrorsNameTheSource(t *testing.T) {
	isolate(t)
	t.Setenv("KUBECTL_CHAOS_DURATION", "soon")
	r := runKeepEnv(t, webCluster(), "noop", "deploy/web", "--dry-run")
	if exit.Code(r.err) != exit.Usage || !strings.Contains(r.err.Error(), "KUBECTL_CHAOS_DURATION") {
		t.Errorf("bad env value: %v, want a usage error naming KUBECTL_CHAOS_DURATION", r.err)
	}

	isolate(t)
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("duration: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ConfigEnv, p)
	r = runKeepEnv(t, webCluster(), "noop", "deploy/web", "--dry-run")
	if exit.Code(r.err) != exit.Usage || !strings.Contains(r.err.Error(), p) {
		t.Errorf("malformed file: %v, want a usage error naming %s", r.err, p)
	}
	if r := runKeepEnv(t, nil, "completion", "bash"); r.err != nil {
		t.Errorf("completion with a malformed config file: %v", r.err)
	}
	// Commands without those flags are unaffected by a bad value for them.
	isolate(t)
	t.Setenv("KUBECTL_CHAOS_DURATION", "soon")
	if r := runKeepEnv(t, nil, "version"); r.err != nil {
		t.Errorf("version with a bad KUBECTL_CHAOS_DURATION: %v", r.err)
	}
}
