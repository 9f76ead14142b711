package conntrack_test

import (
	"os"
	"os/exec"
	"strings"
)

func runNft(ns, script string) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var keep []*os.File

func openNs(p string) (int, error) {
	f, err := os.Open(p)
	if err != nil {
		return -1, err
	}
	keep = append(keep, f)
	return int(f.Fd()), nil
}
