package noop

import (
	"context"
	"errors"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

type recorder struct{ entries []journal.Entry }

func (r *recorder) Record(e journal.Entry) error { r.entries = append(r.entries, e); return nil }

func TestNoop(t *testing.T) {
	tgt := fault.Target{Target: plan.Target{Namespace: "ns", Pod: "p", Container: "c"}}
	cases := []struct {
		name                string
		spec                *plan.Noop
		applyErr, recoverOK bool
	}{
		{"ok", nil, false, true},
		{"failApply", &plan.Noop{FailApply: true}, true, true},
		{"failRecover", &plan.Noop{FailRecover: true}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inj, err := fault.New(plan.Fault{Kind: plan.KindNoop, Noop: c.spec})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			a, err := inj.Apply(context.Background(), tgt, rec)
			if len(rec.entries) != 1 || rec.entries[0].Type != EntryType {
				t.Fatalf("journal entries %+v, want one noop entry recorded before any failure", rec.entries)
			}
			if (err != nil) != c.applyErr || (c.applyErr && !errors.Is(err, ErrApply)) {
				t.Fatalf("apply err %v", err)
			}
			jerr := journal.RecoverEntry(context.Background(), rec.entries[0])
			if (jerr == nil) != c.recoverOK {
				t.Fatalf("journal recovery err %v", jerr)
			}
			if a == nil {
				return
			}
			objs, err := a.Recover(context.Background())
			if (err == nil) != c.recoverOK {
				t.Fatalf("recover err %v", err)
			}
			if c.recoverOK && (len(objs) != 1 || objs[0].Kind != "noop") {
				t.Fatalf("recovered %v", objs)
			}
			// Idempotent: the second Recover succeeds and removes nothing more.
			if objs, err := a.Recover(context.Background()); c.recoverOK && (err != nil || len(objs) != 0) {
				t.Fatalf("second recover %v %v", objs, err)
			}
		})
	}
	if _, err := New(plan.Fault{Kind: plan.KindNetwork}); err == nil {
		t.Fatal("noop accepted a network fault")
	}
}
