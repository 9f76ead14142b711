package journal

import (
	"context"
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func newEntry(t *testing.T, name string) Entry {
	t.Helper()
	e, err := NewEntry("test", 4026531840, map[string]string{"Name": name}, plan.Object{Kind: "test", Spec: name, Remove: "del " + name})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestNeverCreatedIsNotRecovered: an entry whose create the kernel refused is recovered
// without its recoverer (the object with that name is another's), from memory and from
// the file the journal wrote; an entry without a nonce, or another entry, is recovered
// as usual.
func TestNeverCreatedIsNotRecovered(t *testing.T) {
	r := reset()
	a, b := newEntry(t, "a"), newEntry(t, "b")
	if a.Nonce == "" || a.Nonce == b.Nonce || string(a.Data) != `{"Name":"a"}` {
		t.Fatalf("NewEntry: nonces %q %q, data %s", a.Nonce, b.Nonce, a.Data)
	}
	plain := entry("plain") // no nonce: cannot be marked
	MarkNeverCreated(b, plain)

	j, err := Create(t.TempDir(), meta("exp-nonce"), tgt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{a, b, plain} {
		if err := j.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Read(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if f.Entries[1].Nonce != b.Nonce {
		t.Fatalf("nonce on disk %q, want %q", f.Entries[1].Nonce, b.Nonce)
	}
	removed, err := Recover(context.Background(), j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.removed, ","); got != "plain,a" {
		t.Errorf("recoverer called for %s, want plain,a (not b: never created)", got)
	}
	// The journal is done with all three: b's object counts as gone.
	if len(removed) != 3 {
		t.Errorf("removed %v, want all three entries settled", removed)
	}

	// RecoverEntry alone (what the agent's in-process recovery and the tests use).
	r = reset()
	if err := RecoverEntry(context.Background(), b); err != nil || len(r.removed) != 0 {
		t.Errorf("RecoverEntry(never created) = %v, recoverer saw %v", err, r.removed)
	}
	if err := RecoverEntry(context.Background(), a); err != nil || len(r.removed) != 1 {
		t.Errorf("RecoverEntry(created) = %v, recoverer saw %v", err, r.removed)
	}
}
