// Package history is the local record of past runs that `kubectl chaos history`
// prints: one JSON line per fault verb or scenario run (each firing of a schedule),
// appended to a file under the user's state directory. The file is bounded: once it
// would pass MaxBytes it is renamed to FILE.1 (replacing the previous one) and a new
// one is started, so at most about twice MaxBytes are kept.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvStateDir overrides the state directory.
const EnvStateDir = "KUBECTL_CHAOS_STATE_DIR"

// FileName is the history file in the state directory.
const FileName = "history.jsonl"

// MaxBytes is the size at which the history file is rotated.
const MaxBytes = 1 << 20

// Kinds of Entry.
const (
	KindFault    = "fault"
	KindScenario = "scenario"
)

// StateDir is where kubectl-chaos keeps its local state (history, the scenario locks):
// $KUBECTL_CHAOS_STATE_DIR, else $XDG_STATE_HOME/kubectl-chaos, else
// ~/.local/state/kubectl-chaos (on every OS, as the config file's ~/.config).
func StateDir() (string, error) {
	if d := os.Getenv(EnvStateDir); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "kubectl-chaos"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: set %s or $HOME: %w", EnvStateDir, err)
	}
	return filepath.Join(home, ".local", "state", "kubectl-chaos"), nil
}

// Entry is one run.
type Entry struct {
	// ID is the experiment's ID (a fault verb) or the scenario run's.
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Command   string    `json:"command"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
	// Targets are namespace/pod/container (namespace/pod for an API-only fault).
	Targets []string `json:"targets,omitempty"`
	// Result is the report's reason (completed, interrupted, failed, detached) or the
	// scenario's outcome (passed, failed, aborted, interrupted, skipped).
	Result   string `json:"result"`
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
	// Experiments are a scenario run's fault steps' experiment IDs.
	Experiments []string `json:"experiments,omitempty"`
	// Firing numbers a scheduled or repeated run (1, 2, …); 0 for a single run.
	Firing int `json:"firing,omitempty"`
}

// Duration is how long the run took.
func (e Entry) Duration() time.Duration { return e.EndedAt.Sub(e.StartedAt) }

// Store is the history file of one state directory. The zero Store (Dir "") records
// nothing and reads nothing.
type Store struct {
	Dir string
	// MaxBytes overrides the rotation size (tests); 0 means MaxBytes.
	MaxBytes int64
}

// Path is the history file.
func (s Store) Path() string { return filepath.Join(s.Dir, FileName) }

// Append adds e as one line, rotating the file first when the line would take it past
// the limit. One write per line with O_APPEND: concurrent CLIs do not interleave lines.
func (s Store) Append(e Entry) error {
	if s.Dir == "" {
		return nil
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	limit := s.MaxBytes
	if limit <= 0 {
		limit = MaxBytes
	}
	path := s.Path()
	if st, err := os.Stat(path); err == nil && st.Size() > 0 && st.Size()+int64(len(line)) > limit {
		if err := os.Rename(path, path+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("history: rotating %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	_, werr := f.Write(line)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("history: writing %s: %w", path, werr)
	}
	return nil
}

// Read returns the last limit entries (all when limit <= 0), oldest first, from the
// rotated file and the current one, and how many lines could not be read (a line cut
// short by a crash, say).
func (s Store) Read(limit int) ([]Entry, int, error) {
	if s.Dir == "" {
		return nil, 0, nil
	}
	var all []Entry
	bad := 0
	for _, p := range []string{s.Path() + ".1", s.Path()} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("history: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64*1024), MaxBytes)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var e Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID == "" {
				bad++
				continue
			}
			all = append(all, e)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].StartedAt.Before(all[j].StartedAt) })
	if limit > 0 && len(all) > limit {
		all = all[len(all)-limit:]
	}
	return all, bad, nil
}

// CommandLine is the command as it ran, rebuilt from cobra: the command path, the
// positional args and every flag given (in its parsed form).
func CommandLine(cmd *cobra.Command, args []string) string {
	parts := []string{cmd.CommandPath()}
	for _, a := range args {
		parts = append(parts, quote(a))
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, x := range sv.GetSlice() {
				parts = append(parts, "--"+f.Name+"="+quote(x))
			}
			return
		}
		if f.Value.Type() == "bool" && v == "true" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name+"="+quote(v))
	})
	return strings.Join(parts, " ")
}

func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"'$`\\*?;&|<>()") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
