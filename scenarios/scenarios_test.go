// Package scenarios holds example game-day scripts. This test runs every
// `kubectl chaos …` line in them through the real command tree — fault commands as a
// --dry-run against a fake cluster, the others through flag and argument parsing — so a
// renamed flag or a tightened validation breaks the build, not the game day.
package scenarios

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// vars are the sample values of the shell variables the scripts use.
var vars = map[string]string{"NS": "shop", "ID": "chaos-abcdefgh", "p": "10"}

func TestScenarios(t *testing.T) {
	t.Setenv("KUBECTL_CHAOS_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	scripts, err := filepath.Glob("*.sh")
	if err != nil || len(scripts) < 3 {
		t.Fatalf("want at least 3 scenario scripts, found %v (%v)", scripts, err)
	}
	total := 0
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			if bash, err := exec.LookPath("bash"); err == nil {
				if out, err := exec.Command(bash, "-n", s).CombinedOutput(); err != nil {
					t.Errorf("bash -n %s: %v\n%s", s, err, out)
				}
			}
			if st, err := os.Stat(s); err != nil || st.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable", s)
			}
			cmds, err := extract(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(cmds) == 0 {
				t.Fatalf("no kubectl chaos command in %s", s)
			}
			for _, args := range cmds {
				total++
				if err := check(args); err != nil {
					t.Errorf("kubectl chaos %s: %v", strings.Join(args, " "), err)
				}
			}
		})
	}
	t.Logf("checked %d commands in %d scripts", total, len(scripts))
}

// check runs fault commands as a dry run against the fake cluster and parses the others.
func check(args []string) error {
	io, _, _, errOut := ui.Test()
	f := factory.NewFake(io, cluster(), time.Now(), nil)
	root := app.NewRootCmd(f)
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root || !cmd.Runnable() {
		return fmt.Errorf("%q is not a command", strings.Join(args, " "))
	}
	if cmd.Parent() != nil && cmd.Parent().Name() == "network" {
		var dry []string
		for _, a := range args {
			if a != "--detach" {
				dry = append(dry, a)
			}
		}
		root.SetArgs(append(dry, "--dry-run"))
		if err := root.ExecuteContext(context.Background()); err != nil {
			return fmt.Errorf("%v (%s)", err, errOut.String())
		}
		return nil
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	return cmd.ValidateRequiredFlags()
}

// extract returns the arguments after "kubectl chaos" of every command in a script.
func extract(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var out [][]string
	for n, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		_, rest, ok := strings.Cut(line, "kubectl chaos ")
		if !ok {
			continue
		}
		args, err := words(rest)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
		}
		out = append(out, args)
	}
	return out, nil
}

// words splits a shell command line into words, expanding $VAR and ${VAR} from vars,
// and stops at the first unquoted |, ), ;, >, & or #.
func words(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	quote := byte(0)
	expand := func(i int) (int, error) {
		j := i + 1
		var name string
		if j < len(s) && s[j] == '{' {
			k := strings.IndexByte(s[j:], '}')
			if k < 0 {
				return 0, fmt.Errorf("unclosed ${")
			}
			name, j = s[j+1:j+k], j+k+1
		} else {
			k := j
			for k < len(s) && (s[k] == '_' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
				k++
			}
			name, j = s[j:k], k
		}
		v, ok := vars[name]
		if !ok {
			return 0, fmt.Errorf("unknown variable $%s: add a sample value to vars", name)
		}
		cur.WriteString(v)
		inWord = true
		return j, nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
			i++
		case quote == '"':
			switch c {
			case '"':
				quote = 0
				i++
			case '$':
				j, err := expand(i)
				if err != nil {
					return nil, err
				}
				i = j
			default:
				cur.WriteByte(c)
				i++
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
			i++
		case c == '$':
			j, err := expand(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == ' ' || c == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case strings.IndexByte("|);>&#", c) >= 0:
			i = len(s)
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// cluster is namespace shop: deployments web (4 pods on 2 nodes), api (2) and db (1),
// and service db.
func cluster() *fake.Clientset {
	var objs []runtime.Object
	ip := 10
	controller := true
	for _, d := range []struct {
		name string
		n    int
	}{{"web", 4}, {"api", 2}, {"db", 1}} {
		labels := map[string]string{"app": d.name}
		objs = append(objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: "shop"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}},
		})
		for i := 0; i < d.n; i++ {
			ip++
			addr := fmt.Sprintf("10.244.0.%d", ip)
			objs = append(objs, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", d.name, i), Namespace: "shop", Labels: labels,
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.name + "-rs", Controller: &controller}}},
				Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%2), Containers: []corev1.Container{{Name: d.name}}},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: addr, PodIPs: []corev1.PodIP{{IP: addr}},
					ContainerStatuses: []corev1.ContainerStatus{{
						Name: d.name, Ready: true, ContainerID: fmt.Sprintf("containerd://%064d", ip),
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
					}},
				},
			})
		}
	}
	objs = append(objs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}},
	})
	return fake.NewClientset(objs...)
}
