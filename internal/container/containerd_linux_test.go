package container

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// fakeTasks is containerd's tasks service as containerd answers it: a task per container
// ID in one namespace (read from the gRPC metadata), NotFound for anything else. The
// e2e tests run the same calls against the cluster's real containerd.
type fakeTasks struct {
	tasks.UnimplementedTasksServer
	namespace string
	pids      map[string]uint32

	mu    sync.Mutex
	seen  []string // namespace of each call
	kills []*tasks.KillRequest
}

func (f *fakeTasks) lookup(ctx context.Context, id string) (uint32, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	ns := strings.Join(md.Get(namespaceHeader), ",")
	f.mu.Lock()
	f.seen = append(f.seen, ns)
	pid, ok := f.pids[id]
	f.mu.Unlock()
	if ns == "" {
		return 0, status.Error(codes.FailedPrecondition, "namespace is required")
	}
	if ns != f.namespace || !ok {
		return 0, status.Errorf(codes.NotFound, "container %q in namespace %q: not found", id, ns)
	}
	return pid, nil
}

func (f *fakeTasks) Get(ctx context.Context, r *tasks.GetRequest) (*tasks.GetResponse, error) {
	pid, err := f.lookup(ctx, r.GetContainerID())
	if err != nil {
		return nil, err
	}
	return &tasks.GetResponse{Process: &task.Process{ID: r.GetContainerID(), Pid: pid, Status: task.Status_RUNNING}}, nil
}

func (f *fakeTasks) Kill(ctx context.Context, r *tasks.KillRequest) (*emptypb.Empty, error) {
	if _, err := f.lookup(ctx, r.GetContainerID()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.kills = append(f.kills, r)
	f.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// serveTasks serves f on a unix socket in a temporary directory and returns its path
// (with an empty containers service beside it: serveContainerd).
func serveTasks(t testing.TB, f *fakeTasks) string {
	t.Helper()
	return serveContainerd(t, f, &fakeContainers{})
}

// TestResolveThroughContainerd: the PID comes from containerd's tasks service (asked in
// the k8s.io namespace) and is trusted because /proc/<pid>/cgroup names the container; a
// PID that is not that container's, or a container containerd does not know, falls back
// to the /proc scan, which finds the same process.
func TestResolveThroughContainerd(t *testing.T) {
	c := nstest.NewContainer(t)
	for _, tc := range []struct {
		name      string
		pids      map[string]uint32
		namespace string
		wantBy    string
	}{
		{"containerd knows it", map[string]uint32{c.ID: uint32(c.PID)}, DefaultNamespace, "containerd"},
		{"containerd names another process", map[string]uint32{c.ID: 1}, DefaultNamespace, "/proc scan"},
		{"not in containerd", map[string]uint32{}, DefaultNamespace, "/proc scan"},
		{"in another namespace", map[string]uint32{c.ID: uint32(c.PID)}, "moby", "/proc scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTasks{namespace: tc.namespace, pids: tc.pids}
			r := New(Options{Endpoint: serveTasks(t, f), ProcRoot: "/proc"})
			start := time.Now()
			ft, err := r.Resolve(context.Background(), plan.Target{Namespace: "default", Pod: "p", Container: "c", ContainerID: c.ContainerID()})
			if err != nil {
				t.Fatal(err)
			}
			if ft.PID != c.PID || ft.NetnsInode != c.Inode || ft.CgroupPath != c.CgroupDir {
				t.Fatalf("resolved pid %d inode %d cgroup %s, want %d %d %s", ft.PID, ft.NetnsInode, ft.CgroupPath, c.PID, c.Inode, c.CgroupDir)
			}
			if ft.ResolvedBy != tc.wantBy {
				t.Fatalf("resolved by %q, want %q", ft.ResolvedBy, tc.wantBy)
			}
			if len(f.seen) != 1 || f.seen[0] != DefaultNamespace {
				t.Fatalf("containerd was asked in namespaces %q, want one call in %q", f.seen, DefaultNamespace)
			}
			t.Logf("resolved by %s in %s", ft.ResolvedBy, time.Since(start))
		})
	}
}

func TestSignalThroughContainerd(t *testing.T) {
	id := strings.Repeat("ab", 32)
	f := &fakeTasks{namespace: DefaultNamespace, pids: map[string]uint32{id: 4242}}
	o := Options{Endpoint: serveTasks(t, f)}
	if err := Signal(context.Background(), o, id, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if len(f.kills) != 1 || f.kills[0].GetContainerID() != id || f.kills[0].GetSignal() != uint32(syscall.SIGTERM) ||
		f.kills[0].GetAll() || f.kills[0].GetExecID() != "" {
		t.Fatalf("kill requests %v, want one SIGTERM to the task of %s", f.kills, id)
	}
	err := Signal(context.Background(), o, strings.Repeat("cd", 32), syscall.SIGKILL)
	if err == nil || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "cdcdcdcdcdcd") {
		t.Fatalf("signal to an unknown container: %v, want a not-found error naming it", err)
	}
	o.Endpoint = "-"
	if err := Signal(context.Background(), o, id, syscall.SIGKILL); err == nil {
		t.Fatal("signal with containerd disabled succeeded")
	}
}

// TestConcurrentLookupsShareOneConnection: lookups at the same time share the
// resolver's one connection, and the last one closes it.
func TestConcurrentLookupsShareOneConnection(t *testing.T) {
	c := nstest.NewContainer(t)
	f := &fakeTasks{namespace: DefaultNamespace, pids: map[string]uint32{c.ID: uint32(c.PID)}}
	r := New(Options{Endpoint: serveTasks(t, f), ProcRoot: "/proc"})
	tgt := plan.Target{Namespace: "default", Pod: "p", Container: "c", ContainerID: c.ContainerID()}
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ft fault.Target
			ft, errs[i] = r.Resolve(context.Background(), tgt)
			if errs[i] == nil && ft.ResolvedBy != "containerd" {
				errs[i] = fmt.Errorf("resolved by %s", ft.ResolvedBy)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r.conn.mu.Lock()
	defer r.conn.mu.Unlock()
	if r.conn.conn != nil || r.conn.users != 0 {
		t.Errorf("after the lookups: connection %v, %d users; want it closed", r.conn.conn, r.conn.users)
	}
}

// BenchmarkResolveTen resolves 10 targets at once through containerd's tasks service,
// as the agent does for 10 target pods on its node.
func BenchmarkResolveTen(b *testing.B) {
	c := nstest.NewContainer(b)
	f := &fakeTasks{namespace: DefaultNamespace, pids: map[string]uint32{c.ID: uint32(c.PID)}}
	r := New(Options{Endpoint: serveTasks(b, f), ProcRoot: "/proc"})
	tgt := plan.Target{Namespace: "default", Pod: "p", Container: "c", ContainerID: c.ContainerID()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for j := 0; j < 10; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ft, err := r.Resolve(context.Background(), tgt); err != nil || ft.ResolvedBy != "containerd" {
					b.Error(ft.ResolvedBy, err)
				}
			}()
		}
		wg.Wait()
	}
}
