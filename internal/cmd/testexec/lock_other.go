//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

func acquire(string) (func(), error) {
	return nil, errors.New("make test-unit's test runner is Linux-only")
}

func setNice(*exec.Cmd, int) {}
