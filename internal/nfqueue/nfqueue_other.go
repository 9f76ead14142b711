//go:build !linux

package nfqueue

import (
	"errors"
	"time"
)

// ErrUnsupported: nfqueue exists only on Linux.
var ErrUnsupported = errors.New("nfqueue: only supported on Linux")

// Queue is unavailable on this system.
type Queue struct{}

// Open fails on this system.
func Open(Config) (*Queue, error) { return nil, ErrUnsupported }

func (q *Queue) Num() uint16                      { return 0 }
func (q *Queue) SetReadDeadline(time.Time) error  { return ErrUnsupported }
func (q *Queue) Receive(func(*Packet)) error      { return ErrUnsupported }
func (q *Queue) Verdict(id, verdict uint32) error { return ErrUnsupported }
func (q *Queue) VerdictBatch(id, v uint32) error  { return ErrUnsupported }

// VerdictPayload needs Linux.
func (q *Queue) VerdictPayload(id, v uint32, payload []byte) error { return ErrUnsupported }
func (q *Queue) Close() error                                      { return nil }
func (q *Queue) Unbind() error                                     { return ErrUnsupported }
