package container

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

const (
	// This machine: hybrid, cpu and cpuacct on separate v1 hierarchies.
	mountinfoHybrid = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`
	// A helper pod on a cgroup v2 node: runc's cgroup2 mount of the helper's own
	// namespace, then the node's /sys/fs/cgroup mounted over it (hostPath).
	mountinfoHelperV2 = `700 600 0:30 /kubepods/besteffort/podh/helper /sys/fs/cgroup rw,nosuid - cgroup2 cgroup rw,nsdelegate
701 600 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`
	// A kind-like node whose cgroup mounts are rooted below the host's root.
	mountinfoNested = `50 40 0:40 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
51 40 0:41 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
`
)

func TestResolveCgroups(t *testing.T) {
	id := strings.Repeat("ab", 32)
	tests := []struct {
		name      string
		mountinfo string
		cgroup    string
		want      []fault.Cgroup
	}{
		{"v1 hybrid", mountinfoHybrid,
			"9:name=systemd:/kubepods/pod1/" + id + "\n4:memory:/kubepods/pod1/" + id + "\n2:cpuacct:/kubepods/pod1/" + id + "\n1:cpu:/kubepods/pod1/" + id + "\n0::/kubepods/pod1/" + id + "\n",
			[]fault.Cgroup{
				{Controllers: "name=systemd", Path: "/kubepods/pod1/" + id, Dir: "/sys/fs/cgroup/systemd/kubepods/pod1/" + id},
				{Controllers: "memory", Path: "/kubepods/pod1/" + id, Dir: "/sys/fs/cgroup/memory/kubepods/pod1/" + id},
				{Controllers: "cpuacct", Path: "/kubepods/pod1/" + id, Dir: "/sys/fs/cgroup/cpuacct/kubepods/pod1/" + id},
				{Controllers: "cpu", Path: "/kubepods/pod1/" + id, Dir: "/sys/fs/cgroup/cpu/kubepods/pod1/" + id},
				{Controllers: "", Path: "/kubepods/pod1/" + id, Dir: "/sys/fs/cgroup/unified/kubepods/pod1/" + id},
			}},
		{"v2 helper over its own namespace", mountinfoHelperV2,
			"0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope\n",
			[]fault.Cgroup{{Path: "/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope",
				Dir: "/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope"}}},
		{"nested roots", mountinfoNested,
			"5:memory:/docker/abc/kubepods/" + id + "\n3:cpu,cpuacct:/docker/abc/kubepods/" + id + "\n2:pids:/docker/abc\n",
			[]fault.Cgroup{
				{Controllers: "memory", Path: "/docker/abc/kubepods/" + id, Dir: "/sys/fs/cgroup/memory/kubepods/" + id},
				{Controllers: "cpu,cpuacct", Path: "/docker/abc/kubepods/" + id, Dir: "/sys/fs/cgroup/cpu,cpuacct/kubepods/" + id},
				{Controllers: "pids", Path: "/docker/abc"}, // no pids mount: unreachable, no Dir
			}},
		{"outside the mount's root", mountinfoNested, "5:memory:/other\n",
			[]fault.Cgroup{{Controllers: "memory", Path: "/other"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveCgroups(ParseProcCgroup([]byte(tt.cgroup)), parseCgroupMounts([]byte(tt.mountinfo)))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("cgroups (-want +got):\n%s", d)
			}
		})
	}
}

// In a cgroup namespace of its own, another container's path reads "/../…": refused,
// never joined onto the wrong mount.
func TestResolveCgroupsOutsideNamespace(t *testing.T) {
	_, err := resolveCgroups(ParseProcCgroup([]byte("0::/../../kubepods/x\n")), parseCgroupMounts([]byte(mountinfoHelperV2)))
	if err == nil || !strings.Contains(err.Error(), "outside this agent's cgroup namespace") {
		t.Fatalf("err = %v, want a refusal naming the cgroup namespace", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	m := parseCgroupMounts([]byte(`1 0 0:1 / /sys/fs/cgroup/a\040b rw - cgroup2 cgroup2 rw` + "\n"))
	if len(m) != 1 || m[0].point != "/sys/fs/cgroup/a b" {
		t.Fatalf("mounts = %+v", m)
	}
}

// On this machine: our own cgroups resolve to directories that hold our PID.
func TestCgroupsOfSelf(t *testing.T) {
	var cgs []fault.Cgroup
	err := OnHostCgroupNS("/proc", func() error {
		var err error
		cgs, err = Cgroups("/proc", os.Getpid())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cgs) == 0 {
		t.Fatal("no cgroups")
	}
	pid := strconv.Itoa(os.Getpid())
	for _, c := range cgs {
		if c.Dir == "" {
			t.Logf("%s: %s not reachable through a mount here", HierarchyName(c), c.Path)
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
		if err != nil {
			t.Errorf("%s: %v", HierarchyName(c), err)
			continue
		}
		if !strings.Contains("\n"+string(b), "\n"+pid+"\n") {
			t.Errorf("%s: %s does not list our pid %s", HierarchyName(c), c.Dir, pid)
		}
	}
	t.Logf("%d hierarchies on %s/%s", len(cgs), runtime.GOOS, runtime.GOARCH)
}
