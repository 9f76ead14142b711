package iofault

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func ms(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }

func u32(v uint32) *uint32 { return &v }

func TestValidate(t *testing.T) {
	lat := &plan.IOLatency{Delay: ms(100)}
	ok := []plan.IO{
		{Path: "/data", Percent: 100, Latency: lat},
		{Path: "/var/lib/db", Percent: 0.5, Methods: []string{"read", "WRITE", " fsync"}, FileGlob: "*.db", Latency: &plan.IOLatency{Delay: ms(10), Jitter: ms(10)}},
		{Path: "/data", Percent: 30, Fault: &plan.IOFault{Errno: "enospc"}},
		{Path: "/data", Percent: 1, Mistake: &plan.IOMistake{MaxBytes: MaxMistakeBytes}, Methods: []string{"read"}},
		{Path: "/data", Attr: &plan.IOAttr{Perm: u32(0)}},
		{Path: "/data", Percent: 100, Attr: &plan.IOAttr{UID: u32(MaxID)}, FileGlob: "logs/*.log"},
	}
	for i, s := range ok {
		if err := Validate(&s); err != nil {
			t.Errorf("ok[%d] %s: %v", i, s.Summary(), err)
		}
	}
	bad := []struct {
		s    plan.IO
		want string
	}{
		{plan.IO{Percent: 100, Latency: lat}, "--path is required"},
		{plan.IO{Path: "data", Percent: 100, Latency: lat}, "--path must be absolute"},
		{plan.IO{Path: "/data/", Percent: 100, Latency: lat}, `did you mean "/data"`},
		{plan.IO{Path: "/data/../etc", Percent: 100, Latency: lat}, "clean path"},
		{plan.IO{Path: "/", Percent: 100, Latency: lat}, "whole file system"},
		{plan.IO{Path: "/proc/1", Percent: 100, Latency: lat}, "is under /proc"},
		{plan.IO{Path: "/dev", Percent: 100, Latency: lat}, "is under /dev"},
		{plan.IO{Path: "/data", Percent: 100}, "exactly one of latency, fault, mistake and attr"},
		{plan.IO{Path: "/data", Percent: 100, Latency: lat, Fault: &plan.IOFault{Errno: "EIO"}}, "exactly one"},
		{plan.IO{Path: "/data", Percent: 0, Latency: lat}, "--percent must be in (0, 100], got 0"},
		{plan.IO{Path: "/data", Percent: 100.5, Latency: lat}, "--percent must be in (0, 100]"},
		{plan.IO{Path: "/data", Percent: 100, Latency: &plan.IOLatency{}}, "--delay must be in (0, 1h0m0s]"},
		{plan.IO{Path: "/data", Percent: 100, Latency: &plan.IOLatency{Delay: plan.Duration(2 * time.Hour)}}, "--delay"},
		{plan.IO{Path: "/data", Percent: 100, Latency: &plan.IOLatency{Delay: ms(10), Jitter: ms(11)}}, "--jitter must be in [0, --delay 10ms]"},
		{plan.IO{Path: "/data", Percent: 100, Methods: []string{"chmod"}, Latency: lat}, `--methods: unknown method "chmod"`},
		{plan.IO{Path: "/data", Percent: 10, Fault: &plan.IOFault{Errno: "EFOO"}}, `--errno "EFOO" is not a known errno (accepted: E2BIG, EACCES`},
		{plan.IO{Path: "/data", Percent: 10, Fault: &plan.IOFault{}}, "--errno"},
		{plan.IO{Path: "/data", Percent: 10, Mistake: &plan.IOMistake{}}, "--max-bytes must be in [1, 65536], got 0"},
		{plan.IO{Path: "/data", Percent: 10, Methods: []string{"open"}, Mistake: &plan.IOMistake{MaxBytes: 1}}, "--methods for mistake must be read and/or write"},
		{plan.IO{Path: "/data", Percent: 10, FileGlob: "[a-", Latency: lat}, "--file-glob"},
		{plan.IO{Path: "/data", Attr: &plan.IOAttr{}}, "give at least one of --perm, --size, --mtime, --uid, --gid"},
		{plan.IO{Path: "/data", Attr: &plan.IOAttr{Perm: u32(0o10000)}}, "--perm must be an octal mode in [0, 7777]"},
		{plan.IO{Path: "/data", Attr: &plan.IOAttr{GID: u32(1<<32 - 1)}}, "--gid must be in [0, 4294967294]"},
		{plan.IO{Path: "/data", Methods: []string{"read"}, Attr: &plan.IOAttr{Perm: u32(0)}}, "io attr takes no --methods"},
		{plan.IO{Path: "/data", Percent: 50, Attr: &plan.IOAttr{Perm: u32(0)}}, "io attr takes no --percent"},
	}
	for _, c := range bad {
		err := Validate(&c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.s.Summary(), err, c.want)
		}
	}
	if err := Validate(nil); err == nil {
		t.Error("nil spec accepted")
	}
}

func TestParseMethods(t *testing.T) {
	all, _ := ParseMethods(nil, false)
	for m := Method(0); m < numMethods; m++ {
		if !all.Has(m) {
			t.Errorf("the default set misses %s", m)
		}
	}
	mis, _ := ParseMethods(nil, true)
	if !mis.Has(MRead) || !mis.Has(MWrite) || mis.Has(MOpen) {
		t.Errorf("mistake default = %b, want read and write", mis)
	}
	s, err := ParseMethods([]string{"open", "fsync"}, false)
	if err != nil || !s.Has(MOpen) || !s.Has(MFsync) || s.Has(MRead) {
		t.Errorf("open,fsync = %b %v", s, err)
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		glob, rel string
		want      bool
	}{
		{"", "", true},
		{"", "a/b.db", true},
		{"*.db", "b.db", true},
		{"*.db", "sub/dir/b.db", true},
		{"*.db", "b.db-wal", false},
		{"*.db", "", false},
		{"sub/*.db", "sub/b.db", true},
		{"sub/*.db", "other/b.db", false},
		{"/sub/*", "sub/x", true},
		{"wal-?", "wal-1", true},
	}
	for _, c := range cases {
		if got := Match(c.glob, c.rel); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.glob, c.rel, got, c.want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	text := `22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l
30 22 0:40 / /data rw,relatime shared:7 - tmpfs tmpfs rw
31 22 0:41 / /my\040dir rw master:3 - tmpfs none rw
40 30 0:55 / /data rw,nosuid,nodev - fuse.kubectl-chaos kubectl-chaos-io-x-1 rw,user_id=0
`
	ms, err := parseMountinfo([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 || ms[2].Point != "/my dir" || ms[1].shared() != "7" || ms[2].shared() != "" {
		t.Fatalf("parsed %+v", ms)
	}
	if m := mountOf(ms, "/data/x/y"); m == nil || m.ID != 40 {
		t.Errorf("mountOf /data/x/y = %+v, want the fuse mount on top (40)", m)
	}
	if m := mountOf(ms, "/datax"); m == nil || m.ID != 22 {
		t.Errorf("mountOf /datax = %+v, want the root (22)", m)
	}
	if m := ownMount(ms, "/data", "kubectl-chaos-io-x-1"); m == nil || m.ID != 40 {
		t.Errorf("ownMount = %+v", m)
	}
	if m := ownMount(ms, "/data", "kubectl-chaos-io-other"); m != nil {
		t.Errorf("another source matched: %+v", m)
	}
	if err := checkMount(ms[:3], "/data", "/data"); err == nil || !strings.Contains(err.Error(), "shared propagation (peer group 7)") {
		t.Errorf("shared parent: %v", err)
	}
	if err := checkMount(ms, "/data", "/data"); err == nil || !strings.Contains(err.Error(), "already covered") {
		t.Errorf("covered: %v", err)
	}
	if err := checkMount(ms, "/my dir/sub", "/my dir/sub"); err != nil {
		t.Errorf("a slave mount refused: %v", err)
	}
	if _, err := parseMountinfo([]byte("garbage\n")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestParseFdinfo(t *testing.T) {
	fi, err := parseFdinfo([]byte("pos:\t4096\nflags:\t02102001\nmnt_id:\t40\nino:\t12\nlock:\t1: FLOCK  ADVISORY  WRITE 42 00:2a:12 0 EOF\n"))
	if err != nil || fi.pos != 4096 || fi.flags != 0o2102001 || fi.mnt != 40 || fi.locks != 1 {
		t.Errorf("parsed %+v %v", fi, err)
	}
	if _, err := parseFdinfo([]byte("pos:\tx\nflags:\t0\nmnt_id:\t1\n")); err == nil {
		t.Error("bad pos parsed")
	}
	if _, err := parseFdinfo([]byte("ino: 1\n")); err == nil {
		t.Error("fdinfo without pos/flags/mnt_id parsed")
	}
}

func TestDescribeAndCatalog(t *testing.T) {
	s := &plan.IO{Path: "/data", Percent: 10, Methods: []string{"read"}, FileGlob: "*.db", Fault: &plan.IOFault{Errno: "EIO"}}
	objs := Describe(s)
	if len(objs) != 2 || objs[0].Kind != ObjMount || objs[1].Kind != ObjMoved {
		t.Fatalf("Describe = %+v", objs)
	}
	for _, want := range []string{FSType, "over /data", "fault EIO on /data (read; *.db; 10%)"} {
		if !strings.Contains(objs[0].Spec, want) {
			t.Errorf("mount object %q does not say %q", objs[0].Spec, want)
		}
	}
	if !strings.Contains(objs[0].Remove, "umount /data (MNT_DETACH when busy)") || !strings.Contains(objs[1].Remove, "moved back") {
		t.Errorf("removal texts: %q / %q", objs[0].Remove, objs[1].Remove)
	}
	e, err := catalog.Lookup(plan.KindIO)
	if err != nil {
		t.Fatal(err)
	}
	hm := e.HostMounts()
	if len(hm) != 1 || hm[0].Path != "/dev/fuse" || hm[0].Type != "CharDevice" {
		t.Errorf("host mounts %+v, want /dev/fuse as a char device", hm)
	}
	if err := e.Validate(plan.Fault{Kind: plan.KindIO, IO: &plan.IO{Path: "rel"}}); err == nil {
		t.Error("catalog validation accepted a relative path")
	}
}
