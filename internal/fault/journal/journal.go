package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// EnvPodUID is the helper container's environment variable holding its pod UID (set by
// the downward API). The sweep uses it to tell whether an experiment's helper still runs.
const EnvPodUID = "POD_UID"

// lockName is the per-experiment lock file, held (flock) by the live agent.
const lockName = ".lock"

// Meta is what a journal file says about the agent that wrote it.
type Meta struct {
	Experiment string    `json:"experiment"`
	Deadline   time.Time `json:"deadline"`
	Detached   bool      `json:"detached,omitempty"`
	// HelperPodUID is the UID of the helper pod that runs the agent ("" = unknown).
	HelperPodUID string `json:"helperPodUID,omitempty"`
	// Restart counts the agent's starts for this experiment on this node (0 = first).
	Restart int `json:"restart"`
}

// Record is an Entry as stored, with its recovery state.
type Record struct {
	Entry
	RecordedAt time.Time `json:"recordedAt"`
	// Removed is set once the object is known to be gone.
	Removed bool `json:"removed,omitempty"`
}

// File is the content of one journal file: one target of one experiment.
type File struct {
	Meta
	Target  plan.Target `json:"target"`
	Entries []Record    `json:"entries"`
}

// Journal is the open journal of one target. It implements fault.Recorder.
type Journal struct {
	mu   sync.Mutex
	path string
	f    File
}

// ExperimentDir is where the journals of one experiment live.
func ExperimentDir(dir, experiment string) string {
	return filepath.Join(dir, experiment)
}

// PathFor is the journal file of one target.
func PathFor(dir, experiment string, t plan.Target) string {
	return filepath.Join(ExperimentDir(dir, experiment), t.ID()+".json")
}

// Create writes a fresh journal (with no entries yet) for target t and returns it.
// An existing file for the same target is replaced: the caller recovers it first.
func Create(dir string, m Meta, t plan.Target) (*Journal, error) {
	if err := ValidName(m.Experiment); err != nil {
		return nil, err
	}
	edir := ExperimentDir(dir, m.Experiment)
	if err := os.MkdirAll(edir, 0o700); err != nil {
		return nil, fmt.Errorf("creating journal directory %s: %w", edir, err)
	}
	j := &Journal{path: PathFor(dir, m.Experiment, t), f: File{Meta: m, Target: t, Entries: []Record{}}}
	if err := j.write(); err != nil {
		return nil, err
	}
	return j, nil
}

// ValidName checks that an experiment ID can name its journal directory.
func ValidName(experiment string) error {
	if experiment == "" || strings.ContainsAny(experiment, `/\`) || strings.HasPrefix(experiment, ".") {
		return fmt.Errorf("journal: experiment %q cannot name a directory (no '/', '\\', leading '.')", experiment)
	}
	return nil
}

// Path of the journal file.
func (j *Journal) Path() string { return j.path }

// Record appends e and writes the journal durably; call it before creating the object.
func (j *Journal) Record(e Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.f.Entries = append(j.f.Entries, Record{Entry: e, RecordedAt: time.Now().UTC()})
	if err := j.writeLocked(); err != nil {
		j.f.Entries = j.f.Entries[:len(j.f.Entries)-1]
		return err
	}
	return nil
}

// Entries returns a copy of the records so far.
func (j *Journal) Entries() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Record(nil), j.f.Entries...)
}

// Pending returns the objects recorded and not yet removed, in creation order.
func (j *Journal) Pending() []plan.Object {
	j.mu.Lock()
	defer j.mu.Unlock()
	var objs []plan.Object
	for _, r := range j.f.Entries {
		if !r.Removed {
			objs = append(objs, r.Object)
		}
	}
	return objs
}

// Done says every recorded object is gone (the fault's own Recover removed them): the
// file is deleted, and the experiment directory too if nothing else is in it.
func (j *Journal) Done() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := range j.f.Entries {
		j.f.Entries[i].Removed = true
	}
	return removeFile(j.path)
}

// Recover removes the recorded objects from the journal alone (see RecoverFile).
func (j *Journal) Recover(ctx context.Context) ([]plan.Object, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return recoverLocked(ctx, j.path, &j.f)
}

func (j *Journal) write() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.writeLocked()
}

func (j *Journal) writeLocked() error { return writeFile(j.path, &j.f) }

// Read parses one journal file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", path, err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parsing journal %s: %w", path, err)
	}
	return &f, nil
}

// List returns the journal files of one experiment, sorted.
func List(dir, experiment string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(ExperimentDir(dir, experiment), "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(m)
	return m, nil
}

// Recover removes, in reverse order, every object recorded in the journal file at path
// and not yet marked removed, with the registered Recoverers. It works from the file
// alone and is idempotent. Each removal is written back as it happens; when all are
// gone the file is deleted (and the experiment directory if it is then empty). It
// returns the objects it removed.
func Recover(ctx context.Context, path string) ([]plan.Object, error) {
	f, err := Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return recoverLocked(ctx, path, f)
}

func recoverLocked(ctx context.Context, path string, f *File) ([]plan.Object, error) {
	var removed []plan.Object
	var errs []error
	for i := len(f.Entries) - 1; i >= 0; i-- {
		r := &f.Entries[i]
		if r.Removed {
			continue
		}
		if err := RecoverEntry(ctx, r.Entry); err != nil {
			errs = append(errs, fmt.Errorf("removing %s %q: %w", r.Object.Kind, r.Object.Spec, err))
			continue
		}
		r.Removed = true
		removed = append(removed, r.Object)
		// Write progress so a crash now does not redo (or worse, miss) work; a failed
		// write is not fatal: the recoverers are idempotent.
		if err := writeFile(path, f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("recovering %s from journal %s: %w", f.Target, path, errors.Join(errs...))
	}
	return removed, removeFile(path)
}

// writeFile writes f atomically and durably: temp file, fsync, rename, fsync dir.
func writeFile(path string, f *File) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding journal %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing journal %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing journal %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing journal %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing journal %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming journal into %s: %w", path, err)
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing journal directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing journal directory %s: %w", dir, err)
	}
	return nil
}

// removeFile deletes a journal file, then its experiment directory if that holds
// nothing else (the lock file counts: its holder removes it).
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing journal %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	_ = syncDir(dir)
	_ = os.Remove(dir) // fails while not empty, as intended
	return nil
}
