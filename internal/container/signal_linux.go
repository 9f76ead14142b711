package container

import (
	"context"
	"fmt"
	"syscall"

	"github.com/containerd/containerd/v2/client"
)

// Signal sends sig to the main process (the task) of container id through containerd.
func Signal(ctx context.Context, o Options, id string, sig syscall.Signal) error {
	return New(o).withTask(ctx, id, func(ctx context.Context, task client.Task) error {
		if err := task.Kill(ctx, sig); err != nil {
			return fmt.Errorf("containerd task kill %s of container %s: %w", sig, short(id), err)
		}
		return nil
	})
}
