//go:build !linux

package nsutil

import (
	"errors"
	"os"
)

var errLinuxOnly = errors.New("network namespaces are supported on Linux only")

// Do is Linux-only.
func Do(nsPath string, fn func() error) error { return errLinuxOnly }

// OpenByInode is Linux-only.
func OpenByInode(ino uint64) (*os.File, error) { return nil, errLinuxOnly }

// FileInode is Linux-only.
func FileInode(f *os.File) (uint64, error) { return 0, errLinuxOnly }

// Inode is Linux-only.
func Inode(path string) (uint64, error) { return 0, errLinuxOnly }

// HostInode is Linux-only.
func HostInode(procRoot, kind string) (uint64, error) { return 0, errLinuxOnly }
