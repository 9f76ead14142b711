//go:build linux

package nfqdelay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// Nonce names this entry: a create this process saw refused is never recovered (the
	// table of that name, if any, is another's).
	Nonce string `json:"nonce,omitempty"`
}

// neverCreated holds the nonces of entries whose table create was refused (the batch is
// one transaction, so nothing of ours exists).
var neverCreated sync.Map

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Active is an applied userspace delay.
type Active struct {
	table    nft.Table
	chains   []nft.Chain
	conn     *nft.Conn
	loops    map[uint16]*loop
	objs     []plan.Object
	notes    []string
	maxDelay time.Duration
	key      string

	once   sync.Once
	recErr error
}

var (
	activeMu sync.Mutex
	actives  = map[string]*Active{} // by journal key, for in-process journal recovery
)

func init() { journal.RegisterRecoverer(EntryType, recoverEntry) }

// Apply installs the delay in t's network namespace. The journal entry is recorded
// before anything is created. On error nothing is left behind (an owned table dies with
// its socket, which Apply closes).
func Apply(ctx context.Context, t fault.Target, d plan.Delay, f plan.Filter, rec fault.Recorder) (fault.Active, error) {
	if err := Validate(d); err != nil {
		return nil, err
	}
	rules := layout(f)
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
	a := &Active{table: table, loops: map[uint16]*loop{}, maxDelay: maxDelay(d, f)}
	var queues []uint16
	factors := map[uint16]int{}
	for _, r := range rules {
		if _, ok := factors[r.Queue()]; !ok {
			queues = append(queues, r.Queue())
		}
		factors[r.Queue()] = r.Factor
	}
	nonce := newNonce()
	data, _ := json.Marshal(entryData{Family: "inet", Table: table.Name, Queues: queues, PID: os.Getpid(), Nonce: nonce})
	netns := fmt.Sprintf("net:[%d]", t.NetnsInode)
	a.key = journalKey(t.NetnsInode, table.Name)

	ok := false
	defer func() {
		if !ok {
			a.teardown()
		}
	}()
	// Queues first: a rule never points at a queue nobody serves (bypass would let
	// packets through undelayed, which is safe but wrong).
	for _, q := range queues {
		nq, err := nfqueue.Open(nfqueue.Config{
			NetNS: int(nsf.Fd()), Queue: q, Copy: nfqueue.CopyMeta,
			MaxLen: queueMaxLen, Flags: queueFlags, ReadBuffer: queueReadBuffer,
		})
		if err != nil {
			if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("delay: nfqueue %d in netns %s is already bound (another delay experiment is active on this pod?): stop it first: %w", q, netns, err)
			}
			return nil, fmt.Errorf("delay: bind nfqueue %d in netns %s: %w", q, netns, err)
		}
		a.loops[q] = startLoop(nq, newSampler(d, factors[q], uint64(time.Now().UnixNano())+uint64(q)))
	}

	// Record before the table exists.
	objs := describe(table.Name, d, f, "queue")
	for i := range objs {
		objs[i].Netns = netns
	}
	if err := rec.Record(journal.Entry{Type: EntryType, NetnsInode: t.NetnsInode, Data: data, Object: objs[0]}); err != nil {
		return nil, fmt.Errorf("delay: journal table %s: %w", table.Name, err)
	}
	c, err := nft.Dial(int(nsf.Fd()))
	if err != nil {
		return nil, fmt.Errorf("delay: %w", err)
	}
	a.conn = c

	chains := map[string]nft.Chain{}
	for _, r := range rules {
		if _, ok := chains[r.Hook]; ok {
			continue
		}
		hook := nft.HookPrerouting
		if r.Hook == "output" {
			hook = nft.HookOutput
		}
		ch := nft.Chain{Table: table, Name: chainName(r.Hook), Hook: &nft.Hook{Hooknum: hook, Priority: Priority}}
		chains[r.Hook] = ch
		a.chains = append(a.chains, ch)
	}
	var lastErr error
	for variant, name := range []string{"queue", "xt NFQUEUE (nft_compat)"} {
		b, err := a.batch(rules, f, chains, variant)
		if err != nil {
			return nil, fmt.Errorf("delay: build rules: %w", err)
		}
		if err := c.Send(b); err != nil {
			lastErr = err
			continue
		}
		lastErr = nil
		if variant > 0 {
			objs = describe(table.Name, d, f, "NFQUEUE (xt target via nft_compat)")
			for i := range objs {
				objs[i].Netns = netns
			}
		}
		a.notes = []string{Note(f), "packets are steered to the queue with nft " + name}
		break
	}
	if lastErr != nil {
		// Every attempt was one refused transaction: nothing of ours exists.
		neverCreated.Store(nonce, struct{}{})
		return nil, fmt.Errorf("delay: create table %s in netns %s (neither the nft queue expression nor the xt NFQUEUE target was accepted): %w", table.Name, netns, lastErr)
	}
	a.objs = objs
	ok = true
	activeMu.Lock()
	actives[a.key] = a
	activeMu.Unlock()
	return a, nil
}

// batch builds table + chains + rules with the variant-th queue verdict.
func (a *Active) batch(rules []hookRule, f plan.Filter, chains map[string]nft.Chain, variant int) (*nft.Batch, error) {
	var b nft.Batch
	b.AddTable(a.table)
	for _, ch := range a.chains {
		b.AddChain(ch)
	}
	for _, r := range rules {
		sel := nft.Selector{
			Family: nft.FamilyINet, Direction: nft.Egress,
			Remote: f.CIDRs, Ports: f.Ports, Protocol: r.Protocol,
			Interfaces: f.Interfaces, SkipLoopback: len(f.Interfaces) == 0,
		}
		if r.Ingress {
			sel.Direction = nft.Ingress
		}
		alts, err := sel.Rules()
		if err != nil {
			return nil, err
		}
		verdict := nft.QueueVerdicts(r.Queue(), 1, nft.QueueBypass)[variant]
		for _, alt := range alts {
			var exprs []expr.Any
			if r.NotTCP {
				exprs = append(exprs,
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
			}
			exprs = append(exprs, alt...)
			exprs = append(exprs, verdict)
			b.AddRule(chains[r.Hook], exprs)
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
	if _, refused := neverCreated.Load(d.Nonce); d.Nonce != "" && refused {
		return nil // the create was refused: a table of that name is not ours
	}
	activeMu.Lock()
	a := actives[journalKey(e.NetnsInode, d.Table)]
	activeMu.Unlock()
	if a != nil {
		_, err := a.Recover(ctx)
		return err
	}
	path, err := findNetns(e.NetnsInode)
	if err != nil {
		return fmt.Errorf("delay: find netns %d: %w", e.NetnsInode, err)
	}
	if path == "" {
		return nil // the namespace is gone, and the table with it
	}
	c, err := nft.DialPath(path)
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
