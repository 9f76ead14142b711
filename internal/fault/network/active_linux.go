package network

import (
	"context"
	"errors"
	"os"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Active is an applied network fault. It keeps the nft socket open: the owned table
// lives as long as it does.
type Active struct {
	ns   *os.File
	h    *netlink.Handle
	ino  uint64
	node string

	roots     []qdiscData
	rootObjs  []plan.Object
	conn      *nft.Conn
	tables    []nft.Table
	tableObjs []plan.Object
	subs      []fault.Active
	objs      []plan.Object
	notes     []string

	mu      sync.Mutex
	done    bool
	removed []plan.Object
}

// Objects lists what was created.
func (a *Active) Objects() []plan.Object {
	out := append([]plan.Object{}, a.objs...)
	for _, s := range a.subs {
		out = append(out, s.Objects()...)
	}
	return out
}

// Notes says which fallbacks were chosen.
func (a *Active) Notes() []string { return a.notes }

// Recover removes everything in reverse order of creation and reports what it removed.
// Idempotent: a second call returns what the first removed.
func (a *Active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return a.removed, nil
	}
	var errs []error
	for i := len(a.subs) - 1; i >= 0; i-- {
		objs, err := a.subs[i].Recover(ctx)
		a.removed = append(a.removed, objs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	a.subs = nil
	errs = append(errs, a.deleteTables()...)
	for i := len(a.roots) - 1; i >= 0; i-- {
		if err := deleteOurRoot(a.h, a.roots[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		if i < len(a.rootObjs) {
			a.removed = append(a.removed, a.rootObjs[i])
		}
	}
	a.roots = nil
	err := errors.Join(errs...)
	if err == nil {
		a.done = true
		a.close()
	}
	return a.removed, err
}

// deleteTables deletes the nft tables; then closing the socket would delete owned ones
// anyway.
func (a *Active) deleteTables() []error {
	if a.conn == nil {
		return nil
	}
	var errs []error
	for i := len(a.tables) - 1; i >= 0; i-- {
		if err := a.conn.DeleteTable(a.tables[i]); err != nil {
			errs = append(errs, err)
		} else {
			a.removed = append(a.removed, a.tableObjs[i])
		}
	}
	if len(errs) == 0 {
		a.conn.Close()
		a.conn = nil
	}
	return errs
}

func (a *Active) close() {
	if a.h != nil {
		a.h.Close()
		a.h = nil
	}
	if a.ns != nil {
		a.ns.Close()
		a.ns = nil
	}
}
