package pod

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PauseImageOf picks the pause (sandbox) image from the images a node lists in its
// status: a tagged name whose last path element is "pause" (registry.k8s.io/pause:3.10,
// e2e.local/pause:1). The kubelet's and containerd's configuration is not visible
// through the API, but the sandbox image is on every node that runs pods, so it is
// listed there unless the node has over 50 larger images. With several pause tags the
// highest version wins. "" when there is none.
func PauseImageOf(node *corev1.Node) string {
	var cands []string
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if isPause(name) {
				cands = append(cands, name)
			}
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.SliceStable(cands, func(i, j int) bool { return newerTag(cands[i], cands[j]) })
	return cands[0]
}

// isPause reports whether name is a tagged (not digest) reference to a "pause" image.
func isPause(name string) bool {
	if strings.Contains(name, "@") {
		return false
	}
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return false // no tag
	}
	repo := name[:i]
	return repo == "pause" || strings.HasSuffix(repo, "/pause")
}

// newerTag orders pause references by tag version, highest first (3.10 > 3.9), then
// by name for a stable pick.
func newerTag(a, b string) bool {
	va, vb := tagVersion(a), tagVersion(b)
	for k := 0; k < max(len(va), len(vb)); k++ {
		var x, y int
		if k < len(va) {
			x = va[k]
		}
		if k < len(vb) {
			y = vb[k]
		}
		if x != y {
			return x > y
		}
	}
	return a < b
}

func tagVersion(name string) []int {
	tag := name[strings.LastIndex(name, ":")+1:]
	var out []int
	for _, f := range strings.FieldsFunc(tag, func(r rune) bool { return r == '.' || r == '-' }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	return out
}
