package hostmount

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeDecode(t *testing.T) {
	ms := []Mount{
		{Name: "journal", HostPath: "/run/kubectl-chaos", Path: "/run/kubectl-chaos", Type: DirectoryOrCreate},
		{Name: "host-proc", HostPath: "/proc", Path: "/host/proc", Type: Directory, ReadOnly: true},
		{Name: "host-cgroup", HostPath: "/sys/fs/cgroup", Path: "/sys/fs/cgroup", Type: Directory, Recursive: true},
		{Name: "dev-fuse", HostPath: "/dev/fuse", Path: "/dev/fuse", Type: CharDevice},
	}
	s, err := Encode(ms)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ms, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if p := Paths(got); strings.Join(p, ",") != "/run/kubectl-chaos,/proc,/sys/fs/cgroup,/dev/fuse" {
		t.Errorf("Paths = %v", p)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{`, "KUBECTL_CHAOS_HOST_PATHS"},
		{`[{"name":"","hostPath":"/a","path":"/a","type":"Directory"}]`, "empty name"},
		{`[{"name":"a","hostPath":"a","path":"/a","type":"Directory"}]`, `host path "a"`},
		{`[{"name":"a","hostPath":"/a/../b","path":"/a","type":"Directory"}]`, `host path "/a/../b"`},
		{`[{"name":"a","hostPath":"/a","path":"/","type":"Directory"}]`, `path "/"`},
		{`[{"name":"a","hostPath":"/a","path":"/a","type":"Socket"}]`, `type "Socket" is not one of Directory, DirectoryOrCreate, CharDevice`},
		{`[{"name":"a","hostPath":"/a","path":"/a","type":"Directory"},{"name":"a","hostPath":"/b","path":"/b","type":"Directory"}]`, `"a" listed twice`},
		{`[{"name":"a","hostPath":"/a","path":"/x","type":"Directory"},{"name":"b","hostPath":"/b","path":"/x","type":"Directory"}]`, `already the target`},
	} {
		_, err := Decode(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%s) = %v, want an error with %q", c.in, err, c.want)
		}
	}
}
