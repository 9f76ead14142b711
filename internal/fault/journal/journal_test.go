package journal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// testRecoverer records the order of removals and can be told to fail or to find
// objects already gone.
type testRecoverer struct {
	mu      sync.Mutex
	removed []string
	fail    map[string]int // name -> remaining failures
	present map[string]bool
}

func (r *testRecoverer) recover(ctx context.Context, e Entry) error {
	var d struct{ Name string }
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[d.Name] > 0 {
		r.fail[d.Name]--
		return errors.New("injected failure")
	}
	if r.present != nil && !r.present[d.Name] {
		return nil // already gone: success
	}
	r.removed = append(r.removed, d.Name)
	if r.present != nil {
		delete(r.present, d.Name)
	}
	return nil
}

var rec = &testRecoverer{}

func init() {
	RegisterRecoverer("test", func(ctx context.Context, e Entry) error { return rec.recover(ctx, e) })
}

func reset() *testRecoverer {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.removed = nil
	rec.fail = map[string]int{}
	rec.present = nil
	return rec
}

func entry(name string) Entry {
	d, _ := json.Marshal(map[string]string{"Name": name})
	return Entry{Type: "test", NetnsInode: 4026531840, Data: d, Object: plan.Object{Kind: "test", Spec: name, Remove: "del " + name}}
}

var tgt = plan.Target{Namespace: "default", Pod: "web-1", Container: "app", ContainerID: "containerd://abc"}

func meta(exp string) Meta {
	return Meta{Experiment: exp, Deadline: time.Now().Add(time.Hour).UTC().Truncate(time.Second), HelperPodUID: "uid-1", Restart: 2}
}

func TestCreateRecordRead(t *testing.T) {
	dir := t.TempDir()
	j, err := Create(dir, meta("exp1"), tgt)
	if err != nil {
		t.Fatal(err)
	}
	want := PathFor(dir, "exp1", tgt)
	if j.Path() != want || !strings.HasSuffix(want, "/exp1/default_web-1_app.json") {
		t.Fatalf("path %s, want %s", j.Path(), want)
	}
	// The file exists before any entry, with the metadata.
	f, err := Read(want)
	if err != nil {
		t.Fatal(err)
	}
	if f.Experiment != "exp1" || f.HelperPodUID != "uid-1" || f.Restart != 2 || f.Target.String() != tgt.String() || f.Target.ContainerID != tgt.ContainerID || len(f.Entries) != 0 {
		t.Fatalf("fresh journal = %+v", f)
	}
	for i, n := range []string{"a", "b", "c"} {
		if err := j.Record(entry(n)); err != nil {
			t.Fatal(err)
		}
		// Durable on return: the file on disk already has the entry.
		f, err := Read(want)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Entries) != i+1 || string(f.Entries[i].Data) != string(entry(n).Data) || f.Entries[i].Object.Spec != n {
			t.Fatalf("after Record(%s): %+v", n, f.Entries)
		}
	}
	// No temporary files left behind by the atomic writes.
	ents, _ := os.ReadDir(filepath.Dir(want))
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("journal dir holds %v, want only the journal", names)
	}
	if got := j.Pending(); len(got) != 3 {
		t.Fatalf("pending = %v", got)
	}
}

func TestCreateRejectsBadExperiment(t *testing.T) {
	for _, e := range []string{"", "..", "a/b", ".", ".hidden", `a\\b`} {
		if _, err := Create(t.TempDir(), Meta{Experiment: e}, tgt); err == nil {
			t.Errorf("Create(experiment %q) succeeded", e)
		}
	}
}

func TestRecoverReverseOrderAndCleanup(t *testing.T) {
	r := reset()
	dir := t.TempDir()
	j, _ := Create(dir, meta("exp1"), tgt)
	for _, n := range []string{"a", "b", "c"} {
		j.Record(entry(n))
	}
	removed, err := Recover(context.Background(), j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.removed, ","); got != "c,b,a" {
		t.Fatalf("removal order %s, want c,b,a", got)
	}
	if len(removed) != 3 || removed[0].Spec != "c" {
		t.Fatalf("removed = %v", removed)
	}
	if _, err := os.Stat(j.Path()); !os.IsNotExist(err) {
		t.Fatalf("journal file still there: %v", err)
	}
	if _, err := os.Stat(ExperimentDir(dir, "exp1")); !os.IsNotExist(err) {
		t.Fatalf("empty experiment dir still there: %v", err)
	}
	// Recovering again (file gone) is a no-op success.
	if removed, err := Recover(context.Background(), j.Path()); err != nil || len(removed) != 0 {
		t.Fatalf("second Recover = %v, %v", removed, err)
	}
}

func TestRecoverIdempotentAfterPartialFailure(t *testing.T) {
	r := reset()
	r.fail["a"] = 1
	r.present = map[string]bool{"a": true, "b": true}
	dir := t.TempDir()
	j, _ := Create(dir, meta("exp1"), tgt)
	j.Record(entry("a"))
	j.Record(entry("b"))
	j.Record(entry("gone")) // recorded, but never created (crash between Record and create)
	_, err := Recover(context.Background(), j.Path())
	if err == nil {
		t.Fatal("Recover with a failing entry succeeded")
	}
	f, err2 := Read(j.Path())
	if err2 != nil {
		t.Fatalf("journal must survive a failed recovery: %v", err2)
	}
	if !f.Entries[1].Removed || !f.Entries[2].Removed || f.Entries[0].Removed {
		t.Fatalf("removed marks = %v %v %v, want false true true", f.Entries[0].Removed, f.Entries[1].Removed, f.Entries[2].Removed)
	}
	// Second run retries only "a".
	removed, err := Recover(context.Background(), j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Spec != "a" {
		t.Fatalf("second Recover removed %v, want only a", removed)
	}
	if got := strings.Join(r.removed, ","); got != "b,a" {
		t.Fatalf("removals %s, want b,a (each once)", got)
	}
	if _, err := os.Stat(j.Path()); !os.IsNotExist(err) {
		t.Fatal("journal file left after full recovery")
	}
}

func TestRecoverUnknownType(t *testing.T) {
	dir := t.TempDir()
	j, _ := Create(dir, meta("exp1"), tgt)
	j.Record(Entry{Type: "from-the-future", Data: json.RawMessage(`{}`)})
	if _, err := j.Recover(context.Background()); err == nil || !strings.Contains(err.Error(), "no recoverer") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(j.Path()); err != nil {
		t.Fatal("journal with an unrecoverable entry must stay")
	}
}

func TestDone(t *testing.T) {
	dir := t.TempDir()
	l, err := TryLock(dir, "exp1")
	if err != nil {
		t.Fatal(err)
	}
	j, _ := Create(dir, meta("exp1"), tgt)
	j.Record(entry("a"))
	if err := j.Done(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(j.Path()); !os.IsNotExist(err) {
		t.Fatal("journal file left after Done")
	}
	// The lock file keeps the directory until the lock is released.
	if _, err := os.Stat(ExperimentDir(dir, "exp1")); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, err := os.Stat(ExperimentDir(dir, "exp1")); !os.IsNotExist(err) {
		t.Fatal("experiment dir left after Release")
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := TryLock(dir, "exp1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(dir, "exp1"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock err = %v, want ErrLocked", err)
	}
	start := time.Now()
	if _, err := WaitLock(context.Background(), dir, "exp1", 150*time.Millisecond); !errors.Is(err, ErrLocked) || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("WaitLock err = %v after %s", err, time.Since(start))
	}
	l.Release()
	l2, err := TryLock(dir, "exp1")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

// fakeProc builds a /proc with one process per cgroup content.
func fakeProc(t *testing.T, cgroups ...string) string {
	root := t.TempDir()
	for i, c := range cgroups {
		d := filepath.Join(root, string(rune('1'+i)))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "cgroup"), []byte(c), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	return root
}

func TestSweep(t *testing.T) {
	now := time.Now()
	const alive = "11111111-2222-3333-4444-555555555555"
	proc := fakeProc(t,
		"0::/init.scope\n",
		"12:pids:/kubepods/besteffort/pod"+alive+"/abcdef\n0::/\n",
	)
	type exp struct {
		name     string
		deadline time.Time
		uid      string
		locked   bool
		swept    string // reason, "" = left alone
	}
	cases := []exp{
		{"past-deadline", now.Add(-time.Second), alive, false, SweepDeadline},
		{"past-deadline-locked", now.Add(-time.Second), "", true, ""},
		{"helper-gone", now.Add(time.Hour), "99999999-0000-0000-0000-000000000000", false, SweepHelperGone},
		{"helper-gone-locked", now.Add(time.Hour), "99999999-0000-0000-0000-000000000000", true, ""},
		{"helper-alive", now.Add(time.Hour), alive, false, ""},
		{"uid-unknown", now.Add(time.Hour), "", false, ""},
	}
	r := reset()
	dir := t.TempDir()
	var locks []*Lock
	for _, c := range cases {
		j, err := Create(dir, Meta{Experiment: c.name, Deadline: c.deadline, HelperPodUID: c.uid}, tgt)
		if err != nil {
			t.Fatal(err)
		}
		j.Record(entry(c.name))
		if c.locked {
			l, err := TryLock(dir, c.name)
			if err != nil {
				t.Fatal(err)
			}
			locks = append(locks, l)
		}
	}
	// A stale empty experiment dir (agent died after recovering) is tidied up.
	os.MkdirAll(filepath.Join(dir, "stale"), 0o700)

	swept, err := SweepWith(context.Background(), SweepOptions{Dir: dir, Now: now, ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range swept {
		got[s.Experiment] = s.Reason
		if len(s.Removed) != 1 || s.Removed[0].Spec != s.Experiment {
			t.Errorf("%s: removed %v", s.Experiment, s.Removed)
		}
	}
	for _, c := range cases {
		if got[c.name] != c.swept {
			t.Errorf("%s: swept %q, want %q", c.name, got[c.name], c.swept)
		}
		_, err := os.Stat(PathFor(dir, c.name, tgt))
		if gone := os.IsNotExist(err); gone != (c.swept != "") {
			t.Errorf("%s: journal gone = %v, want %v", c.name, gone, c.swept != "")
		}
		if c.swept != "" {
			if _, err := os.Stat(ExperimentDir(dir, c.name)); !os.IsNotExist(err) {
				t.Errorf("%s: experiment dir left after sweep", c.name)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Error("stale empty experiment dir not removed")
	}
	if len(r.removed) != 2 {
		t.Errorf("recoverer ran for %v, want the two swept experiments", r.removed)
	}
	for _, l := range locks {
		l.Release()
	}
}

func TestPodAlive(t *testing.T) {
	uid := "0a1b2c3d-0000-1111-2222-333344445555"
	cases := map[string]bool{
		"12:pids:/kubepods/besteffort/pod" + uid + "/abc\n":                                                                       true,
		"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/x\n": true,
		"0::/kubepods/besteffort/pod0a1b2c3d-0000-1111-2222-999999999999/abc\n":                                                   false,
	}
	for cg, want := range cases {
		if got := PodAlive(fakeProc(t, cg), uid); got != want {
			t.Errorf("PodAlive(%q) = %v, want %v", cg, got, want)
		}
	}
}

// BenchmarkRecord measures one durable journal write (temp file, fsync, rename, fsync
// dir): the cost the agent pays before each kernel object it creates.
func BenchmarkRecord(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("JOURNAL_BENCH_DIR"); d != "" {
		dir = d
	}
	j, err := Create(dir, meta("bench"), tgt)
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(ExperimentDir(dir, "bench"))
	for i := 0; b.Loop(); i++ {
		if i%8 == 0 { // keep the file at a realistic size (a few entries)
			j.f.Entries = j.f.Entries[:0]
		}
		if err := j.Record(entry("x")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecoverFile measures recovering a 4-entry journal from disk (no-op recoverer).
func BenchmarkRecoverFile(b *testing.B) {
	reset()
	dir := b.TempDir()
	for b.Loop() {
		j, _ := Create(dir, meta("bench"), tgt)
		for _, n := range []string{"a", "b", "c", "d"} {
			j.Record(entry(n))
		}
		if _, err := Recover(context.Background(), j.Path()); err != nil {
			b.Fatal(err)
		}
	}
}
