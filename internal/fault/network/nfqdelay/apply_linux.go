//go:build linux

package nfqdelay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nfqueue"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Queue settings: deep enough for 100k pps × 0.5 s, a socket buffer that absorbs bursts,
// metadata only (the loop needs no payload), GSO packets whole (no segmentation cost),
// and fail-open.
const (
	queueMaxLen     = 1 << 16
	queueReadBuffer = 16 << 20
	queueFlags      = nfqueue.FlagFailOpen | nfqueue.FlagGSO
)

// entryData is the journal record of a delay: what recovery needs without the agent.
type entryData struct {
	Family string   `json:"family"`
	Table  string   `json:"table"`
	Queues []uint16 `json:"queues"`
	// PID is the agent process that owns the table (the kernel removes the table when
	// that process's netlink socket closes).
	PID int `json:"pid"`
}

// Active is an applied userspace delay.
type Active struct {
	table    nft.Table
	chains   []nft.Chain
	conn     *nft.Conn
	loops    map[uint16]engine
	objs     []plan.Object
	notes    []string
	maxDelay time.Duration
	key      string
	netns    string // "net:[inode]"

	once   sync.Once
	recErr error
}

var (
	activeMu sync.Mutex
	actives  = map[string]*Active{} // by journal key, for in-process journal recovery
)

func init() { journal.RegisterRecoverer(EntryType, recoverEntry) }

// Apply installs the delay in t's network namespace; d and f are what the network
// kind's Validate accepted. The journal entry is recorded before anything is created. On
// error nothing is left behind (an owned table dies with its socket, which Apply closes).
func Apply(ctx context.Context, t fault.Target, d plan.Delay, f plan.Filter, rec fault.Recorder) (fault.Active, error) {
	return ApplySpec(ctx, t, Spec{Delay: &d}, f, rec)
}

// ApplySpec is Apply for everything the engine does (delay with reorder, corrupt).
func ApplySpec(ctx context.Context, t fault.Target, s Spec, f plan.Filter, rec fault.Recorder) (fault.Active, error) {
	rules := rulesOf(s, f)
	if len(rules) == 0 {
		return nil, fmt.Errorf("delay: filter %+v matches no traffic", f)
	}
	nsf, err := os.Open(t.NetnsPath)
	if err != nil {
		return nil, fmt.Errorf("delay: open netns of %s (%s): %w", t.Target, t.NetnsPath, err)
	}
	defer nsf.Close()

	// Named per experiment and pod netns, so another experiment's table on the same pod
	// never has this name (see nft.ExperimentTableName).
	table := nft.Table{Family: nft.FamilyINet, Name: tableName(t), Owner: true}
	a := &Active{table: table, loops: map[uint16]engine{},
		key: journalKey(t.NetnsInode, table.Name), netns: fmt.Sprintf("net:[%d]", t.NetnsInode)}
	if s.Delay != nil {
		a.maxDelay = maxDelay(*s.Delay, f)
	}
	ok := false
	defer func() {
		if !ok {
			a.teardown()
		}
	}()
	// Queues first: a rule never points at a queue nobody serves (bypass would let
	// packets through undelayed, which is safe but wrong).
	queues, factors := queuesOf(rules)
	for _, q := range queues {
		seed := uint64(time.Now().UnixNano()) + uint64(q)
		var err error
		if q == QueueCorrupt {
			err = a.bindCorrupt(nsf, seed)
		} else {
			err = a.bindQueue(nsf, q, newSampler(*s.Delay, factors[q], seed), newReorderer(s.Reorder, seed+1))
		}
		if err != nil {
			return nil, err
		}
	}
	// Record before the table exists.
	entry, err := journal.NewEntry(EntryType, t.NetnsInode, entryData{Family: "inet", Table: table.Name, Queues: queues, PID: os.Getpid()}, a.describe(s, f, "queue")[0])
	if err != nil {
		return nil, err
	}
	if err := rec.Record(entry); err != nil {
		return nil, fmt.Errorf("delay: journal table %s: %w", table.Name, err)
	}
	if a.conn, err = nft.Dial(int(nsf.Fd())); err != nil {
		return nil, fmt.Errorf("delay: %w", err)
	}
	if err := a.createTable(rules, s, f); err != nil {
		// Every attempt was one refused transaction: nothing of ours exists.
		journal.MarkNeverCreated(entry)
		return nil, err
	}
	ok = true
	activeMu.Lock()
	actives[a.key] = a
	activeMu.Unlock()
	return a, nil
}

// queuesOf lists the queues the rules use, in order, with their latency factors.
func queuesOf(rules []hookRule) ([]uint16, map[uint16]int) {
	var queues []uint16
	factors := map[uint16]int{}
	for _, r := range rules {
		if _, ok := factors[r.Queue()]; !ok {
			queues = append(queues, r.Queue())
		}
		factors[r.Queue()] = r.Factor
	}
	return queues, factors
}

// bindQueue binds queue q in the namespace nsf and starts its delay loop (reordering
// when o is not nil).
func (a *Active) bindQueue(nsf *os.File, q uint16, s *sampler, o *reorderer) error {
	nq, err := a.open(nfqueue.Config{
		NetNS: int(nsf.Fd()), Queue: q, Copy: nfqueue.CopyMeta,
		MaxLen: queueMaxLen, Flags: queueFlags, ReadBuffer: queueReadBuffer,
	})
	if err != nil {
		return err
	}
	a.loops[q] = startLoop(nq, s, o)
	return nil
}

// bindCorrupt binds the corrupt queue in the namespace nsf and starts its loop. It
// copies whole packets and takes no GSO packets (the kernel segments them first: a
// changed GSO packet would be segmented after the change).
func (a *Active) bindCorrupt(nsf *os.File, seed uint64) error {
	nq, err := a.open(nfqueue.Config{
		NetNS: int(nsf.Fd()), Queue: QueueCorrupt, Copy: nfqueue.CopyPacket, CopyRange: 0xffff,
		MaxLen: queueMaxLen, Flags: nfqueue.FlagFailOpen, ReadBuffer: queueReadBuffer,
	})
	if err != nil {
		return err
	}
	a.loops[QueueCorrupt] = startCorrupt(nq, seed)
	return nil
}

func (a *Active) open(cfg nfqueue.Config) (*nfqueue.Queue, error) {
	nq, err := nfqueue.Open(cfg)
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("nfqueue %d in netns %s is already bound (another delay, reorder or corrupt experiment is active on this pod?): stop it first: %w", cfg.Queue, a.netns, err)
		}
		return nil, fmt.Errorf("bind nfqueue %d in netns %s: %w", cfg.Queue, a.netns, err)
	}
	return nq, nil
}

// createTable sends the table, its chains and rules in one batch, with the native queue
// expression, else the xt NFQUEUE target. A refused batch created nothing.
func (a *Active) createTable(rules []hookRule, s Spec, f plan.Filter) error {
	chains := map[string]nft.Chain{}
	for _, r := range rules {
		if _, ok := chains[r.chain()]; ok {
			continue
		}
		hook := nft.HookPrerouting
		if r.Hook == "output" {
			hook = nft.HookOutput
		}
		ch := nft.Chain{Table: a.table, Name: r.chain(), Hook: &nft.Hook{Hooknum: hook, Priority: int32(r.priority())}}
		chains[r.chain()] = ch
		a.chains = append(a.chains, ch)
	}
	var lastErr error
	for variant, v := range []struct{ name, words string }{
		{"queue", "queue"}, {"xt NFQUEUE (nft_compat)", "NFQUEUE (xt target via nft_compat)"},
	} {
		b, err := a.batch(rules, f, chains, variant)
		if err != nil {
			return fmt.Errorf("delay: build rules: %w", err)
		}
		if lastErr = a.conn.Send(b); lastErr == nil {
			a.objs = a.describe(s, f, v.words)
			if s.Delay != nil {
				a.notes = append(a.notes, Note(f))
			}
			a.notes = append(a.notes, "packets are steered to the queue with nft "+v.name)
			return nil
		}
	}
	return fmt.Errorf("delay: create table %s in netns %s (neither the nft queue expression nor the xt NFQUEUE target was accepted): %w", a.table.Name, a.netns, lastErr)
}

// describe is the objects of this delay, in its namespace.
func (a *Active) describe(s Spec, f plan.Filter, queueExpr string) []plan.Object {
	objs := describe(a.table.Name, s, f, queueExpr)
	for i := range objs {
		objs[i].Netns = a.netns
	}
	return objs
}

// batch builds table + chains + rules with the variant-th queue verdict.
func (a *Active) batch(rules []hookRule, f plan.Filter, chains map[string]nft.Chain, variant int) (*nft.Batch, error) {
	var b nft.Batch
	b.AddTable(a.table)
	for _, ch := range a.chains {
		b.AddChain(ch)
	}
	for _, r := range rules {
		m := r.match(f)
		sel := nft.Selector{
			Family: nft.FamilyINet, Direction: nft.Egress,
			Remote: m.Remote, Ports: m.Ports, Protocol: m.Protocol,
			Interfaces: m.Interfaces, SkipLoopback: m.SkipLoopback,
		}
		if m.Ingress {
			sel.Direction = nft.Ingress
		}
		alts, err := sel.Rules()
		if err != nil {
			return nil, err
		}
		verdict := nft.QueueVerdicts(r.Queue(), 1, nft.QueueBypass)[variant]
		for _, alt := range alts {
			var exprs []expr.Any
			if m.NotTCP {
				exprs = append(exprs,
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
			}
			exprs = append(exprs, alt...)
			exprs = append(exprs, nft.Counter()) // matched, read by Counters
			if r.Corrupt {
				exprs = append(exprs, nft.Random(r.Percent)...)
			}
			exprs = append(exprs, verdict)
			b.AddRule(chains[r.chain()], exprs)
		}
	}
	return &b, b.Err()
}

// Objects lists what Apply created.
func (a *Active) Objects() []plan.Object { return a.objs }

// Notes explains the backend and the hooks (fault.Notes).
func (a *Active) Notes() []string { return a.notes }

// Stats sums the loops' counters.
func (a *Active) Stats() Stats {
	var s Stats
	for _, l := range a.loops {
		ls := l.Stats()
		s.Packets += ls.Packets
		s.Batches += ls.Batches
		s.Overruns += ls.Overruns
		s.VerdictErrors += ls.VerdictErrors
		s.Reordered += ls.Reordered
		s.Corrupted += ls.Corrupted
		if ls.MaxHeld > s.MaxHeld {
			s.MaxHeld = ls.MaxHeld
		}
	}
	return s
}

// Recover flushes the rules (no packet is queued any more), waits until the held
// packets have left (at most one delay period plus a margin), then closes the queues
// and deletes the table. Idempotent.
func (a *Active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.once.Do(func() { a.recErr = a.recover(ctx) })
	return a.objs, a.recErr
}

func (a *Active) recover(ctx context.Context) error {
	var errs []error
	var b nft.Batch
	for _, ch := range a.chains {
		b.FlushChain(ch)
	}
	if err := a.conn.Send(&b); err != nil {
		errs = append(errs, fmt.Errorf("delay: flush rules of %s: %w", a.table.Name, err))
	}
	// Packets queued just before the flush may still be in the socket buffer: wait a
	// little before trusting Held()==0.
	start := time.Now()
	deadline := start.Add(a.maxDelay + 500*time.Millisecond)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if time.Since(start) >= 10*time.Millisecond && a.held() == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	errs = append(errs, a.teardown())
	return errors.Join(errs...)
}

func (a *Active) held() int64 {
	var n int64
	for _, l := range a.loops {
		n += l.Held()
	}
	return n
}

// teardown accepts what is held, closes the queues and deletes the table.
func (a *Active) teardown() error {
	var errs []error
	for _, l := range a.loops {
		l.Close()
	}
	if a.conn != nil {
		if err := a.conn.DeleteTable(a.table); err != nil {
			errs = append(errs, fmt.Errorf("delay: delete table %s: %w", a.table.Name, err))
		}
		if err := a.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	activeMu.Lock()
	if actives[a.key] == a {
		delete(actives, a.key)
	}
	activeMu.Unlock()
	return errors.Join(errs...)
}

// tableName is the delay's table for t: one per experiment and pod netns.
func tableName(t fault.Target) string {
	return nft.ExperimentTableName("delay", t.Experiment, fmt.Sprintf("%s/%s/%d", t.Namespace, t.Pod, t.NetnsInode))
}

func journalKey(inode uint64, table string) string { return fmt.Sprintf("%d/%s", inode, table) }

// recoverEntry removes a delay from its journal entry. A delay of this process is
// recovered gracefully. Otherwise the owned table died with its agent's socket; if it is
// still there its owner is alive and only that process (or its exit) can remove it.
func recoverEntry(ctx context.Context, e journal.Entry) error {
	var d entryData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("delay: decode journal entry: %w", err)
	}
	activeMu.Lock()
	a := actives[journalKey(e.NetnsInode, d.Table)]
	activeMu.Unlock()
	if a != nil {
		_, err := a.Recover(ctx)
		return err
	}
	nsf, err := nsutil.OpenByInode(e.NetnsInode)
	if err != nil {
		return fmt.Errorf("delay: find netns %d: %w", e.NetnsInode, err)
	}
	if nsf == nil {
		return nil // the namespace is gone, and the table with it
	}
	defer nsf.Close()
	c, err := nft.Dial(int(nsf.Fd()))
	if err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	defer c.Close()
	tables, err := c.Tables(nft.FamilyINet)
	if err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	for _, ti := range tables {
		if ti.Name != d.Table {
			continue
		}
		if ti.Flags&nft.TableFlagOwner != 0 {
			return fmt.Errorf("delay: table inet %s in netns %d is still owned by a live netlink socket (port id %d, recorded agent pid %d): it goes when that process exits",
				d.Table, e.NetnsInode, ti.Owner, d.PID)
		}
		return c.DeleteTable(nft.Table{Family: nft.FamilyINet, Name: d.Table})
	}
	return nil
}
