package journal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// NewEntry is an Entry of type typ whose removal record is data (marshalled to JSON),
// with a fresh nonce, so that MarkNeverCreated can name it.
func NewEntry(typ string, netnsInode uint64, data any, obj plan.Object) (Entry, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Entry{}, fmt.Errorf("journal: encoding the %s entry: %w", typ, err)
	}
	var n [8]byte
	_, _ = rand.Read(n[:])
	return Entry{Type: typ, NetnsInode: netnsInode, Data: b, Object: obj, Nonce: hex.EncodeToString(n[:])}, nil
}

// neverCreated holds the nonces of entries whose object this process tried to create
// and the kernel refused (EEXIST, EPERM, ...). Such a create is all or nothing (a root
// qdisc add, one nft batch), so nothing of ours exists, and the object with that name or
// handle, if any, belongs to someone else (another experiment on the same pod):
// recovering the entry must remove nothing. The journal has no way to drop an entry
// once written, so RecoverEntry consults this set; the agent recovers a failed apply's
// journal in the same process right away. A restarted agent has an empty set and
// recovers every entry, which is right: its predecessor may have died after the create.
var neverCreated sync.Map // nonce → struct{}

// MarkNeverCreated records that the kernel refused to create the objects of entries:
// RecoverEntry (and so Recover) in this process treats them as already gone. Entries
// without a nonce (not made by NewEntry) cannot be marked.
func MarkNeverCreated(entries ...Entry) {
	for _, e := range entries {
		if e.Nonce != "" {
			neverCreated.Store(e.Nonce, struct{}{})
		}
	}
}

func wasNeverCreated(e Entry) bool {
	if e.Nonce == "" {
		return false
	}
	_, ok := neverCreated.Load(e.Nonce)
	return ok
}
