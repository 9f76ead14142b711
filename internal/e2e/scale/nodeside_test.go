package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop" // what the node side's agents run
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// The node side stands in for the kubelets: it serves pods/NAME/attach the way the API
// server does (WebSocket, v5.channel.k8s.io: stdin, stdout, stderr, error, resize) and
// runs the real agent (agent.Run) on each stream, with the helper's plan but the noop
// fault and a resolver that finds every target at once: the agent's stdin/JSON protocol
// is the real one, and nothing on this machine is touched. An attach to a helper that
// is not running (yet) is refused before the upgrade, as the API server refuses one.
//
// Plans and "running" come from the cluster (SCALE_KUBECONFIG: a watch of the helper
// pods, whose status kwok writes) or from files the parent writes (SCALE_PLAN_DIR:
// NAMESPACE_POD.json, present = running).
const (
	envNodeSide   = "SCALE_NODE_SIDE"
	envKubeconfig = "SCALE_KUBECONFIG"
	envPlanDir    = "SCALE_PLAN_DIR"
	envWorkDir    = "SCALE_WORK_DIR"
)

// nodeStats is what the node side saw, for the parent's phase table.
type nodeStats struct {
	Attaches int `json:"attaches"` // accepted
	Refused  int `json:"refused"`  // before the pod ran, or unknown
	// Per helper pod (namespace/name): when the watch first saw it, saw it Running
	// (kwok), saw it gone; when its agent was attached.
	Seen     map[string]time.Time `json:"seen"`
	Running  map[string]time.Time `json:"running"`
	Gone     map[string]time.Time `json:"gone"`
	Attached map[string]time.Time `json:"attached"`
	// AgentErrors are agents that ended with an error.
	AgentErrors []string `json:"agentErrors,omitempty"`
}

type nodeSide struct {
	work    string
	planDir string

	mu      sync.Mutex
	plans   map[string]*plan.Plan
	running map[string]bool
	stats   nodeStats
}

// runNodeSide is the child process: it listens, prints its URL on stdout, and serves
// until stdin closes (the parent ended).
func runNodeSide() error {
	n := &nodeSide{work: os.Getenv(envWorkDir), planDir: os.Getenv(envPlanDir),
		plans: map[string]*plan.Plan{}, running: map[string]bool{},
		stats: nodeStats{Seen: map[string]time.Time{}, Running: map[string]time.Time{},
			Gone: map[string]time.Time{}, Attached: map[string]time.Time{}}}
	// The WebSocket server logs every closed stream through klog: not news here.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if kc := os.Getenv(envKubeconfig); kc != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = -1, 0
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		synced := make(chan struct{})
		go n.watch(ctx, cs, synced)
		<-synced
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/namespaces/{ns}/pods/{pod}/attach", n.attach)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		_ = json.NewEncoder(w).Encode(n.stats)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent holds our stdin open while it needs us
	return srv.Close()
}

// watch follows the helper pods (all namespaces) and keeps their plan and state.
func (n *nodeSide) watch(ctx context.Context, cs kubernetes.Interface, synced chan<- struct{}) {
	sel := plan.LabelManagedBy + "=" + plan.ManagedByValue
	once := sync.Once{}
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for i := range l.Items {
				n.onPod(&l.Items[i], false)
			}
			rv = l.ResourceVersion
			once.Do(func() { close(synced) })
		}
		w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			rv = ""
			continue
		}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				if ev.Type == watch.Error {
					rv = ""
				}
				break
			}
			rv = p.ResourceVersion
			if ev.Type != watch.Bookmark {
				n.onPod(p, ev.Type == watch.Deleted)
			}
		}
		w.Stop()
	}
}

func (n *nodeSide) onPod(p *corev1.Pod, deleted bool) {
	key := p.Namespace + "/" + p.Name
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.stats.Seen[key]; !ok {
		n.stats.Seen[key] = now
	}
	if deleted {
		n.stats.Gone[key] = now
		n.running[key] = false
		return
	}
	if n.plans[key] == nil {
		n.plans[key] = podPlan(p)
	}
	running := false
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == helperpod.ContainerName && s.State.Running != nil {
			running = true
		}
	}
	if running && !n.running[key] {
		n.stats.Running[key] = now
	}
	n.running[key] = running
}

// lookup is the plan of a running helper (nil: refuse the attach).
func (n *nodeSide) lookup(ns, pod string) *plan.Plan {
	key := ns + "/" + pod
	if n.planDir != "" {
		b, err := os.ReadFile(filepath.Join(n.planDir, ns+"_"+pod+".json"))
		if err != nil {
			return nil
		}
		pl, err := plan.Decode(string(b))
		if err != nil {
			return nil
		}
		return pl
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running[key] {
		return nil
	}
	return n.plans[key]
}

// attach is pods/NAME/attach: refused unless the helper runs, else a WebSocket stream
// joined to a fresh agent.
func (n *nodeSide) attach(w http.ResponseWriter, r *http.Request) {
	ns, pod := r.PathValue("ns"), r.PathValue("pod")
	pl := n.lookup(ns, pod)
	if pl == nil || !wsstream.IsWebSocketRequest(r) || r.URL.Query().Get("container") != helperpod.ContainerName {
		n.mu.Lock()
		n.stats.Refused++
		n.mu.Unlock()
		http.Error(w, fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"container %s is not running in pod %s/%s","reason":"BadRequest","code":400}`,
			helperpod.ContainerName, ns, pod), http.StatusBadRequest)
		return
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"v5.channel.k8s.io": {Binary: true, Channels: []wsstream.ChannelType{
			wsstream.ReadChannel, wsstream.WriteChannel, wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.IgnoreChannel}},
	})
	conn.SetIdleTimeout(5 * time.Minute)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	n.mu.Lock()
	n.stats.Attaches++
	if _, ok := n.stats.Attached[ns+"/"+pod]; !ok {
		n.stats.Attached[ns+"/"+pod] = time.Now()
	}
	n.mu.Unlock()
	if err := n.runAgent(r.Context(), pl, streams[0], streams[1]); err != nil {
		n.mu.Lock()
		n.stats.AgentErrors = append(n.stats.AgentErrors, fmt.Sprintf("%s/%s: %v", ns, pod, err))
		n.mu.Unlock()
	}
	_, _ = streams[3].Write([]byte(`{"metadata":{},"status":"Success"}`))
}

// runAgent runs the real agent for one helper with the noop fault in place of the
// plan's (the targets and the protocol stay).
func (n *nodeSide) runAgent(ctx context.Context, pl *plan.Plan, stdin io.Reader, stdout io.Writer) error {
	p := *pl
	p.Fault = plan.Fault{Kind: plan.KindNoop, Action: pl.Fault.Action, Noop: &plan.Noop{}}
	p.Detached = false
	dir := filepath.Join(n.work, "node-"+p.Node)
	_, err := agent.Run(ctx, agent.Options{Plan: &p, Stdin: stdin, Stdout: stdout,
		JournalDir: filepath.Join(dir, "journal"), ProcRoot: filepath.Join(n.work, "proc"),
		Resolver: resolver{}, HeartbeatInterval: 2 * time.Second})
	return err
}

// resolver finds every target at once (nothing runs them here).
type resolver struct{}

func (resolver) Resolve(_ context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: 4242, NetnsPath: "/proc/4242/ns/net", NetnsInode: 4026532000}, nil
}

// podPlan decodes the plan a helper carries in its agent container's environment.
func podPlan(p *corev1.Pod) *plan.Plan {
	for _, ctr := range p.Spec.Containers {
		for _, e := range ctr.Env {
			if e.Name == plan.EnvVar {
				if pl, err := plan.Decode(e.Value); err == nil {
					return pl
				}
			}
		}
	}
	return nil
}

// nodeSideProc is the running child, seen from the parent.
type nodeSideProc struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startNodeSide starts the child with env (SCALE_KUBECONFIG or SCALE_PLAN_DIR) and
// waits for its URL; it is stopped when the benchmark ends.
func startNodeSide(tb testing.TB, env ...string) *nodeSideProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, envNodeSide+"=1", envWorkDir+"="+workDir(tb))...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &nodeSideProc{cmd: cmd, stdin: stdin}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		tb.Fatalf("node side did not start: %q %v", line, err)
	}
	p.URL = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return p
}

// workDir is where the node side's agents keep their journals: on tmpfs when there is
// one, as each of the many nodes it stands for has a disk of its own (100 agents'
// journal fsyncs on one shared disk would measure that disk, not the fan-out).
func workDir(tb testing.TB) string {
	if d, err := os.MkdirTemp("/dev/shm", "kc-scale-"); err == nil {
		tb.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return tb.TempDir()
}

// Stats fetches what the node side saw.
func (p *nodeSideProc) Stats() (*nodeStats, error) {
	resp, err := http.Get(p.URL + "/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s nodeStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, errors.Join(errors.New("node side stats"), err)
	}
	return &s, nil
}
