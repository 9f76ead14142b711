package app

import (
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// setupLogging sends slog to stderr at a level raised by -v, and routes klog (client-go)
// through slog at -vv, silencing it otherwise.
func setupLogging(w io.Writer, verbosity int) {
	level := slog.LevelWarn
	switch {
	case verbosity >= 2:
		level = slog.LevelDebug
	case verbosity == 1:
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	if verbosity >= 2 {
		klog.SetSlogLogger(logger)
	} else {
		klog.SetLogger(logr.Discard())
	}
}
