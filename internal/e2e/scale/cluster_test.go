package scale

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The benchmark cluster: etcd and kube-apiserver (the e2e cluster's binaries, built
// once into ~/.cache/kubectl-chaos/cluster) on free loopback ports in a temporary
// directory, no kubelet, no containerd, no scheduler, no controller manager: its nodes
// are kwok's. Nothing here collides with the e2e cluster (other ports, other paths)
// or outlives the benchmark.
const (
	envK8sBin = "SCALE_K8S_BIN" // directory with etcd and kube-apiserver
	envKwok   = "SCALE_KWOK"    // the kwok binary (make kwok: _out/tools/kwok)
	token     = "scale-bench-token"
	// kwokNodeAnnotation marks the nodes kwok manages.
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
)

type cluster struct {
	dir        string
	kubeconfig string
	cfg        *rest.Config
	cs         kubernetes.Interface // the benchmark's own client (not counted)
}

// k8sBin finds the directory holding etcd and kube-apiserver.
func k8sBin() string {
	if d := os.Getenv(envK8sBin); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	dirs, _ := filepath.Glob(filepath.Join(home, ".cache/kubectl-chaos/cluster/k8s-*"))
	for _, d := range dirs {
		if isFile(filepath.Join(d, "etcd")) && isFile(filepath.Join(d, "kube-apiserver")) {
			return d
		}
	}
	return ""
}

func kwokBin() string {
	if p := os.Getenv(envKwok); p != "" {
		return p
	}
	p, _ := filepath.Abs("../../../_out/tools/kwok-v0.7.0")
	return p
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// startCluster brings up etcd, kube-apiserver and kwok, or skips the benchmark when
// their binaries are missing (make bench-scale builds them).
func startCluster(tb testing.TB) *cluster {
	tb.Helper()
	bin, kwok := k8sBin(), kwokBin()
	if bin == "" || !isFile(kwok) {
		tb.Skipf("needs etcd and kube-apiserver (make cluster-build, or %s=DIR) and kwok (make kwok, or %s=FILE); have %q and %q",
			envK8sBin, envKwok, bin, kwok)
	}
	c := &cluster{dir: tb.TempDir()}
	ports := freePorts(tb, 3)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	start(tb, c.dir, "etcd", filepath.Join(bin, "etcd"), "--name", "scale", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-cluster", "scale=http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--log-level", "warn", "--unsafe-no-fsync", "--quota-backend-bytes", "1073741824")
	waitFor(tb, "etcd", 30*time.Second, func() error {
		resp, err := http.Get(etcdURL + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})

	writeFile(tb, filepath.Join(c.dir, "tokens.csv"), token+",scale-admin,1,system:masters\n")
	writeSAKey(tb, filepath.Join(c.dir, "sa.key"))
	api := "127.0.0.1:" + strconv.Itoa(ports[2])
	start(tb, c.dir, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]), "--cert-dir", filepath.Join(c.dir, "certs"),
		"--token-auth-file", filepath.Join(c.dir, "tokens.csv"), "--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(c.dir, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(c.dir, "sa.key"),
		"--service-cluster-ip-range", "10.250.0.0/24", "--allow-privileged=true",
		// No controller manager makes the "default" service accounts: helpers mount none.
		"--disable-admission-plugins", "ServiceAccount",
		"--enable-priority-and-fairness=false", "--profiling=false", "--endpoint-reconciler-type", "none")
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	writeFile(tb, c.kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: scale
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
users:
- name: scale-admin
  user: {token: %s}
contexts:
- name: scale
  context: {cluster: scale, user: scale-admin}
current-context: scale
`, api, token))
	c.cfg = &rest.Config{Host: "https://" + api, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: -1}
	cs, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c.cs = cs
	waitFor(tb, "kube-apiserver /readyz", 90*time.Second, func() error {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		return err
	})
	writeFile(tb, filepath.Join(c.dir, "kwok.yaml"), kwokStages)
	start(tb, c.dir, "kwok", kwok, "--kubeconfig", c.kubeconfig, "--config", filepath.Join(c.dir, "kwok.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", kwokNodeAnnotation+"=fake",
		"--cidr", "10.251.0.0/16", "--node-ip", "10.252.0.1", "--server-address", "")
	return c
}

// kwokStages: kwok's default fast pod stages, but a Running container also gets a
// container ID (the CLI only targets containers that have one, as a kubelet's do).
const kwokStages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.podIP', operator: DoesNotExist}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $uid := .metadata.uid }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        containerID: {{ printf "containerd://%s-%s" $uid .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: Exists}
  next:
    finalizers: {empty: true}
    delete: true
`

// start runs one component with its log in dir; it is killed (and waited for) when the
// benchmark ends.
func start(tb testing.TB, dir, name, bin string, args ...string) {
	tb.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				tb.Logf("%s log (tail):\n%s", name, tail(b, 3000))
			}
		}
	})
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func waitFor(tb testing.TB, what string, d time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready after %s: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePorts picks n free loopback ports.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var out []int
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func writeFile(tb testing.TB, p, s string) {
	tb.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// writeSAKey writes the service-account signing key the API server insists on.
func writeSAKey(tb testing.TB, p string) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, p, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
}

// populate creates the kwok nodes and the target pods (spread evenly, bound to their
// node) and waits until kwok has every pod Running.
func (c *cluster) populate(tb testing.TB, nodes, pods int, ns string) {
	tb.Helper()
	ctx := context.Background()
	run := func(n int, f func(i int) error) {
		sem := make(chan struct{}, 32)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			sem <- struct{}{}
			go func() { defer func() { <-sem }(); errs <- f(i) }()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				tb.Fatal(err)
			}
		}
	}
	run(nodes, func(i int) error {
		_, err := c.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: nodeName(i), Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{"type": "kwok", corev1.LabelHostname: nodeName(i)}}}, metav1.CreateOptions{})
		return err
	})
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	run(pods, func(i int) error {
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%04d", i), Labels: map[string]string{"app": "scale"}},
			Spec: corev1.PodSpec{NodeName: nodeName(i % nodes), AutomountServiceAccountToken: new(bool),
				Containers: []corev1.Container{{Name: "app", Image: "e2e.local/pause:1"}}},
		}, metav1.CreateOptions{})
		return err
	})
	waitFor(tb, fmt.Sprintf("%d target pods Running (kwok)", pods), 3*time.Minute, func() error {
		l, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		n := 0
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].ContainerID != "" {
				n++
			}
		}
		if n < pods {
			return fmt.Errorf("%d/%d Running with a container ID", n, pods)
		}
		return nil
	})
}

func nodeName(i int) string { return fmt.Sprintf("kwok-node-%03d", i) }
