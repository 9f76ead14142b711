package network

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Two experiments on one pod (issue: TestSecondExperimentSameTarget in internal/e2e).

// expTarget is the topology's target as experiment exp would resolve it.
func (tp *topo) expTarget(exp string) fault.Target {
	ft := tp.faultTarget()
	ft.Experiment = exp
	return ft
}

// applyExp applies n for experiment exp; the error is returned, not fatal.
func applyExp(t *testing.T, tp *topo, exp string, n plan.Network) (fault.Active, *memRecorder, error) {
	t.Helper()
	inj, err := fault.New(plan.Fault{Kind: plan.KindNetwork, Network: &n})
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	act, err := inj.Apply(context.Background(), tp.expTarget(exp), rec)
	return act, rec, err
}

// recoverJournal runs the journal recoverers over rec's entries, newest first, the way
// the agent does after a failed apply or a crash.
func recoverJournal(t *testing.T, rec *memRecorder) {
	t.Helper()
	for i := len(rec.entries) - 1; i >= 0; i-- {
		if err := journal.RecoverEntry(context.Background(), rec.entries[i]); err != nil {
			t.Fatalf("journal recovery of %s %s: %v", rec.entries[i].Type, rec.entries[i].Data, err)
		}
	}
}

// TestTwoExperimentsNFTCompose: nft loss of one experiment and an nft partition of
// another on the same pod are both active at once, each in its own owned table, and each
// recovery (graceful and from the journal) removes only its own.
func TestTwoExperimentsNFTCompose(t *testing.T) {
	tp := newTopo(t)
	before := tp.ourObjects()
	loss, lossRec, err := applyExp(t, tp, "chaos-aaaaaaaa", plan.Network{Loss: &plan.Percent{Percent: 40}, LossBackend: BackendNFT})
	if err != nil {
		t.Fatal(err)
	}
	part, partRec, err := applyExp(t, tp, "chaos-bbbbbbbb", plan.Network{Partition: &plan.Partition{Direction: "to", Peers: []string{cli4b + "/32"}}})
	if err != nil {
		t.Fatalf("second experiment (partition) on the same pod: %v", err)
	}
	objs := tp.ourObjects()
	if len(objs) != len(before)+2 {
		t.Fatalf("objects with both active: %v, want two tables", objs)
	}
	t.Logf("both active: %v", objs)

	toCli := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7801, lossPackets)
	toB := udpOneWay(t, tp.target, tgt4, tp.client, cli4b, 7802, 500)
	assertNear(t, "loss % to the loss-only peer, both active", toCli.lossPct(), 40, 3)
	if toB.lossPct() != 100 {
		t.Errorf("partitioned peer, both active: %.1f%% dropped, want 100%%", toB.lossPct())
	}

	// The partition ends: graceful, then its journal (as the agent does); the loss stays.
	if _, err := part.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	recoverJournal(t, partRec)
	if got := tp.ourObjects(); len(got) != len(before)+1 {
		t.Fatalf("after the partition's recovery: %v, want the loss table only", got)
	}
	toB = udpOneWay(t, tp.target, tgt4, tp.client, cli4b, 7803, lossPackets)
	assertNear(t, "loss % to the formerly partitioned peer, loss only", toB.lossPct(), 40, 3)

	// The loss ends; traffic is back to normal everywhere.
	if _, err := loss.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	recoverJournal(t, lossRec)
	if got := tp.ourObjects(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after both recoveries: %v, want %v", got, before)
	}
	for _, dst := range []string{cli4, cli4b} {
		if r := udpOneWay(t, tp.target, tgt4, tp.client, dst, 7804, 500); r.recv != r.sent {
			t.Errorf("after both recoveries, to %s: lost %d of %d", dst, r.sent-r.recv, r.sent)
		}
	}
}

// TestSameExperimentTwiceOnPodRefused: the per-experiment table name is taken, so a
// second apply of the same experiment is refused before it journals anything; and if the
// kernel refuses the create instead (check skipped: the race), the journal recovery of
// the refused apply removes nothing.
func TestSameExperimentTwiceOnPodRefused(t *testing.T) {
	tp := newTopo(t)
	n := plan.Network{Loss: &plan.Percent{Percent: 100}, LossBackend: BackendNFT}
	first, _, err := applyExp(t, tp, "chaos-aaaaaaaa", n)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Recover(context.Background())
	objs := tp.ourObjects()

	_, rec, err := applyExp(t, tp, "chaos-aaaaaaaa", n)
	if err == nil || !strings.Contains(err.Error(), "already active on this pod") {
		t.Fatalf("second apply of the same experiment: %v, want a refusal", err)
	}
	if len(rec.entries) != 0 {
		t.Errorf("the refused apply journaled %d entries", len(rec.entries))
	}
	t.Logf("refused: %v", err)

	skipCollisionCheck = true
	_, rec, err = applyExp(t, tp, "chaos-aaaaaaaa", n)
	skipCollisionCheck = false
	if err == nil {
		t.Fatal("the kernel accepted a second owned table of the same name")
	}
	if len(rec.entries) == 0 {
		t.Fatal("without the check the create should have been journaled first")
	}
	t.Logf("kernel refusal: %v", err)
	recoverJournal(t, rec)
	if got := tp.ourObjects(); fmt.Sprint(got) != fmt.Sprint(objs) {
		t.Fatalf("recovering the refused apply changed the objects: %v, want %v", got, objs)
	}
	if r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7811, 300); r.lossPct() != 100 {
		t.Errorf("the first apply's 100%% loss after the second's recovery: %.1f%%", r.lossPct())
	}
	recoverClean(t, tp, first)
}

// TestSecondTCFaultRefused: a second experiment's tc fault on an interface that has our
// qdisc is refused before anything is journaled or created; the first's tbf still shapes
// after the refusal; and if the check is skipped (the race it and the netns lock
// prevent), the kernel's EEXIST marks the entry never-created, so recovering the second's
// journal removes nothing and the first's rate still applies.
func TestSecondTCFaultRefused(t *testing.T) {
	tp := newTopo(t)
	const rate = 20_000_000
	first, firstRec, err := applyExp(t, tp, "chaos-aaaaaaaa", plan.Network{Bandwidth: &plan.Bandwidth{Rate: rate}})
	if err != nil {
		t.Fatal(err)
	}
	objs := tp.ourObjects()
	for _, c := range []struct {
		name string
		n    plan.Network
	}{
		{"tbf", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 5_000_000}}},
		{"htb filtered", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 5_000_000}, Filter: plan.Filter{Ports: []uint16{7900}}}},
		{"netem", plan.Network{Loss: &plan.Percent{Percent: 10}, LossBackend: BackendNetem}},
		{"loss and tbf", plan.Network{Loss: &plan.Percent{Percent: 10}, LossBackend: BackendNFT, Bandwidth: &plan.Bandwidth{Rate: 5_000_000}}},
	} {
		_, rec, err := applyExp(t, tp, "chaos-bbbbbbbb", c.n)
		if err == nil || !strings.Contains(err.Error(), "eth0 in pod test/h5 already has a kubectl-chaos qdisc") || !strings.Contains(err.Error(), "stop it first") {
			t.Fatalf("%s: second tc fault: %v, want the refusal", c.name, err)
		}
		if len(rec.entries) != 0 {
			t.Errorf("%s: the refused fault journaled %d entries", c.name, len(rec.entries))
		}
		if got := tp.ourObjects(); fmt.Sprint(got) != fmt.Sprint(objs) {
			t.Errorf("%s: objects after the refusal: %v, want %v", c.name, got, objs)
		}
		t.Logf("%s refused: %v", c.name, err)
	}
	got := tcpTransfer(t, tp.target, tp.client, cli4, 7901, 5_000_000)
	assertNear(t, "first tbf Mbit/s after the refusals", got/1e6, rate/1e6, rate/1e6*0.10)

	// The race: the check is skipped, the entry is journaled, the kernel says EEXIST.
	skipCollisionCheck = true
	_, rec, err := applyExp(t, tp, "chaos-bbbbbbbb", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 5_000_000}})
	skipCollisionCheck = false
	if err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("create over our qdisc: %v, want EEXIST refused", err)
	}
	if len(rec.entries) != 1 || rec.entries[0].Type != EntryQdisc {
		t.Fatalf("journal of the raced apply: %+v, want one tc-qdisc entry", rec.entries)
	}
	recoverJournal(t, rec)
	if got := tp.ourObjects(); fmt.Sprint(got) != fmt.Sprint(objs) {
		t.Fatalf("recovering the refused apply's journal changed the objects: %v, want %v", got, objs)
	}
	got = tcpTransfer(t, tp.target, tp.client, cli4, 7902, 5_000_000)
	assertNear(t, "first tbf Mbit/s after the second's journal recovery", got/1e6, rate/1e6, rate/1e6*0.10)

	// A journal entry of another qdisc type (a crashed agent's netem) with our handle
	// leaves the first's tbf alone too.
	stale := rec.entries[0]
	stale.Data = []byte(fmt.Sprintf(`{"ifindex":%d,"ifname":"eth0","parent":"root","handle":%d,"kind":"netem","nonce":"0123456789abcdef"}`,
		mustIndex(t, tp, "eth0"), uint32(RootHandleMajor)<<16))
	if err := journal.RecoverEntry(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if got := tp.ourObjects(); fmt.Sprint(got) != fmt.Sprint(objs) {
		t.Fatalf("a netem entry removed the tbf: %v", got)
	}

	// The first ends normally and from its journal; nothing is left.
	if _, err := first.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	recoverJournal(t, firstRec)
	if left := tp.ourObjects(); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	after := tcpTransfer(t, tp.target, tp.client, cli4, 7903, 5_000_000)
	if after < 5*rate {
		t.Errorf("after recover: %.1f Mbit/s, want far above the %d Mbit/s limit", after/1e6, rate/1_000_000)
	}
}

// TestForeignRootQdiscRefused: a root qdisc that is not ours is never replaced.
func TestForeignRootQdiscRefused(t *testing.T) {
	tp := newTopo(t)
	l, err := tp.th.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	n := plan.Network{Bandwidth: &plan.Bandwidth{Rate: 2_000_000}}
	setup, err := buildTC(l, &n, netemWant{})
	if err != nil {
		t.Fatal(err)
	}
	q := setup.steps[0].qdisc
	q.Attrs().Handle = 0x10000
	if err := tp.th.QdiscAdd(q); err != nil {
		t.Fatal(err)
	}
	defer tp.th.QdiscDel(q)
	_, rec, err := applyExp(t, tp, "chaos-aaaaaaaa", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 5_000_000}})
	if err == nil || !strings.Contains(err.Error(), "that is not kubectl-chaos's") {
		t.Fatalf("apply over a foreign root qdisc: %v, want a refusal", err)
	}
	if len(rec.entries) != 0 {
		t.Errorf("journaled %d entries", len(rec.entries))
	}
	qs, _ := tp.th.QdiscList(l)
	found := false
	for _, x := range qs {
		found = found || x.Attrs().Handle == 0x10000
	}
	if !found {
		t.Fatal("the foreign root qdisc is gone")
	}
}

func mustIndex(t *testing.T, tp *topo, name string) int {
	t.Helper()
	l, err := tp.th.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

// TestNetnsLockExcludes: the lock taken around check-journal-create is one per netns
// inode, whichever path opened the namespace, and is released by unlock.
func TestNetnsLockExcludes(t *testing.T) {
	tp := newTopo(t)
	a, err := os.Open("/run/netns/" + tp.tName)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	unlock, err := lockNetns(context.Background(), a, tp.ino)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", tp.target))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lockNetns(ctx, b, tp.ino); err == nil {
		t.Fatal("a second holder took the netns lock while the first held it")
	}
	unlock()
	unlock2, err := lockNetns(ctx, b, tp.ino)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}
