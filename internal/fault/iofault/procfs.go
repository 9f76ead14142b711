package iofault

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// mountInfo is one line of /proc/<pid>/mountinfo.
type mountInfo struct {
	ID, Parent int
	Dev        string // major:minor
	Root       string
	Point      string // as the process sees it
	Optional   []string
	FSType     string
	Source     string
}

// shared returns the peer group of a mount with shared propagation ("" if it has none).
func (m *mountInfo) shared() string {
	for _, o := range m.Optional {
		if g, ok := strings.CutPrefix(o, "shared:"); ok {
			return g
		}
	}
	return ""
}

// parseMountinfo parses the text of /proc/<pid>/mountinfo (proc(5)).
func parseMountinfo(b []byte) ([]mountInfo, error) {
	var out []mountInfo
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo: malformed ids in %q", line)
		}
		out = append(out, mountInfo{
			ID: id, Parent: parent, Dev: f[2], Root: unescapeMount(f[3]), Point: unescapeMount(f[4]),
			Optional: f[6:], FSType: g[0], Source: unescapeMount(g[1]),
		})
	}
	return out, sc.Err()
}

// unescapeMount undoes the octal escapes (\040 for a space, …) of mountinfo fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under reports whether p is point or below it.
func under(p, point string) bool {
	return p == point || point == "/" || strings.HasPrefix(p, point+"/")
}

// mountOf returns the mount that holds p for the process: the one with the longest
// mount point above p, and of several on that point the top of the stack. nil if none.
func mountOf(ms []mountInfo, p string) *mountInfo {
	var best *mountInfo
	for i := range ms {
		m := &ms[i]
		if !under(p, m.Point) {
			continue
		}
		switch {
		case best == nil || len(m.Point) > len(best.Point):
			best = m
		case m.Point == best.Point && m.Parent == best.ID:
			best = m // mounted on top of best
		}
	}
	return best
}

// ownMount returns our mount on p: the file system type and the source we mounted with.
func ownMount(ms []mountInfo, p, source string) *mountInfo {
	for i := range ms {
		if ms[i].Point == p && ms[i].FSType == FSType && ms[i].Source == source {
			return &ms[i]
		}
	}
	return nil
}

// fdInfo is what /proc/<pid>/fdinfo/<fd> says about a descriptor.
type fdInfo struct {
	pos   int64
	flags int // open flags, O_CLOEXEC included when the descriptor has it
	mnt   int // mount id of the file
	locks int // lines naming a lock taken through this open file
}

// parseFdinfo parses /proc/<pid>/fdinfo/<fd> (proc(5)): pos, flags (octal), mnt_id, lock lines.
func parseFdinfo(b []byte) (fdInfo, error) {
	var fi fdInfo
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		var err error
		switch k {
		case "pos":
			fi.pos, err = strconv.ParseInt(v, 10, 64)
			seen++
		case "flags":
			var f uint64
			f, err = strconv.ParseUint(v, 8, 32)
			fi.flags = int(f)
			seen++
		case "mnt_id":
			fi.mnt, err = strconv.Atoi(v)
			seen++
		case "lock":
			fi.locks++
		}
		if err != nil {
			return fi, fmt.Errorf("fdinfo: bad %s %q", k, v)
		}
	}
	if seen < 3 {
		return fi, fmt.Errorf("fdinfo: no pos, flags and mnt_id in %q", b)
	}
	return fi, nil
}
