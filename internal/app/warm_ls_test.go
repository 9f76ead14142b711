package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// lsWarm runs kubectl chaos ls -o json on the world and returns its warm experiment's
// state, and the human table.
func (w *warmWorld) lsWarm(t *testing.T) (*session.WarmState, string) {
	t.Helper()
	r := w.start(t, nil, "ls", "-o", "json", "--events=false")
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("ls: %v\n%s", err, r.errOut.String())
	}
	var exps []session.Experiment
	if err := json.Unmarshal([]byte(r.out.String()), &exps); err != nil {
		t.Fatalf("ls -o json: %v\n%s", err, r.out.String())
	}
	var ws *session.WarmState
	for _, e := range exps {
		if e.Warm != nil {
			if ws != nil {
				t.Fatalf("two warm experiments in ls:\n%s", r.out.String())
			}
			ws = e.Warm
		}
	}
	if ws == nil {
		t.Fatalf("no warm experiment in ls -o json:\n%s", r.out.String())
	}
	h := w.start(t, nil, "ls", "--events=false")
	if err := h.wait(t, 10*time.Second); err != nil {
		t.Fatalf("ls: %v\n%s", err, h.errOut.String())
	}
	return ws, h.out.String()
}

// TestWarmLsSaysIdleOrServing: ls says a warm helper is idle, then, while a fault
// command's step runs on it, whose step it serves (ID, owner, fault, node, until when),
// and idle again once that command ended (Ctrl-C); the helpers' deadline is "warm until".
func TestWarmLsSaysIdleOrServing(t *testing.T) {
	w := newWarmWorld(t)
	w.warm(t, "10m")
	ws, table := w.lsWarm(t)
	if !ws.Idle() || len(ws.Stale) != 0 {
		t.Fatalf("right after warm: %+v, want idle", ws)
	}
	if time.Until(ws.Until) < 9*time.Minute || time.Until(ws.Until) > 10*time.Minute {
		t.Errorf("warm until %s, want about 10m from now", ws.Until)
	}
	if !strings.Contains(table, "warm until "+ws.Until.UTC().Format("15:04:05Z")+": idle") {
		t.Errorf("ls table does not say idle and until when:\n%s", table)
	}

	r := w.start(t, nil, "noop", "deploy/web", "--duration", "2m", "--yes")
	var serving *session.WarmState
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if !strings.Contains(r.errOut.String(), "using warm helper") {
			continue
		}
		if ws, table = w.lsWarm(t); len(ws.Steps) == 2 {
			serving = ws
			break
		}
	}
	if serving == nil {
		t.Fatalf("ls never showed the step on both warm helpers (last %+v)\n%s", ws, r.errOut.String())
	}
	id := serving.Steps[0].Step
	if !strings.Contains(r.errOut.String(), "experiment "+id+":") {
		t.Errorf("ls shows step %s, not the fault command's experiment:\n%s", id, r.errOut.String())
	}
	nodes := map[string]bool{}
	for _, st := range serving.Steps {
		nodes[st.Node] = true
		if st.Step != id || st.Owner == "" || !strings.HasPrefix(st.Fault, "noop") {
			t.Errorf("step record %+v: want step %s, an owner and the noop fault", st, id)
		}
		if d := time.Until(st.Until); d < time.Minute || d > 2*time.Minute {
			t.Errorf("step %s until %s, want the fault's deadline (2m from its start)", st.Step, st.Until)
		}
	}
	if len(nodes) != 2 {
		t.Errorf("steps on nodes %v, want both nodes of deploy/web", nodes)
	}
	if !strings.Contains(table, "serving "+id+" (") || strings.Contains(table, ": idle") {
		t.Errorf("ls table does not say serving %s:\n%s", id, table)
	}

	r.cancel()
	if err := r.wait(t, 30*time.Second); exit.Code(err) != exit.Interrupted {
		t.Fatalf("exit %d (%v) after Ctrl-C\n%s", exit.Code(err), err, r.errOut.String())
	}
	// The record is removed before the command returns.
	if ws, table = w.lsWarm(t); !ws.Idle() || len(ws.Stale) != 0 {
		t.Errorf("after the fault command ended: %+v, want idle\n%s", ws, table)
	}
}
