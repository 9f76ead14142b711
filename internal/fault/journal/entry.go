// Package journal is the agent's crash-safe record of every kernel object it creates.
// An Entry is written (and fsync'd) before the object exists, with exactly what is
// needed to remove it, so recovery works from the journal alone.
package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Entry is one kernel object the agent is about to create.
type Entry struct {
	// Type selects the Recoverer, e.g. "tc-qdisc", "nft-table".
	Type string `json:"type"`
	// NetnsInode identifies the network namespace the object lives in (0 = not in a netns).
	NetnsInode uint64 `json:"netnsInode,omitempty"`
	// Data is the type-specific removal record (interface, handle, table name, ...).
	Data json.RawMessage `json:"data"`
	// Object is the human description, for events and dry-run.
	Object plan.Object `json:"object"`
	// Nonce names this entry within the agent that recorded it (NewEntry sets it); see
	// MarkNeverCreated.
	Nonce string `json:"nonce,omitempty"`
}

// Recoverer removes the object an Entry describes. It must be idempotent (an object
// that is already gone is success) and remove only what the tool owns.
type Recoverer func(ctx context.Context, e Entry) error

var (
	mu         sync.RWMutex
	recoverers = map[string]Recoverer{}
)

// RegisterRecoverer makes Recover able to handle entries of type typ.
func RegisterRecoverer(typ string, r Recoverer) {
	mu.Lock()
	defer mu.Unlock()
	recoverers[typ] = r
}

// RecoverEntry removes the object of one entry with its registered Recoverer. An entry
// marked never-created (MarkNeverCreated) is done without calling it.
func RecoverEntry(ctx context.Context, e Entry) error {
	if wasNeverCreated(e) {
		return nil // the create was refused: whatever has that name or handle is another's
	}
	mu.RLock()
	r := recoverers[e.Type]
	mu.RUnlock()
	if r == nil {
		return fmt.Errorf("journal: no recoverer for entry type %q (agent too old for this journal?)", e.Type)
	}
	return r(ctx, e)
}
