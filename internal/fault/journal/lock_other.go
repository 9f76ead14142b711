//go:build !unix

package journal

import (
	"errors"
	"os"
)

// flock: the agent runs on Linux only; elsewhere the journal cannot be locked.
func flock(f *os.File) (bool, error) {
	return false, errors.New("journal locking is supported on Linux only")
}
