package warmkeys

import (
	"os"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	a := Store{Dir: dir, Cluster: "https://a:6443 me@a"}
	b := Store{Dir: dir, Cluster: "https://b:6443 me@b"}
	e := Entry{UID: "uid-1", Namespace: "ns", Pod: "p", Node: "n", Deadline: time.Now().Add(time.Hour), Key: "k1"}
	if err := a.Put(e); err != nil {
		t.Fatal(err)
	}
	got, ok := a.Get("uid-1")
	if !ok || got.Key != "k1" || got.Cluster != a.Cluster {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	if _, ok := b.Get("uid-1"); ok {
		t.Fatal("another cluster's store found the key")
	}
	st, err := os.Stat(a.path("uid-1"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if st, err := os.Stat(a.dir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v, want 0700", st.Mode().Perm())
	}
	// An expired entry is pruned by the next Put.
	old := Entry{UID: "uid-old", Deadline: time.Now().Add(-time.Minute), Key: "k0"}
	if err := a.Put(old); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Get("uid-old"); ok {
		t.Fatal("an expired key survived Put's prune")
	}
	a.Delete("uid-1")
	if _, ok := a.Get("uid-1"); ok {
		t.Fatal("Delete kept the key")
	}
	if err := (Store{}).Put(e); err == nil {
		t.Fatal("Put without a state dir succeeded")
	}
	if !Matches("k", "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a") || Matches("k", "00") {
		t.Fatal("Matches")
	}
}
