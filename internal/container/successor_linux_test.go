package container

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containers "github.com/containerd/containerd/api/services/containers/v1"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// fakeContainers is containerd's containers service as the CRI plugin fills it: each
// Kubernetes container with its labels and creation time. List understands the label
// equality filters the resolver sends (labels."KEY"=="VALUE", joined by ",").
type fakeContainers struct {
	containers.UnimplementedContainersServer
	mu    sync.Mutex
	ctrs  []*containers.Container
	lists []string // the filters of each List
}

func (f *fakeContainers) Get(ctx context.Context, r *containers.GetContainerRequest) (*containers.GetContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ctrs {
		if c.ID == r.GetID() {
			return &containers.GetContainerResponse{Container: c}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "container %q in namespace %q: not found", r.GetID(), DefaultNamespace)
}

func (f *fakeContainers) List(ctx context.Context, r *containers.ListContainersRequest) (*containers.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, strings.Join(r.GetFilters(), " | "))
	want := map[string]string{}
	for _, flt := range r.GetFilters() {
		for _, sel := range strings.Split(flt, ",") {
			k, v, ok := strings.Cut(sel, "==")
			key, err1 := strconv.Unquote(strings.TrimPrefix(k, "labels."))
			val, err2 := strconv.Unquote(v)
			if !ok || !strings.HasPrefix(k, "labels.") || err1 != nil || err2 != nil {
				return nil, status.Errorf(codes.InvalidArgument, "filter %q: not understood by the fake", sel)
			}
			want[key] = val
		}
	}
	var out []*containers.Container
next:
	for _, c := range f.ctrs {
		for k, v := range want {
			if c.Labels[k] != v {
				continue next
			}
		}
		out = append(out, c)
	}
	return &containers.ListContainersResponse{Containers: out}, nil
}

func (f *fakeContainers) add(id string, labels map[string]string, created time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctrs = append(f.ctrs, &containers.Container{ID: id, Labels: labels, CreatedAt: timestamppb.New(created)})
}

// serveContainerd serves both fakes on one unix socket, as containerd does.
func serveContainerd(t testing.TB, ft *fakeTasks, fc *fakeContainers) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	tasks.RegisterTasksServer(s, ft)
	containers.RegisterContainersServer(s, fc)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return sock
}

func podLabels(uid, name string) map[string]string {
	return map[string]string{LabelPodUID: uid, LabelPodNamespace: "default", LabelPodName: "web-1",
		LabelContainerName: name, LabelKind: "container", "io.kubernetes.container.restartCount": "1"}
}

// TestResolveFollowsSuccessor: the plan's container is gone (containerd keeps its record,
// exited; no process of it on the node); its successor in the same pod runs (a test
// container: a process in a cgroup named by the successor's ID, in its own netns). The
// resolver injects there, waits for a successor that is not running yet, and refuses
// the containers that are not the successor.
func TestResolveFollowsSuccessor(t *testing.T) {
	c := nstest.NewContainer(t)
	other := nstest.NewContainer(t) // another pod's running container
	gone := nstest.RandomHex(32)
	t0 := time.Now().Add(-time.Minute)
	tgt := plan.Target{Namespace: "default", Pod: "web-1", PodUID: c.PodUID, Container: "app", ContainerID: "containerd://" + gone}

	type setup struct {
		ft *fakeTasks
		fc *fakeContainers
		r  *Resolver
	}
	start := func(t *testing.T, o Options) setup {
		s := setup{ft: &fakeTasks{namespace: DefaultNamespace, pids: map[string]uint32{other.ID: uint32(other.PID)}}, fc: &fakeContainers{}}
		s.fc.add(gone, podLabels(c.PodUID, "app"), t0)
		s.fc.add(other.ID, map[string]string{LabelPodUID: other.PodUID, LabelPodNamespace: "default", LabelPodName: "web-2",
			LabelContainerName: "app", LabelKind: "container"}, t0.Add(30*time.Second))
		o.Endpoint, o.ProcRoot = serveContainerd(t, s.ft, s.fc), "/proc"
		s.r = New(o)
		return s
	}

	t.Run("running successor", func(t *testing.T) {
		s := start(t, Options{})
		s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
		s.ft.pids[c.ID] = uint32(c.PID)
		ft, err := s.r.Resolve(context.Background(), tgt)
		if err != nil {
			t.Fatal(err)
		}
		if ft.PID != c.PID || ft.NetnsInode != c.Inode || ft.CgroupPath != c.CgroupDir || ft.RuntimeID() != c.ID || ft.ContainerID != c.ContainerID() {
			t.Fatalf("resolved %s pid %d inode %d cgroup %s, want the successor %s pid %d inode %d cgroup %s",
				ft.ContainerID, ft.PID, ft.NetnsInode, ft.CgroupPath, c.ID, c.PID, c.Inode, c.CgroupDir)
		}
		if !strings.Contains(ft.ResolvedBy, "successor of restarted container "+gone[:12]) {
			t.Fatalf("resolved by %q, want it to name the restarted container", ft.ResolvedBy)
		}
		want := `labels."io.kubernetes.pod.uid"=="` + c.PodUID + `",labels."io.kubernetes.container.name"=="app"`
		if len(s.fc.lists) != 1 || s.fc.lists[0] != want {
			t.Fatalf("List filters %q, want one List with %q", s.fc.lists, want)
		}
	})

	t.Run("crash-loop back-off: waits for the successor to run", func(t *testing.T) {
		s := start(t, Options{})
		s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
		go func() {
			time.Sleep(time.Second)
			s.ft.mu.Lock()
			s.ft.pids[c.ID] = uint32(c.PID)
			s.ft.mu.Unlock()
		}()
		begin := time.Now()
		ft, err := s.r.Resolve(context.Background(), tgt)
		took := time.Since(begin)
		if err != nil || ft.PID != c.PID || ft.RuntimeID() != c.ID {
			t.Fatalf("resolved %s pid %d, %v; want the successor %s pid %d", ft.ContainerID, ft.PID, err, c.ID, c.PID)
		}
		if took < time.Second || took > 5*time.Second {
			t.Fatalf("took %v, want the wait of ≈1 s for the task to start", took)
		}
		t.Logf("found after %v, %d List calls", took.Round(time.Millisecond), len(s.fc.lists))
	})

	// A crash loop: the first successor exits within its first second (killed 300 ms
	// into the lookup, while it settles); the next one, which runs on, is taken. With the
	// settle time off, the one about to crash is taken at once: the check the test needs.
	for _, tc := range []struct {
		name        string
		settle      time.Duration
		wantCrashed bool
	}{
		{"a successor that exits within the settle time is passed over, the next one is taken", 0, false},
		{"without the settle time the crashing successor is taken", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{SuccessorSettle: tc.settle})
			next := nstest.NewContainer(t)
			crashing := nstest.NewContainer(t) // started last: the youngest process
			s.fc.add(crashing.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
			s.ft.mu.Lock()
			s.ft.pids[crashing.ID] = uint32(crashing.PID)
			s.ft.mu.Unlock()
			crashed := make(chan struct{})
			go func() {
				defer close(crashed)
				time.Sleep(300 * time.Millisecond)
				_ = syscall.Kill(crashing.PID, syscall.SIGKILL) // a zombie until the test's cleanup reaps it
				s.ft.mu.Lock()
				delete(s.ft.pids, crashing.ID) // containerd: its task stopped
				s.ft.pids[next.ID] = uint32(next.PID)
				s.ft.mu.Unlock()
				s.fc.add(next.ID, podLabels(c.PodUID, "app"), t0.Add(20*time.Second)) // the kubelet's next restart
			}()
			defer func() { <-crashed }()
			begin := time.Now()
			ft, err := s.r.Resolve(context.Background(), tgt)
			took := time.Since(begin)
			if err != nil {
				t.Fatal(err)
			}
			want := next
			if tc.wantCrashed {
				want = crashing
			}
			if ft.PID != want.PID || ft.RuntimeID() != want.ID {
				t.Fatalf("resolved %s pid %d after %v; want %s pid %d", ft.RuntimeID()[:12], ft.PID, took, want.ID[:12], want.PID)
			}
			if !tc.wantCrashed {
				// Taken once it had run a second: its own start, not the lookup's, counts.
				if age, _, err := procAge("/proc", next.PID); err != nil || age < DefaultSuccessorSettle {
					t.Fatalf("taken when it had run %v (%v), want at least %v", age, err, DefaultSuccessorSettle)
				}
				if took < 300*time.Millisecond || took > 5*time.Second {
					t.Fatalf("took %v", took)
				}
			}
			t.Logf("took %v, %d List calls", took.Round(time.Millisecond), len(s.fc.lists))
		})
	}

	t.Run("a successor that has run long enough costs no wait", func(t *testing.T) {
		s := start(t, Options{SuccessorSettle: 300 * time.Millisecond})
		s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
		s.ft.pids[c.ID] = uint32(c.PID)
		if age, _, err := procAge("/proc", c.PID); err != nil || age < 300*time.Millisecond {
			time.Sleep(300 * time.Millisecond)
		}
		begin := time.Now()
		ft, err := s.r.Resolve(context.Background(), tgt)
		if took := time.Since(begin); err != nil || ft.PID != c.PID || took > 250*time.Millisecond {
			t.Fatalf("resolved pid %d, %v after %v; want %d at once", ft.PID, err, took, c.PID)
		}
	})

	for _, tc := range []struct {
		name  string
		o     Options
		setup func(s setup)
		ctx   func() (context.Context, context.CancelFunc)
		until time.Duration // Options.Until this long after the call
		want  string
		min   time.Duration // the wait the call must make
		max   time.Duration // the call's bound
	}{
		{name: "no successor runs: bounded wait", o: Options{SuccessorWait: time.Second},
			setup: func(s setup) { s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second)) },
			want:  "not running: crash-loop back-off?); waited", min: 700 * time.Millisecond, max: 3 * time.Second},
		{name: "the fault's deadline ends the wait", until: 800 * time.Millisecond,
			want: "no running container of default/web-1/app", min: 500 * time.Millisecond, max: 3 * time.Second},
		{name: "stopped while waiting", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 500*time.Millisecond)
		}, want: "stopped waiting", min: 400 * time.Millisecond, max: 3 * time.Second},
		{name: "only another pod's container of that name runs", o: Options{SuccessorWait: 600 * time.Millisecond},
			want: "no running container of default/web-1/app", max: 3 * time.Second},
		{name: "a sibling container of the pod runs", o: Options{SuccessorWait: 600 * time.Millisecond}, setup: func(s setup) {
			s.fc.add(c.ID, podLabels(c.PodUID, "sidecar"), t0.Add(10*time.Second))
			s.ft.pids[c.ID] = uint32(c.PID)
		}, want: "no running container of default/web-1/app", max: 3 * time.Second},
		{name: "planned container belongs to another pod", setup: func(s setup) {
			s.fc.mu.Lock()
			s.fc.ctrs[0].Labels = podLabels(other.PodUID, "app")
			s.fc.mu.Unlock()
			s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
			s.ft.pids[c.ID] = uint32(c.PID)
		}, want: "refusing to follow container " + gone[:12], max: time.Second},
		{name: "containerd names a process outside the successor", o: Options{SuccessorWait: 600 * time.Millisecond}, setup: func(s setup) {
			s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
			s.ft.pids[c.ID] = uint32(other.PID)
		}, want: "not visible as that container", max: 3 * time.Second},
		{name: "successor following disabled", o: Options{SuccessorWait: -1}, setup: func(s setup) {
			s.fc.add(c.ID, podLabels(c.PodUID, "app"), t0.Add(10*time.Second))
			s.ft.pids[c.ID] = uint32(c.PID)
		}, want: "/proc scan: no process", max: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.until > 0 {
				tc.o.Until = time.Now().Add(tc.until)
			}
			s := start(t, tc.o)
			if tc.setup != nil {
				tc.setup(s)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			begin := time.Now()
			ft, err := s.r.Resolve(ctx, tgt)
			took := time.Since(begin)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resolved %s pid %d, %v; want an error containing %q", ft.ContainerID, ft.PID, err, tc.want)
			}
			if took < tc.min || took > tc.max {
				t.Fatalf("took %v, want %v to %v", took, tc.min, tc.max)
			}
			t.Logf("%v: %v", took.Round(time.Millisecond), err)
		})
	}

	t.Run("containerd unreachable", func(t *testing.T) {
		r := New(Options{Endpoint: filepath.Join(t.TempDir(), "none.sock"), ProcRoot: "/proc"})
		_, err := r.Resolve(context.Background(), tgt)
		if err == nil || !strings.Contains(err.Error(), "the /proc scan cannot tell which container of the pod replaced it") {
			t.Fatalf("%v, want a refusal that says why the /proc scan cannot follow", err)
		}
	})
}
