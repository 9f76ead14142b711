package iocmd

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/attr"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/ioverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/latency"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/mistake"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// parse runs verb with args and returns the options the verb handed to runF.
func parse(t *testing.T, verb string, args []string) (*ioverb.Options, error) {
	t.Helper()
	io, _, _, _ := ui.Test()
	f := factory.NewFake(io, nil, time.Now(), nil)
	var got *ioverb.Options
	capture := func(o *ioverb.Options) error { got = o; return nil }
	var cmd *cobra.Command
	switch verb {
	case "latency":
		cmd = latency.NewCmdLatency(f, capture)
	case "fault":
		cmd = fault.NewCmdFault(f, capture)
	case "mistake":
		cmd = mistake.NewCmdMistake(f, capture)
	case "attr":
		cmd = attr.NewCmdAttr(f, capture)
	default:
		t.Fatalf("unknown verb %s", verb)
	}
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.ErrOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exit.UsageError(err) })
	err := cmd.Execute()
	return got, err
}

func ptr[T any](v T) *T { return &v }

func TestVerbFlags(t *testing.T) {
	ms := func(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		verb string
		args []string
		want plan.IO
	}{
		{"latency", []string{"deploy/db", "--path", "/data", "--delay", "100ms"},
			plan.IO{Path: "/data", Percent: 100, Latency: &plan.IOLatency{Delay: ms(100)}}},
		{"latency", []string{"pod/x", "--path", "/var/lib/db", "--delay", "1s", "--jitter", "500ms", "--methods", "read,fsync", "--file-glob", "*.db", "--percent", "50"},
			plan.IO{Path: "/var/lib/db", Percent: 50, Methods: []string{"read", "fsync"}, FileGlob: "*.db", Latency: &plan.IOLatency{Delay: ms(1000), Jitter: ms(500)}}},
		{"fault", []string{"pod/x", "--path", "/data", "--percent", "10"},
			plan.IO{Path: "/data", Percent: 10, Fault: &plan.IOFault{Errno: "EIO"}}},
		{"fault", []string{"pod/x", "--path", "/data", "--errno", "ENOSPC", "--percent", "100", "--methods", "write,create"},
			plan.IO{Path: "/data", Percent: 100, Methods: []string{"write", "create"}, Fault: &plan.IOFault{Errno: "ENOSPC"}}},
		{"mistake", []string{"pod/x", "--path", "/data", "--percent", "1"},
			plan.IO{Path: "/data", Percent: 1, Mistake: &plan.IOMistake{MaxBytes: 4}}},
		{"mistake", []string{"pod/x", "--path", "/data", "--percent", "5", "--max-bytes", "64", "--methods", "read"},
			plan.IO{Path: "/data", Percent: 5, Methods: []string{"read"}, Mistake: &plan.IOMistake{MaxBytes: 64}}},
		{"attr", []string{"pod/x", "--path", "/etc/app", "--perm", "000"},
			plan.IO{Path: "/etc/app", Attr: &plan.IOAttr{Perm: ptr(uint32(0))}}},
		{"attr", []string{"pod/x", "--path", "/data", "--perm", "0444", "--size", "0", "--mtime", "2001-02-03T04:05:06Z", "--uid", "0", "--gid", "7"},
			plan.IO{Path: "/data", Attr: &plan.IOAttr{Perm: ptr(uint32(0o444)), Size: ptr(uint64(0)),
				Mtime: ptr(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)), UID: ptr(uint32(0)), GID: ptr(uint32(7))}}},
		{"attr", []string{"pod/x", "--path", "/data", "--mtime", "981173106"},
			plan.IO{Path: "/data", Attr: &plan.IOAttr{Mtime: ptr(time.Unix(981173106, 0).UTC())}}},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			f := o.Experiment.Fault
			if f.Kind != plan.KindIO || f.Action != tt.verb {
				t.Errorf("fault kind/action = %s/%s, want io/%s", f.Kind, f.Action, tt.verb)
			}
			if diff := cmp.Diff(&tt.want, f.IO); diff != "" {
				t.Errorf("io spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerbValidation(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want string // the error must name this flag / value
	}{
		{"latency", []string{"pod/x", "--delay", "10ms"}, "path"},
		{"latency", []string{"pod/x", "--path", "data", "--delay", "10ms"}, "--path must be absolute"},
		{"latency", []string{"pod/x", "--path", "/", "--delay", "10ms"}, "--path /"},
		{"latency", []string{"pod/x", "--path", "/proc/self", "--delay", "10ms"}, "under /proc"},
		{"latency", []string{"pod/x", "--path", "/data"}, "--delay must be in (0, 1h0m0s]"},
		{"latency", []string{"pod/x", "--path", "/data", "--delay", "2h"}, "--delay"},
		{"latency", []string{"pod/x", "--path", "/data", "--delay", "10ms", "--jitter", "20ms"}, "--jitter"},
		{"latency", []string{"pod/x", "--path", "/data", "--delay", "10ms", "--percent", "0"}, "--percent must be in (0, 100]"},
		{"latency", []string{"pod/x", "--path", "/data", "--delay", "10ms", "--methods", "read,chmod"}, `unknown method "chmod"`},
		{"latency", []string{"pod/x", "--path", "/data", "--delay", "10ms", "--file-glob", "[x"}, "--file-glob"},
		{"fault", []string{"pod/x", "--path", "/data"}, "percent"},
		{"fault", []string{"pod/x", "--path", "/data", "--percent", "101"}, "--percent must be in (0, 100]"},
		{"fault", []string{"pod/x", "--path", "/data", "--percent", "10", "--errno", "EOOPS"}, `--errno "EOOPS" is not a known errno`},
		{"mistake", []string{"pod/x", "--path", "/data", "--percent", "10", "--methods", "open"}, "read and/or write"},
		{"mistake", []string{"pod/x", "--path", "/data", "--percent", "10", "--max-bytes", "0"}, "--max-bytes"},
		{"attr", []string{"pod/x", "--path", "/data"}, "give at least one of --perm"},
		{"attr", []string{"pod/x", "--path", "/data", "--perm", "999"}, "--perm \"999\" is not an octal mode"},
		{"attr", []string{"pod/x", "--path", "/data", "--perm", "17777"}, "--perm must be an octal mode in [0, 7777]"},
		{"attr", []string{"pod/x", "--path", "/data", "--mtime", "yesterday"}, "--mtime"},
		{"attr", []string{"pod/x", "--path", "/data", "--uid", "4294967295"}, "--uid"},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err == nil {
				t.Fatalf("accepted; want an error naming %s (options %+v)", tt.want, o)
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d (usage)", exit.Code(err), exit.Usage)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

func TestGroup(t *testing.T) {
	io, _, _, _ := ui.Test()
	cmd := NewCmdIO(factory.NewFake(io, nil, time.Now(), nil))
	var names []string
	for _, c := range cmd.Commands() {
		names = append(names, c.Name())
	}
	if got := strings.Join(names, ","); got != "attr,fault,latency,mistake" {
		t.Errorf("io verbs = %s", got)
	}
}
