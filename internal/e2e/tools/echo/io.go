package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// iowork is the IO workload: it appends to files under dir (see probe.IOWorker) and
// serves what it saw on :8080/io (?reset=1 starts a new window), / for readiness.
func iowork(dir string, args []string) error {
	fs := flag.NewFlagSet("iowork", flag.ContinueOnError)
	interval := fs.Duration("interval", 10*time.Millisecond, "time between writes")
	size := fs.Int("size", 512, "bytes per write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	crashLoop()
	w := &probe.IOWorker{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) { fmt.Fprintln(rw, "ok") })
	mux.HandleFunc("/io", func(rw http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(rw).Encode(w.Report(r.URL.Query().Get("reset") == "1"))
	})
	errc := make(chan error, 2)
	go func() { errc <- http.ListenAndServe(fmt.Sprintf(":%d", HTTPPort), mux) }()
	go func() { errc <- w.Run(dir, *interval, *size, ctx.Done()) }()
	fmt.Fprintf(os.Stdout, "echo: writing under %s every %s, serving http :%d/io\n", dir, *interval, HTTPPort)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
