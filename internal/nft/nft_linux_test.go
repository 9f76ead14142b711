package nft

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNetns creates an anonymous network namespace for the test; it vanishes when the
// last handle closes. The creating thread is switched back before it is unlocked.
func newNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		panic("cannot switch the test thread back: " + err.Error())
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func findTable(t *testing.T, c *Conn, name string) *TableInfo {
	t.Helper()
	ts, err := c.Tables(unix.NFPROTO_UNSPEC)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range ts {
		if ti.Name == name {
			return &ti
		}
	}
	return nil
}

func TestOwnedTableVanishesWithSocket(t *testing.T) {
	ns := newNetns(t)
	owner, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	observer, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()

	tbl := Table{Family: FamilyINet, Name: TableName("test-owned"), Owner: true}
	ch := Chain{Table: tbl, Name: "pre", Hook: &Hook{Hooknum: HookPrerouting, Priority: -150}}
	var b Batch
	b.AddTable(tbl)
	b.AddChain(ch)
	b.AddRule(ch, append(append([]expr.Any{Counter()}, Random(10)...), Drop()))
	if err := owner.Send(&b); err != nil {
		t.Fatalf("create owned table: %v", err)
	}
	ti := findTable(t, observer, tbl.Name)
	if ti == nil {
		t.Fatalf("table %s not listed after create", tbl.Name)
	}
	if ti.Flags&TableFlagOwner == 0 || ti.Owner != owner.PortID() {
		t.Fatalf("table flags %#x owner %d, want owner flag and port %d", ti.Flags, ti.Owner, owner.PortID())
	}
	// Another socket cannot delete an owned table.
	if err := observer.DeleteTable(tbl); !errors.Is(err, unix.EPERM) {
		t.Fatalf("delete from a foreign socket: %v, want EPERM", err)
	}
	// Creating it again fails (NLM_F_EXCL): we never adopt a table.
	var again Batch
	again.AddTable(Table{Family: FamilyINet, Name: tbl.Name})
	if err := owner.Send(&again); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("second create: %v, want EEXIST", err)
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if ti := findTable(t, observer, tbl.Name); ti != nil {
		t.Fatalf("owned table still there after its socket closed: %+v", ti)
	}
	// Idempotent delete of a missing table.
	if err := observer.DeleteTable(tbl); err != nil {
		t.Fatalf("delete missing table: %v", err)
	}
}

func TestDeleteTableExplicit(t *testing.T) {
	ns := newNetns(t)
	c, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl := Table{Family: FamilyNetdev, Name: TableName("x"), Owner: true}
	var b Batch
	b.AddTable(tbl)
	if err := c.Send(&b); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTable(tbl); err != nil {
		t.Fatal(err)
	}
	if findTable(t, c, tbl.Name) != nil {
		t.Fatal("table still listed after DeleteTable")
	}
	if err := c.DeleteTable(Table{Family: FamilyINet, Name: "filter"}); err == nil {
		t.Fatal("DeleteTable accepted a table without our prefix")
	}
}

func TestSelectorRulesLoad(t *testing.T) {
	ns := newNetns(t)
	c, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, fam := range []byte{FamilyINet, FamilyNetdev} {
		for _, dir := range []Direction{Egress, Ingress} {
			tbl := Table{Family: fam, Name: TableName("sel"), Owner: true}
			var b Batch
			b.AddTable(tbl)
			ch := Chain{Table: tbl, Name: "c"} // regular chain: no device needed
			b.AddChain(ch)
			s := Selector{Family: fam, Direction: dir, Remote: []string{"10.1.0.0/16", "fd00::/64", "192.0.2.1/32"},
				Ports: []uint16{80, 53}, SkipLoopback: true}
			for _, proto := range []string{"", "tcp", "udp"} {
				s.Protocol = proto
				alts, err := s.Rules()
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range alts {
					b.AddRule(ch, append(a, Drop()))
				}
			}
			icmp := Selector{Family: fam, Direction: dir, Protocol: "icmp", Interfaces: []string{"eth0"}}
			alts, err := icmp.Rules()
			if err != nil {
				t.Fatal(err)
			}
			if len(alts) != 2 {
				t.Fatalf("icmp without CIDR: %d alternatives, want 2 (v4, v6)", len(alts))
			}
			for _, a := range alts {
				b.AddRule(ch, append(a, Drop()))
			}
			if err := c.Send(&b); err != nil {
				t.Fatalf("family %s %s: kernel refused selector rules: %v", FamilyName(fam), dir, err)
			}
			if err := c.DeleteTable(tbl); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSelectorRuleCount(t *testing.T) {
	cases := []struct {
		s    Selector
		want int
	}{
		{Selector{}, 1},
		{Selector{Remote: []string{"10.0.0.0/8"}}, 1},
		{Selector{Remote: []string{"10.0.0.0/8", "fd00::/8"}, Ports: []uint16{80}}, 2 * 2 * 2}, // cidr × proto × side
		{Selector{Ports: []uint16{80, 443}, Protocol: "tcp"}, 4},
		{Selector{Family: FamilyINet, Interfaces: []string{"a", "b"}, Protocol: "udp"}, 2},
		{Selector{Remote: []string{"fd00::/8"}, Protocol: "icmp"}, 1},
	}
	for _, c := range cases {
		got, err := c.s.Rules()
		if err != nil {
			t.Fatalf("%+v: %v", c.s, err)
		}
		if len(got) != c.want {
			t.Errorf("%+v: %d alternatives, want %d", c.s, len(got), c.want)
		}
	}
	for _, bad := range []Selector{{Remote: []string{"10.0.0.1"}}, {Protocol: "sctp"}, {Protocol: "icmp", Ports: []uint16{1}}} {
		if _, err := bad.Rules(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

func TestRandomEncoding(t *testing.T) {
	e := Random(12.5)
	cmp := e[2].(*expr.Cmp)
	if cmp.Op != expr.CmpOpLt || bigEndian.Uint32(cmp.Data) != 1250 {
		t.Fatalf("cmp %+v, want lt 1250 (big endian)", cmp)
	}
	if bo := e[1].(*expr.Byteorder); bo.Op != expr.ByteorderHton || bo.Size != 4 {
		t.Fatalf("byteorder %+v, want hton size 4", bo)
	}
}

func TestQueueVerdictOneWorks(t *testing.T) {
	ns := newNetns(t)
	c, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var worked []string
	for i, v := range QueueVerdicts(7, 1, QueueBypass) {
		tbl := Table{Family: FamilyINet, Name: TableName("q"), Owner: true}
		ch := Chain{Table: tbl, Name: "in", Hook: &Hook{Hooknum: HookInput}}
		var b Batch
		b.AddTable(tbl)
		b.AddChain(ch)
		b.AddRule(ch, []expr.Any{v})
		err := c.Send(&b)
		t.Logf("queue verdict %d (%T): %v", i, v, err)
		if err == nil {
			worked = append(worked, "ok")
			if err := c.DeleteTable(tbl); err != nil {
				t.Fatal(err)
			}
		} else if findTable(t, c, tbl.Name) != nil {
			t.Fatal("failed batch left its table behind (transaction not atomic?)")
		}
	}
	if len(worked) == 0 {
		t.Fatal("neither the native queue expression nor the NFQUEUE compat target was accepted")
	}
}

// TestExperimentTableName: two experiments on one target, and one experiment on two
// targets, get distinct names; names keep our prefix, stay short and are stable.
func TestExperimentTableName(t *testing.T) {
	long := "chaos-abcdefghijklmnopqrstuvwxyz0123456789"
	names := map[string]string{}
	for _, c := range []struct{ kind, exp, target string }{
		{"", "chaos-aaaaaaaa", "ns_web_c/4026532000"},
		{"", "chaos-bbbbbbbb", "ns_web_c/4026532000"},
		{"", "chaos-aaaaaaaa", "ns_db_c/4026532001"},
		{"delay", "chaos-aaaaaaaa", "ns_web_c/4026532000"},
		{"delay", "chaos-bbbbbbbb", "ns_web_c/4026532000"},
		{"", long + "1", "t"},
		{"", long + "2", "t"}, // same first 24 bytes: the hash tells them apart
		{"verylongkindname", "", "t"},
	} {
		n := ExperimentTableName(c.kind, c.exp, c.target)
		if len(n) > 64 || len(n) <= len(Prefix) || n[:len(Prefix)] != Prefix {
			t.Errorf("%+v: name %q (len %d): want prefix %s and at most 64 bytes", c, n, len(n), Prefix)
		}
		key := c.kind + "|" + c.exp + "|" + c.target
		if prev, dup := names[n]; dup {
			t.Errorf("%q and %q both named %q", prev, key, n)
		}
		names[n] = key
		if again := ExperimentTableName(c.kind, c.exp, c.target); again != n {
			t.Errorf("%+v: not stable: %q then %q", c, n, again)
		}
	}
}

// TestOwnedTableOfAnotherSocketIsRefused: what a second experiment would have hit with a
// shared name. Creating a table that another socket owns fails (the kernel answers
// EPERM here, measured; EEXIST for an unowned one), the owner's table is untouched, and deleting it
// through the other socket is refused with EPERM: a create that failed this way must
// never be "recovered" by deleting the name.
func TestOwnedTableOfAnotherSocketIsRefused(t *testing.T) {
	ns := newNetns(t)
	first, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := Dial(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	tbl := Table{Family: FamilyNetdev, Name: TableName("shared"), Owner: true}
	var b Batch
	b.AddTable(tbl)
	if err := first.Send(&b); err != nil {
		t.Fatal(err)
	}
	var b2 Batch
	b2.AddTable(tbl)
	err = second.Send(&b2)
	if err == nil {
		t.Fatal("a second socket created a table another socket owns")
	}
	if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EPERM) {
		t.Errorf("second create: %v, want EEXIST or EPERM", err)
	}
	t.Logf("second create of an owned table: %v", err)
	if err := second.DeleteTable(tbl); !errors.Is(err, unix.EPERM) {
		t.Errorf("delete through a foreign socket: %v, want EPERM", err)
	}
	ti := findTable(t, first, tbl.Name)
	if ti == nil || ti.Owner != first.PortID() {
		t.Fatalf("the owner's table changed: %+v (owner port %d)", ti, first.PortID())
	}
	if err := first.DeleteTable(tbl); err != nil {
		t.Fatal(err)
	}
}
