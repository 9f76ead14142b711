// Package warmkeys keeps the step keys of the warm helpers this CLI started (kubectl
// chaos warm) in its state directory, so later fault commands can send those helpers
// step plans. A warm helper's plan carries only the key's SHA-256: whoever lacks the
// file (another user, another machine) cannot use the helper, and simply does not.
//
// One file per helper, mode 0600 in a 0700 directory, named by the cluster (API server
// URL and the kubeconfig's user@context) and the helper pod's UID: two CLIs warming at
// once never rewrite each other's entries.
package warmkeys

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Entry is one warm helper's key and what names it.
type Entry struct {
	Cluster   string    `json:"cluster"`
	UID       string    `json:"uid"`
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	Node      string    `json:"node"`
	Deadline  time.Time `json:"deadline"`
	Key       string    `json:"key"`
}

// Store is the key directory of one cluster. Dir "" stores nothing (no state dir).
type Store struct {
	Dir     string // the CLI's state directory
	Cluster string // server URL and user@context
}

func (s Store) dir() string { return filepath.Join(s.Dir, "warm-keys") }

func (s Store) path(uid string) string {
	sum := sha256.Sum256([]byte(s.Cluster))
	return filepath.Join(s.dir(), hex.EncodeToString(sum[:8])+"-"+strings.ReplaceAll(uid, "/", "_")+".json")
}

// Put writes e (its Cluster set to the store's), then removes entries past their
// deadline.
func (s Store) Put(e Entry) error {
	if s.Dir == "" {
		return errors.New("no state directory for the warm helpers' keys ($XDG_STATE_HOME or $HOME)")
	}
	if e.UID == "" || e.Key == "" {
		return errors.New("warm key: empty UID or key")
	}
	e.Cluster = s.Cluster
	if err := os.MkdirAll(s.dir(), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", s.dir(), err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir(), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the warm helper's key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(b)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path(e.UID))
	}
	if err != nil {
		return fmt.Errorf("writing the warm helper's key: %w", err)
	}
	s.Prune(time.Now())
	return nil
}

// Get returns the entry of the helper pod with uid, if this CLI holds its key for
// this cluster.
func (s Store) Get(uid string) (Entry, bool) {
	if s.Dir == "" || uid == "" {
		return Entry{}, false
	}
	b, err := os.ReadFile(s.path(uid))
	if err != nil {
		return Entry{}, false
	}
	var e Entry
	if json.Unmarshal(b, &e) != nil || e.Cluster != s.Cluster || e.UID != uid || e.Key == "" {
		return Entry{}, false
	}
	return e, true
}

// Delete forgets the helper pod's key (it was stopped).
func (s Store) Delete(uid string) {
	if s.Dir != "" && uid != "" {
		os.Remove(s.path(uid))
	}
}

// Prune removes every entry (of any cluster) past its deadline: the helper is gone.
func (s Store) Prune(now time.Time) {
	ents, _ := os.ReadDir(s.dir())
	for _, de := range ents {
		p := filepath.Join(s.dir(), de.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var e Entry
		if json.Unmarshal(b, &e) == nil && !e.Deadline.IsZero() && now.After(e.Deadline) {
			os.Remove(p)
		}
	}
}

// Matches says whether key is the one whose hex SHA-256 is stepKey (a helper's plan).
func Matches(key, stepKey string) bool {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) == stepKey
}
