package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	containers "github.com/containerd/containerd/api/services/containers/v1"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// namespaceHeader is the gRPC metadata key containerd reads the namespace from
// (github.com/containerd/containerd/v2/pkg/namespaces.GRPCHeader).
const namespaceHeader = "containerd-namespace"

// The agent talks to containerd through its API module's tasks service on a plain gRPC
// connection: one Get (the task's PID) and one Kill; to follow a restarted container,
// the containers service's Get and List (successor.go). containerd's v2 client makes the
// same calls but links ≈27 MB into the binary (docs/dependencies.md, "Binary size").

// sharedConn is the resolver's one connection to containerd, shared by the lookups that
// run at the same time (the agent resolves every target at once): one dial and one
// HTTP/2 handshake instead of one per target (issue 17). The last user closes it, so
// nothing stays open while the agent waits.
type sharedConn struct {
	mu    sync.Mutex
	conn  *grpc.ClientConn
	users int
}

func (s *sharedConn) acquire(endpoint string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		conn, err := grpc.NewClient("unix://"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		s.conn = conn
	}
	s.users++
	return s.conn, nil
}

func (s *sharedConn) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users--; s.users == 0 {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// withConn connects to containerd's socket (bounded by the resolver's timeout) and runs
// fn with the connection and a context that carries the namespace.
func (r *Resolver) withConn(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	if r.o.Endpoint == "-" {
		return errors.New("disabled")
	}
	if _, err := os.Stat(r.o.Endpoint); err != nil {
		return fmt.Errorf("socket %s: %w", r.o.Endpoint, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	conn, err := r.conn.acquire(r.o.Endpoint)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", r.o.Endpoint, err)
	}
	defer r.conn.release()
	ctx = metadata.AppendToOutgoingContext(ctx, namespaceHeader, r.o.Namespace)
	return fn(ctx, conn)
}

// withTasks runs fn with containerd's tasks service (withConn).
func (r *Resolver) withTasks(ctx context.Context, fn func(context.Context, tasks.TasksClient) error) error {
	return r.withConn(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		return fn(ctx, tasks.NewTasksClient(conn))
	})
}

func (r *Resolver) containerdPID(ctx context.Context, id string) (int, error) {
	pid := 0
	err := r.withTasks(ctx, func(ctx context.Context, tc tasks.TasksClient) error {
		resp, err := tc.Get(ctx, &tasks.GetRequest{ContainerID: id})
		if err != nil {
			return rpcError("loading the task of container", id, err)
		}
		pid = int(resp.GetProcess().GetPid())
		if pid <= 0 {
			return fmt.Errorf("container %s has no running task", short(id))
		}
		return nil
	})
	return pid, err
}

// candidates asks containerd, on the one connection, what it still knows of the planned
// container id and which containers carry t's pod UID and container name, each with
// the PID of its running task (0: none). The containers service is the same API module
// as the tasks service: no new module in the binary (issue 17).
func (r *Resolver) candidates(ctx context.Context, t plan.Target, id string) (planned, []candidate, error) {
	var p planned
	var out []candidate
	err := r.withConn(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		cc, tc := containers.NewContainersClient(conn), tasks.NewTasksClient(conn)
		got, err := cc.Get(ctx, &containers.GetContainerRequest{ID: id})
		switch {
		case err == nil:
			c := got.GetContainer()
			p = planned{known: true, labels: c.GetLabels(), created: c.GetCreatedAt().AsTime()}
		case status.Code(err) != codes.NotFound:
			return rpcError("loading container", id, err)
		}
		list, err := cc.List(ctx, &containers.ListContainersRequest{Filters: []string{successorFilter(t)}})
		if err != nil {
			return rpcError("listing the containers of pod "+t.PodUID+" named", t.Container, err)
		}
		for _, c := range list.GetContainers() {
			cd := candidate{ID: c.GetID(), Labels: c.GetLabels(), Created: c.GetCreatedAt().AsTime()}
			if cd.ID != id && sameContainer(t, cd.Labels) == "" {
				tr, err := tc.Get(ctx, &tasks.GetRequest{ContainerID: cd.ID})
				switch {
				case err == nil && tr.GetProcess().GetStatus() == task.Status_RUNNING:
					cd.PID = int(tr.GetProcess().GetPid())
				case err != nil && status.Code(err) != codes.NotFound:
					return rpcError("loading the task of container", cd.ID, err)
				}
			}
			out = append(out, cd)
		}
		return nil
	})
	return p, out, err
}

// Signal sends sig to the main process (the task) of container id through containerd.
func Signal(ctx context.Context, o Options, id string, sig syscall.Signal) error {
	return New(o).withTasks(ctx, func(ctx context.Context, tc tasks.TasksClient) error {
		if _, err := tc.Kill(ctx, &tasks.KillRequest{ContainerID: id, Signal: uint32(sig)}); err != nil {
			return rpcError(fmt.Sprintf("containerd task kill %s of container", sig), id, err)
		}
		return nil
	})
}

// rpcError says what failed in words: a gRPC status carries its code and containerd's
// message ("container … in namespace k8s.io: not found").
func rpcError(what, id string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s %s: %w", what, short(id), err)
	}
	switch st.Code() {
	case codes.NotFound:
		return fmt.Errorf("%s %s: not found: %s", what, short(id), st.Message())
	case codes.DeadlineExceeded, codes.Unavailable:
		return fmt.Errorf("%s %s: containerd did not answer: %s", what, short(id), st.Message())
	}
	return fmt.Errorf("%s %s: %s: %s", what, short(id), st.Code(), st.Message())
}
