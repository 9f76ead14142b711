//go:build !linux

package nsutil

import "errors"

var errLinuxOnly = errors.New("network namespaces are supported on Linux only")

// Do is Linux-only.
func Do(nsPath string, fn func() error) error { return errLinuxOnly }

// FindByInode is Linux-only.
func FindByInode(procRoot string, inode uint64) (string, bool) { return "", false }

// Inode is Linux-only.
func Inode(path string) (uint64, error) { return 0, errLinuxOnly }
