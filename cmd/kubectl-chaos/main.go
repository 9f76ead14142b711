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
)

func main() {
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
