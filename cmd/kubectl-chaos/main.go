// Command kubectl-chaos is the kubectl chaos plugin and, inside helper pods, its agent.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/procstart"
	// A stressor (a re-exec of this binary by the agent) runs from this package's init,
	// before the heavy package inits: see its package comment.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress/worker"
)

func main() {
	procstart.MarkMain()
	// The first Ctrl-C/SIGTERM cancels ctx: the session stops every helper and recovers
	// under its own cleanup context. stop() restores the default so a second signal kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := app.Execute(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	os.Exit(exit.Code(err))
}
